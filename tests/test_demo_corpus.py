"""The demo corpus synthesiser, measured on a small corpus it writes once per session (4 speakers x 2
utterances): dlib sees one face per frame where the ground truth says, audio/video/alignment agree, the
mouth opening dlib measures follows the ground-truth AUs, and the same seed gives the same corpus."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
from PIL import Image

from autalk.cli import main as cli_main
from autalk.config import SynthConfig, config_from_dict
from autalk.demo import grammar, media
from autalk.demo.articulation import PHONEME_VISEMES
from autalk.demo.faces import detect_landmarks
from autalk.demo.previews import read_frames, write_previews
from autalk.demo.render import mouth_opening
from autalk.demo.speech import Voice, speak
from autalk.demo.synthesize import FLAG, synthesize_corpus
from autalk.errors import ConfigError, DataError

SPEAKERS = ["d1", "d2", "d3", "d4"]
SYNTH = SynthConfig(utterances_per_speaker=2, seed=3)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "raw"
    synthesize_corpus(SYNTH, SPEAKERS, out, threads=2)
    return out


@pytest.fixture(scope="session")
def truth(corpus):
    gt = corpus / "ground_truth"
    return (pd.read_parquet(gt / "landmarks.parquet"), pd.read_parquet(gt / "aus.parquet"),
            pd.read_parquet(gt / "phonemes.parquet"))


def _videos(corpus: Path) -> list[tuple[str, Path]]:
    return [(f"{p.parts[-3]}_{p.stem}", p) for p in sorted(corpus.glob("*/video/*.mp4"))]


def _gt_points(landmarks: pd.DataFrame, utt_id: str) -> np.ndarray:
    rows = landmarks[landmarks.utt_id == utt_id].sort_values("frame")
    return np.stack([rows[[f"x{k}" for k in range(68)]].to_numpy(), rows[[f"y{k}" for k in range(68)]].to_numpy()], -1)


@pytest.fixture(scope="session")
def dlib_on_video(corpus, truth):
    """Per decoded frame: number of faces dlib finds, its landmarks (if one), the rendered ground truth."""
    landmarks, aus, _ = truth
    out = []
    for utt_id, path in _videos(corpus):
        frames = read_frames(path)
        gt = _gt_points(landmarks, utt_id)
        au = aus[aus.utt_id == utt_id].sort_values("frame")
        assert len(frames) == len(gt) == len(au), f"{path}: decoded frames disagree with the ground truth"
        for i, frame in enumerate(frames):
            faces = detect_landmarks(frame)
            out.append((len(faces), faces[0] if len(faces) == 1 else None, gt[i],
                        au.AU25_r.iloc[i], au.AU26_r.iloc[i]))
    return out


def test_layout_and_videos_decode(corpus, truth):
    assert (corpus / FLAG).is_file()
    videos = _videos(corpus)
    assert len(videos) == len(SPEAKERS) * SYNTH.utterances_per_speaker
    for utt_id, path in videos:
        speaker, sentence = utt_id.split("_")
        assert len(sentence) == 6 and sentence[4].isdigit()
        assert (corpus / speaker / "audio" / f"{sentence}.wav").is_file()
        assert (corpus / speaker / "align" / f"{sentence}.align").is_file()
        frames = read_frames(path)
        assert frames.shape[1:] == (SYNTH.height, SYNTH.width, 3)
        assert len(frames) >= SYNTH.duration_s * SYNTH.fps
    landmarks, aus, phonemes = truth
    assert set(landmarks.utt_id) == set(aus.utt_id) == set(phonemes.utt_id) == {u for u, _ in videos}
    for col in ["AU10_r", "AU14_r", "AU20_r", "AU25_r", "AU26_r"]:
        assert aus[col].between(0, 5).all() and aus[col].max() > 1.0, col
    assert {"utt_id", "phoneme", "viseme", "start_s", "end_s"} <= set(phonemes.columns)


def test_dlib_finds_one_face_near_the_ground_truth(dlib_on_video):
    counts = np.array([n for n, *_ in dlib_on_video])
    rate = float(np.mean(counts == 1))
    errors = np.array([np.linalg.norm(found - gt, axis=1).mean() for n, found, gt, *_ in dlib_on_video if n == 1])
    print(f"\ndlib: one face in {rate:.2%} of {len(counts)} frames; landmark error mean {errors.mean():.2f} px, "
          f"95th percentile {np.percentile(errors, 95):.2f} px")
    assert rate >= 0.99
    assert errors.mean() < 2.5
    assert np.percentile(errors, 95) < 4.5


def test_mouth_opening_follows_ground_truth_aus(dlib_on_video):
    rows = [(mouth_opening(found), au25, au26) for n, found, _, au25, au26 in dlib_on_video if n == 1]
    opening, au25, au26 = np.array(rows).T
    r25, r26 = np.corrcoef(opening, au25)[0, 1], np.corrcoef(opening, au26)[0, 1]
    print(f"\nPearson r of dlib's inner-lip gap with AU25: {r25:.3f}, with AU26: {r26:.3f}")
    assert r25 > 0.8 and r26 > 0.8


def test_audio_and_video_durations_agree(corpus):
    for utt_id, path in _videos(corpus):
        speaker, sentence = utt_id.split("_")
        audio, sr = soundfile.read(corpus / speaker / "audio" / f"{sentence}.wav")
        assert sr == SYNTH.sample_rate and audio.ndim == 1
        video_s = len(read_frames(path)) / SYNTH.fps
        assert abs(len(audio) / sr - video_s) <= 1 / SYNTH.fps
        speech = np.abs(audio) > 0.05
        assert speech.any() and not speech[: int(0.25 * sr)].any()  # GRID-like leading silence


def test_alignments_match_the_phoneme_timings(corpus, truth):
    _, _, phonemes = truth
    for utt_id, path in _videos(corpus):
        speaker, sentence = utt_id.split("_")
        entries = media.read_align(corpus / speaker / "align" / f"{sentence}.align")
        duration = len(read_frames(path)) / SYNTH.fps
        assert entries[0][0] == 0 and entries[0][2] == "sil" and entries[-1][2] == "sil"
        assert abs(entries[-1][1] - duration) < 1e-4
        for (_, end, _), (start, _, _) in zip(entries, entries[1:]):
            assert start == end  # contiguous, like GRID's
        words = [(a, b, w) for a, b, w in entries if w not in ("sil", "sp")]
        spoken = grammar.Sentence(tuple(w for _, _, w in words))
        assert spoken.file_id == sentence
        mine = phonemes[phonemes.utt_id == utt_id]
        for start, end, word in words:
            ph = mine[mine.word == word]
            assert len(ph) > 0
            assert abs(ph.start_s.min() - start) <= 1 / media.ALIGN_UNITS_PER_S
            assert abs(ph.end_s.max() - end) <= 1 / media.ALIGN_UNITS_PER_S
        assert (mine.end_s > mine.start_s).all()


def test_same_seed_same_corpus(corpus, truth, tmp_path):
    """A smaller corpus (2 speakers x 1 utterance, one process) repeats the first utterances exactly:
    each utterance depends on (seed, speaker, index) only, not on corpus size or process count."""
    synthesize_corpus(dataclasses.replace(SYNTH, utterances_per_speaker=1), SPEAKERS[:2], tmp_path, threads=1)
    again = pd.read_parquet(tmp_path / "ground_truth" / "aus.parquet")
    landmarks_again = pd.read_parquet(tmp_path / "ground_truth" / "landmarks.parquet")
    landmarks, aus, _ = truth
    for utt_id in again.utt_id.unique():
        pd.testing.assert_frame_equal(aus[aus.utt_id == utt_id].reset_index(drop=True),
                                      again[again.utt_id == utt_id].reset_index(drop=True), check_exact=True)
        np.testing.assert_array_equal(_gt_points(landmarks, utt_id), _gt_points(landmarks_again, utt_id))
        speaker, sentence = utt_id.split("_")
        np.testing.assert_array_equal(read_frames(corpus / speaker / "video" / f"{sentence}.mp4"),
                                      read_frames(tmp_path / speaker / "video" / f"{sentence}.mp4"))
        a, _ = soundfile.read(corpus / speaker / "audio" / f"{sentence}.wav")
        b, _ = soundfile.read(tmp_path / speaker / "audio" / f"{sentence}.wav")
        np.testing.assert_array_equal(a, b)


def test_every_grid_phoneme_has_a_viseme():
    """The viseme table covers what espeak-ng says for the whole GRID vocabulary (no silent fallback)."""
    vocabulary = (grammar.COMMANDS + grammar.COLOURS + grammar.PREPOSITIONS + grammar.DIGITS + grammar.ADVERBS
                  + list(grammar.LETTER_NAMES.values()))
    for name in SynthConfig().voices:
        speech = speak(tuple(vocabulary), Voice(name, 50, 160))
        unknown = {p.phoneme for p in speech.phones} - set(PHONEME_VISEMES)
        assert not unknown, f"{name}: phonemes without a viseme: {unknown}"


@pytest.mark.parametrize("change, speakers, error, match", [
    ({"voices": ["xx-nonexistent"]}, ["d1"], ConfigError, "no voice 'xx-nonexistent'"),
    ({"voices": ["en+nosuchvariant"]}, ["d1"], ConfigError, "no voice 'en\\+nosuchvariant'"),
    ({"photos": ["/nonexistent/face.jpg"]}, ["d1"], DataError, "/nonexistent/face.jpg does not exist"),
])
def test_bad_parameters_fail_clearly(tmp_path, change, speakers, error, match):
    with pytest.raises(error, match=match):
        synthesize_corpus(dataclasses.replace(SYNTH, **change), speakers, tmp_path / "raw")
    assert not (tmp_path / "raw" / FLAG).exists()


def test_cli_reports_a_bad_voice_without_traceback(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text("datasets:\n  demo:\n    source: {kind: synthetic, synth: {voices: [xx-nonexistent]}}\n"
                      "    speakers: [d1, d2]\n    splits: {train: [d1], test: [d2]}\n")
    code = cli_main(["synth", "--config", str(config), "--dataset", "demo", "--out", str(tmp_path / "raw")])
    err = capsys.readouterr().err
    assert code == 2 and "no voice 'xx-nonexistent'" in err and "Traceback" not in err


def test_previews_sheet_and_muxed_videos(corpus, tmp_path):
    from autalk.acquire.manifest import build_manifest, write_manifest

    ds = config_from_dict({"datasets": {"demo": {
        "source": {"kind": "synthetic"}, "speakers": SPEAKERS,
        "splits": {"train": SPEAKERS[:2], "val": [SPEAKERS[2]], "test": [SPEAKERS[3]]}}}}).dataset("demo")
    write_manifest(build_manifest(ds, corpus), tmp_path / "manifest.parquet")
    sheet, videos = tmp_path / "sheet.png", tmp_path / "previews"
    write_previews(tmp_path / "manifest.parquet", sheet, videos, ds.splits.split_of(), per_speaker=2)
    assert 0 < sheet.stat().st_size < 300_000
    labelled = np.asarray(Image.open(sheet).convert("L"))
    unlabelled = tmp_path / "unlabelled.png"
    write_previews(tmp_path / "manifest.parquet", unlabelled, tmp_path / "v2", {}, per_speaker=1)
    assert (labelled != np.asarray(Image.open(unlabelled).convert("L"))).any()   # the split names are drawn
    for speaker in SPEAKERS:
        path = videos / f"{speaker}.mp4"
        probe = subprocess.run([media.ffmpeg_exe(), "-i", str(path)], capture_output=True, text=True).stderr
        assert "Video: h264" in probe and "Audio: aac" in probe
        assert len(read_frames(path)) >= 2 * SYNTH.duration_s * SYNTH.fps
