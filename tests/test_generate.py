"""Generation: muxed mp4s (a video and an audio stream of the right duration), the metrics' copy of a rendered
clip and its failure modes, and the photo CLI's errors and output (with a real, untrained generator checkpoint)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import soundfile
import torch
from skimage import data

from autalk.cli import main
from autalk.errors import DataError
from autalk.generate.clips import load_generated, save_generated
from autalk.generate.video import probe, side_by_side, write_mp4
from photo_fixtures import SR, UNITS, tone, write_untrained_checkpoint


def test_mp4_has_h264_video_and_aac_audio_of_the_clip_duration(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (40, 64, 64, 3), dtype=np.uint8)
    path = tmp_path / "clip.mp4"
    write_mp4(frames, tone(2.0), SR, 25, path)              # audio longer than the video: cut to 1.6 s
    info = probe(path)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert (info.width, info.height, info.fps) == (64, 64, 25.0)
    assert info.duration_s == pytest.approx(40 / 25, abs=0.05)
    sbs = side_by_side(frames[:10], frames[:10])
    assert sbs.shape == (10, 64, 130, 3)
    write_mp4(sbs, tone(0.1), SR, 25, tmp_path / "sbs.mp4")   # short audio is padded to the video
    assert probe(tmp_path / "sbs.mp4").duration_s == pytest.approx(0.4, abs=0.05)
    assert not list(tmp_path.glob(".*"))                      # no temporary files left behind


def test_rendered_clip_round_trip_and_failures_name_the_clip(tmp_path):
    frames = np.zeros((5, 8, 8, 3), np.uint8)
    save_generated(tmp_path, "s1_abc", frames, au_predicted=np.ones((5, 2)))
    assert load_generated(tmp_path, "s1_abc", frames.shape)["au_predicted"].shape == (5, 2)
    with pytest.raises(DataError, match="s1_xyz is missing"):
        load_generated(tmp_path, "s1_xyz", frames.shape)
    with pytest.raises(DataError, match="s1_abc .*expected"):
        load_generated(tmp_path, "s1_abc", (6, 8, 8, 3))
    save_generated(tmp_path, "s1_def", frames)
    (tmp_path / "s1_def.npz").replace(tmp_path / "s1_ghi.npz")          # a file renamed: its name lies
    with pytest.raises(DataError, match="s1_ghi.npz holds clip 's1_def', not 's1_ghi'"):
        load_generated(tmp_path, "s1_ghi", frames.shape)
    data_bytes = (tmp_path / "s1_abc.npz").read_bytes()
    (tmp_path / "s1_abc.npz").write_bytes(data_bytes[: len(data_bytes) // 2])
    with pytest.raises(DataError, match="s1_abc is corrupt"):
        load_generated(tmp_path, "s1_abc", frames.shape)
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(DataError, match="bad.mp4"):
        probe(tmp_path / "bad.mp4")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained generator with predicted AUs, saved exactly as training saves one."""
    return write_untrained_checkpoint(tmp_path_factory.mktemp("ckpt") / "generator.pt")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    face = root / "face.jpg"
    cv2.imwrite(str(face), cv2.cvtColor(data.astronaut()[:300, 100:400], cv2.COLOR_RGB2BGR))
    speech = root / "speech.wav"
    soundfile.write(str(speech), tone(1.2, 22050), 22050)     # not the model's rate: resampled
    return root, face, speech


def run_cli(*args: str) -> int:
    return main([*map(str, args)])


def test_photo_cli_writes_video_and_au_track(checkpoint, inputs, tmp_path, capsys):
    _, face, speech = inputs
    out, aus = tmp_path / "out.mp4", tmp_path / "aus.csv"
    assert run_cli("generate", "--checkpoint", checkpoint, "--image", face, "--audio", speech, "-o", out,
                   "--au-scale", "1.5", "--save-aus", aus, "--device", "cpu") == 0
    assert re.search(r"30 frames in [\d.]+ s = [\d.]+ frames/s \([\d.]+x real time; [\d.]+ CPU-seconds since the start",
                     capsys.readouterr().out)
    info = probe(out)
    assert (info.video_codec, info.audio_codec, info.width, info.height) == ("h264", "aac", 300, 300)   # the photo's
    assert info.duration_s == pytest.approx(1.2, abs=0.05)
    track = pd.read_csv(aus)
    assert list(track.columns) == ["frame", "time_s"] + [f"{u}_r" for u in UNITS] and len(track) == 30


def test_photo_cli_picks_the_largest_of_several_faces(checkpoint, inputs, tmp_path, capsys):
    root, _, speech = inputs
    head = data.astronaut()[0:260, 120:380]
    group = np.full((400, 700, 3), 200, np.uint8)
    group[50:310, 20:280] = head
    group[100:300, 400:600] = cv2.resize(head[:, ::-1], (200, 200))
    photo = tmp_path / "group.png"
    cv2.imwrite(str(photo), cv2.cvtColor(group, cv2.COLOR_RGB2BGR))
    assert run_cli("generate", "--checkpoint", checkpoint, "--image", photo, "--audio", speech,
                   "-o", tmp_path / "out.mp4", "--device", "cpu") == 0
    err = capsys.readouterr().err                            # the CLI logs to stderr
    assert "WARNING" in err and "2 faces" in err and "largest" in err


@pytest.mark.parametrize("case, message", [
    ("no_face", "no face found in image"),
    ("tiny_face", "tiny.png is too small (about"),
    ("unreadable_image", "is unreadable"),
    ("missing_image", "does not exist"),
    ("unreadable_audio", "unreadable"),
    ("short_audio", "at least 0.5 s"),
])
def test_photo_cli_errors_are_clear(checkpoint, inputs, tmp_path, capsys, case, message):
    _, face, speech = inputs
    image, audio = face, speech
    if case == "no_face":
        image = tmp_path / "wall.png"
        cv2.imwrite(str(image), np.tile(np.linspace(0, 255, 300, dtype=np.uint8), (300, 1)))
    elif case == "tiny_face":                                  # a face of about 25 px
        image = tmp_path / "tiny.png"
        canvas = np.full((300, 300, 3), 200, np.uint8)
        canvas[100:190, 100:190] = cv2.resize(data.astronaut()[:300, 100:400], (90, 90))
        cv2.imwrite(str(image), canvas)
    elif case == "unreadable_image":
        image = tmp_path / "face.jpg"
        image.write_text("this is not a picture")
    elif case == "missing_image":
        image = tmp_path / "nowhere.jpg"
    elif case == "unreadable_audio":
        audio = tmp_path / "speech.wav"
        audio.write_bytes(b"RIFF0000WAVEgarbage")
    elif case == "short_audio":
        audio = tmp_path / "short.wav"
        soundfile.write(str(audio), tone(0.2), SR)
    out = tmp_path / "out.mp4"
    assert run_cli("generate", "--checkpoint", checkpoint, "--image", image, "--audio", audio, "-o", out) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert str(image.name if "image" in case or "face" in case else audio.name) in err
    assert not out.exists()


# ----------------------------------------------------------------------------------------- end to end (tiny demo)
@pytest.fixture(scope="module")
def evaluated(tiny_workspace):
    tiny_workspace.build("results/demo_metrics.csv", "results/demo_paper_tables.md",
                         "results/demo/evaluation/au_trajectories.png")
    return tiny_workspace


@pytest.mark.slow
def test_workflow_ends_in_metric_tables_with_reference_rows(evaluated):
    table = pd.read_csv(evaluated.path("results/demo_metrics.csv"))
    assert table["system"].tolist() == ["full", "no_au", "static", "real"]
    qc = pd.read_parquet(evaluated.path("resources/demo/qc.parquet"))
    test_clips = sorted(qc.utt_id[(qc.status == "kept") & (qc.speaker == "d4")])    # the test speaker
    assert test_clips and (table["n_clips"] == len(test_clips)).all()
    real = table.set_index("system").loc["real"]
    assert real["psnr"] == np.inf and real["ssim"] == pytest.approx(1.0) and real["lmd_all"] == 0.0
    static = table.set_index("system").loc["static"]
    assert static["psnr_identical_frames"] == static["n_clips"]          # only the identity frame is exact
    ablation = pd.read_csv(evaluated.path("results/demo_ablation.csv"))
    assert set(ablation["system"]) == {"no_au", "static", "real"}
    paper = evaluated.path("results/demo_paper_tables.md").read_text()
    assert "from their papers" in paper and "| full |" in paper
    # the protocol: frames 4..19 (clip_start 4, clip_length 16 in tests/tiny_demo.yaml), identity frame 4
    assert "frames scored: video frames 4..19 of each test clip" in paper and "video frame 4 of the clip" in paper
    assert "AU labels: backend `landmarks`" in paper and "template `autalk`" in paper
    assert (table["au_backend"] == "landmarks").all() and real["au_f1_judge"] > 0
    assert (table["au_judge"] == "landmarks").all() and "| AU F1 (landmark judge) |" in paper
    assert "AU F1 judges: the frozen AU classifier and the landmark judge" in paper and "OpenFace judge" not in paper
    all_frames = pd.read_csv(evaluated.path("results/demo_metrics_all_frames.csv")).set_index("system")
    assert all_frames.index.tolist() == table["system"].tolist()
    assert all_frames.loc["static", "psnr_identical_frames"] == static["n_clips"]
    for system in ("full", "static", "real"):
        videos = sorted(evaluated.path(f"results/demo/generated/{system}").glob("*.mp4"))
        assert [v.stem for v in videos] == test_clips, system
        for video in videos:
            info = probe(video)
            frames = np.load(video.with_suffix(".npz"))["frames"]
            assert (info.video_codec, info.audio_codec) == ("h264", "aac")
            assert info.duration_s == pytest.approx(len(frames) / 25, abs=0.05)
    assert len(list(evaluated.path("results/demo/samples/full").glob("*.mp4"))) == 1   # evaluation.side_by_side


@pytest.mark.slow
def test_evaluation_fails_naming_a_missing_or_corrupt_clip(evaluated, tmp_path):
    import shutil

    broken = tmp_path / "full"
    shutil.copytree(evaluated.path("results/demo/generated/full"), broken)
    victim = sorted(broken.glob("*.npz"))[0]
    victim.write_bytes(victim.read_bytes()[:100])
    args = ["evaluate", "--config", evaluated.path("config.yaml"), "--dataset", "demo", "--system", "full",
            "--generated", broken, "--labels", evaluated.path("resources/demo/au_labels.parquet"),
            "--qc", evaluated.path("resources/demo/qc.parquet"), "--clips-root", evaluated.path("resources/demo/clips"),
            "--au-classifier", evaluated.path("resources/demo/models/au_classifier.pt"),
            "--sync-expert", evaluated.path("resources/demo/models/sync_expert.pt"), "--output", tmp_path / "m.csv"]
    assert run_cli(*args) == 2
    assert not (tmp_path / "m.csv").exists()
    victim.unlink()
    assert run_cli(*args) == 2


@pytest.mark.slow
def test_cli_animates_a_face_that_is_not_in_the_demo_corpus(evaluated, tmp_path, capsys):
    """The demo's identities come from the two packaged photos (astronaut, Grace Hopper); no other human photo
    ships with the installed packages, so the unseen face is Grace Hopper mirrored, recoloured (warmer, paler),
    reframed on a wider canvas and rescaled: no demo frame shows that image."""
    import matplotlib

    hopper = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))[:, ::-1]
    tinted = np.clip(hopper.astype(np.float32) * np.array([0.8, 0.95, 1.15]) + 20, 0, 255).astype(np.uint8)
    canvas = np.full((700, 900, 3), (90, 120, 60), np.uint8)
    canvas[80:80 + 600, 250:250 + 512] = cv2.resize(tinted, (512, 600))
    photo = tmp_path / "unseen_face.png"
    cv2.imwrite(str(photo), canvas)
    speech = tmp_path / "speech.wav"
    from autalk.preprocess.audio import load_audio

    first = pd.read_parquet(evaluated.path("resources/demo/manifest.parquet")).iloc[0]
    source = first["audio_path"] if isinstance(first["audio_path"], str) else first["video_path"]
    rate = 44100                                              # any rate: the CLI resamples
    audio = load_audio(evaluated.path(source), rate)
    soundfile.write(str(speech), audio, rate)
    out = tmp_path / "talking.mp4"
    assert run_cli("generate", "--checkpoint", evaluated.path("resources/demo/models/generator/full.pt"),
                   "--image", photo, "--audio", speech, "-o", out, "--save-aus", tmp_path / "aus.csv") == 0
    info = probe(out)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert info.duration_s == pytest.approx(int(len(audio) / rate * 25) / 25, abs=0.06)
    assert len(pd.read_csv(tmp_path / "aus.csv")) == int(len(audio) / rate * 25)


# -------------------------------------------------------------------- arguments that would lose work or mislead
@pytest.mark.parametrize("case, message", [
    ("output_is_checkpoint", "-o .* is the same file as --checkpoint"),
    ("aus_is_image", "--save-aus .* is the same file as --image"),
    ("wrong_video_suffix", r"-o .*out\.avi: expected a \.mp4 file name"),
    ("wrong_table_suffix", r"--save-aus .*aus\.mp4: expected a \.csv file name"),
    ("output_is_folder", "is a folder"),
    ("unwritable_folder", "cannot write in"),
    ("scale_nan", "--au-scale must be a number from 0 to 3"),
    ("scale_inf", "--au-scale must be a number from 0 to 3"),
    ("scale_huge", "--au-scale must be a number from 0 to 3"),
    ("cuda_missing", "CUDA is not available on this machine"),
])
def test_photo_cli_refuses_arguments_before_any_work(checkpoint, inputs, tmp_path, capsys, case, message):
    _, face, speech = inputs
    out, extra = tmp_path / "out.mp4", []
    if case == "output_is_checkpoint":
        out = checkpoint
    elif case == "aus_is_image":
        extra = ["--save-aus", face]
    elif case == "wrong_video_suffix":
        out = tmp_path / "out.avi"
    elif case == "wrong_table_suffix":
        extra = ["--save-aus", tmp_path / "aus.mp4"]
    elif case == "output_is_folder":
        out = tmp_path / "folder.mp4"
        out.mkdir()
    elif case == "unwritable_folder":
        if os.geteuid() == 0:
            pytest.skip("root may write anywhere")
        (tmp_path / "locked").mkdir(mode=0o500)
        out = tmp_path / "locked" / "sub" / "out.mp4"
    elif case.startswith("scale"):
        extra = ["--au-scale", {"scale_nan": "nan", "scale_inf": "inf", "scale_huge": "1e6"}[case]]
    elif case == "cuda_missing":
        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
        extra = ["--device", "cuda"]
    before = {p: p.read_bytes() for p in (checkpoint, face, speech)}
    assert run_cli("generate", "--checkpoint", checkpoint, "--image", face, "--audio", speech, "-o", out,
                   *extra) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err and len(err.strip().splitlines()) == 2, err
    assert {p: p.read_bytes() for p in before} == before               # every input untouched
    assert not (tmp_path / "out.mp4").exists() and not (tmp_path / "aus.csv").exists()


def test_photo_cli_warns_about_silent_and_partly_decoded_audio(checkpoint, inputs, tmp_path, capsys):
    import imageio_ffmpeg

    _, face, speech = inputs
    silent = tmp_path / "silent.wav"
    soundfile.write(str(silent), np.zeros(SR, np.float32), SR)
    assert run_cli("generate", "--checkpoint", checkpoint, "--image", face, "--audio", silent,
                   "-o", tmp_path / "a.mp4", "--device", "cpu") == 0
    assert re.search(r"WARNING.*silent\.wav is silent", capsys.readouterr().err)
    mp3 = tmp_path / "speech.mp3"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(speech), "-c:a", "libmp3lame",
                    str(mp3)], check=True)
    data_bytes = bytearray(mp3.read_bytes())
    middle = len(data_bytes) // 2
    data_bytes[middle:middle + 3000] = bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8))
    corrupt = tmp_path / "corrupt.mp3"
    corrupt.write_bytes(bytes(data_bytes))
    assert run_cli("generate", "--checkpoint", checkpoint, "--image", face, "--audio", corrupt,
                   "-o", tmp_path / "b.mp4", "--device", "cpu") == 0
    assert re.search(r"WARNING.*corrupt\.mp3 decoded with \d+ error", capsys.readouterr().err)
