"""OpenFace, for the AU labels and as the AU judge of generated frames, against local stand-ins of its two
executables (OpenFace cannot be installed here): small scripts that take the same arguments and write CSVs in
OpenFace 2.2's formats. FeatureExtraction (``sequence`` mode) writes one CSV per clip, FaceLandmarkImg (``image``
mode, the default) one CSV per image with a row per face found."""

from __future__ import annotations

import json
import logging
import stat
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from autalk.aus import openface
from autalk.aus.labels import label_backend, label_openface_mode, labels_by_clip, read_au_labels, write_au_labels
from autalk.config import SPEECH_AUS, AUConfig
from autalk.data.clips import Clip, kept_clip_paths, load_clip, save_clip
from autalk.errors import ConfigError, DataError
from autalk.evaluate.systems import evaluate_system
from autalk.evaluate.tables import metric_table, paper_tables, protocol
from autalk.generate.clips import save_generated
from autalk.generate.video import write_mp4
from autalk.models.sync_expert import SyncExpert, sync_expert_checkpoint
from training_fixtures import make_corpus, tiny_config

UNITS = SPEECH_AUS
R_AUS = openface.OPENFACE_INTENSITY_AUS
C_AUS = R_AUS[:-1] + ["AU28", "AU45"]      # AU28 has a presence column only


def _clip(utt_id: str, t: int = 12, side: int = 32, seed: int = 0) -> Clip:
    rng = np.random.default_rng(seed)
    lm = rng.uniform(0, side, (t, 68, 2)).astype(np.float32)
    return Clip(utt_id=utt_id, frames=rng.integers(0, 255, (t, side, side, 3), dtype=np.uint8), landmarks=lm,
                landmarks_raw=lm, transforms=np.zeros((t, 2, 3), np.float32),
                mfcc=np.zeros((4 * t + 35, 12), np.float32),
                mfcc_windows=rng.standard_normal((t, 12, 35)).astype(np.float32), interpolated=np.zeros(t, bool))


def _sequence_csv(n_frames: int, missing: int, failed: int) -> str:
    """A FeatureExtraction -aus CSV as OpenFace 2.2 writes it: ', '-separated header, frames from 1."""
    header = ["frame", "face_id", "timestamp", "confidence", "success"] + [f"{a}_r" for a in R_AUS] + \
             [f"{a}_c" for a in C_AUS]
    lines = [", ".join(header)]
    for frame in range(1, n_frames + 1):
        if frame == missing:
            continue
        ok = frame != failed
        r = [(0.1 * frame + i / 10) % 5 if ok else 0.0 for i in range(len(R_AUS))]
        c = [1 if ok and (frame + i) % 2 else 0 for i in range(len(C_AUS))]
        lines.append(", ".join([str(frame), "0", f"{(frame - 1) / 25:.3f}", "0.98" if ok else "0.00",
                                "1" if ok else "0"] + [f"{v:.2f}" for v in r] + [str(v) for v in c]))
    return "\n".join(lines) + "\n"


def _image_csv(faces: list[tuple[float, dict[str, float]]]) -> str:
    """A FaceLandmarkImg -aus CSV as OpenFace 2.2 writes it: ``face, confidence``, other measures, then the AU
    columns; one row per face (confidence, {AU: intensity}); an AU is present where its intensity is >= 1."""
    header = ["face", "confidence", "gaze_angle_x", "pose_Tx"] + [f"{a}_r" for a in R_AUS] + \
             [f"{a}_c" for a in C_AUS]
    lines = [", ".join(header)]
    for k, (confidence, aus) in enumerate(faces):
        r = [aus.get(a, 0.0) for a in R_AUS]
        c = [float(aus.get(a, 0.0) >= 1.0) for a in C_AUS]
        lines.append(", ".join([str(k), f"{confidence:.3f}", "0.1", "12.5"] + [f"{v:.2f}" for v in r] +
                               [f"{v:.1f}" for v in c]))
    return "\n".join(lines) + "\n"


def _executable(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def _refusing(path: Path) -> Path:
    """An OpenFace executable the mode in use must not run."""
    return _executable(path, f'import sys; sys.exit("{path.name} must not run in this mode")\n')


def _fake_face_landmark_img(bin_dir: Path, outputs: dict[int, str], calls: Path) -> Path:
    """FaceLandmarkImg: checks its arguments and images, logs them to ``calls`` (one JSON line per run), and
    writes ``outputs[i]`` as the CSV of the i-th image by name (no file where ``outputs`` has none)."""
    return _executable(bin_dir / "FaceLandmarkImg", f"""\
        import json, pathlib, sys
        import cv2
        args = sys.argv[1:]
        assert "-aus" in args and "-of" not in args, args
        images = sorted(pathlib.Path(args[args.index("-fdir") + 1]).glob("*.png"))
        assert images and all(min(cv2.imread(str(p)).shape[:2]) >= 224 for p in images)
        out = pathlib.Path(args[args.index("-out_dir") + 1]); out.mkdir(parents=True, exist_ok=True)
        outputs = {{int(k): v for k, v in json.loads({json.dumps(json.dumps(outputs))}).items()}}
        for i, image in enumerate(images):
            if i in outputs:
                (out / (image.stem + ".csv")).write_text(outputs[i])
        with open({str(calls)!r}, "a") as fh:
            fh.write(json.dumps({{"args": args, "images": len(images)}}) + "\\n")
        """)


# ---------------------------------------------------------------------------------------------- parsers
def test_sequence_csv_parser_reads_the_real_format(tmp_path):
    csv = tmp_path / "clip.csv"
    csv.write_text(_sequence_csv(10, missing=4, failed=7))
    success, intensity, presence = openface.read_sequence_csv(csv, UNITS, 10)
    assert success.tolist() == [i not in (3, 6) for i in range(10)]
    k = R_AUS.index("AU25")
    assert intensity[0, UNITS.index("AU25")] == pytest.approx((0.1 + k / 10) % 5, abs=0.01)
    assert (intensity[~success] == 0).all() and set(np.unique(presence)) <= {0, 1}
    with pytest.raises(DataError, match="lacks columns"):
        openface.read_sequence_csv(csv, ["AU18"], 10)
    with pytest.raises(DataError, match="beyond the clip"):
        openface.read_sequence_csv(csv, UNITS, 5)
    rows = [line.split(", ") for line in csv.read_text().splitlines()]
    rows[2][rows[0].index("AU25_r")] = "-nan(ind)"      # frame 2: a value that is not a number, not measured
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(", ".join(row) for row in rows) + "\n")
    assert openface.read_sequence_csv(broken, UNITS, 10)[0].tolist() == [i not in (1, 3, 6) for i in range(10)]


def test_image_csvs_keep_the_most_confident_face_and_mark_images_without_one(tmp_path):
    (tmp_path / "f1.csv").write_text(_image_csv([(0.9, {"AU25": 2.5})]))
    (tmp_path / "f2.csv").write_text(_image_csv([(0.4, {"AU26": 4.0}), (0.95, {"AU10": 1.5, "AU14": 0.6}),
                                                 (0.6, {"AU20": 3.0})]))
    (tmp_path / "f4.csv").write_text(_image_csv([]))     # header only: no face found (f3 has no file at all)
    success, intensity, presence = openface.read_image_csvs(tmp_path, ["f1", "f2", "f3", "f4"], UNITS)
    assert success.tolist() == [True, True, False, False]
    expected = np.zeros((4, len(UNITS)))
    expected[0, UNITS.index("AU25")] = 2.5
    expected[1, UNITS.index("AU10")], expected[1, UNITS.index("AU14")] = 1.5, 0.6
    np.testing.assert_allclose(intensity, expected)
    assert presence.tolist() == (expected >= 1.0).astype(int).tolist()
    (tmp_path / "f5.csv").write_text("face, confidence, AU10_r\n0, 0.9, 1.0\n")
    with pytest.raises(DataError, match=r"f5.csv lacks columns \['AU14_r'"):
        openface.read_image_csvs(tmp_path, ["f5"], UNITS)


# ---------------------------------------------------------------------------------------------- finding OpenFace
def test_openface_without_binary_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="aus.openface_bin is not set and FeatureExtraction is not on PATH.*"
                                          "github.com/TadasBaltrusaitis/OpenFace"):
        openface.locate(AUConfig())
    with pytest.raises(ConfigError, match="does not exist.*backend: landmarks"):
        openface.locate(AUConfig(openface_bin=str(tmp_path / "FeatureExtraction")))


def test_each_mode_finds_its_executable_and_a_missing_face_landmark_img_is_named(tmp_path, monkeypatch):
    bin_dir = tmp_path / "OpenFace" / "build" / "bin"
    feature_extraction = _refusing(bin_dir / "FeatureExtraction")
    configured = AUConfig(openface_bin=str(feature_extraction))
    with pytest.raises(ConfigError, match=f"{bin_dir / 'FaceLandmarkImg'} does not exist.*openface_mode: sequence"):
        openface.locate(configured)
    assert openface.locate(AUConfig(openface_bin=str(feature_extraction), openface_mode="sequence")) == \
        openface.OpenFace(feature_extraction, "sequence")
    image = _refusing(bin_dir / "FaceLandmarkImg")
    assert openface.locate(configured) == openface.OpenFace(image, "image")
    # found on PATH (backend auto, no openface_bin): FaceLandmarkImg is looked up on PATH too
    elsewhere = tmp_path / "local" / "bin"
    monkeypatch.setenv("PATH", str(elsewhere))
    on_path = _refusing(elsewhere / "FeatureExtraction")
    with pytest.raises(ConfigError, match="FaceLandmarkImg, which is not on PATH"):
        openface.locate(AUConfig())
    monkeypatch.setenv("PATH", f"{elsewhere}:{bin_dir}")
    assert openface.locate(AUConfig()) == openface.OpenFace(image, "image")
    assert openface.locate(AUConfig(openface_mode="sequence")) == openface.OpenFace(on_path, "sequence")


# ---------------------------------------------------------------------------------------------- labels
def test_sequence_mode_runs_feature_extraction_on_each_clip(tmp_path):
    (tmp_path / "openface.csv").write_text(_sequence_csv(6, missing=2, failed=0))
    fake = _executable(tmp_path / "bin" / "FeatureExtraction", f"""\
        import pathlib, shutil, sys
        args = sys.argv[1:]
        assert "-aus" in args
        frames = sorted(pathlib.Path(args[args.index("-fdir") + 1]).glob("*.png"))
        assert len(frames) == 6, frames
        out = pathlib.Path(args[args.index("-out_dir") + 1]); out.mkdir(parents=True)
        shutil.copy({str(tmp_path / "openface.csv")!r}, out / (args[args.index("-of") + 1] + ".csv"))
        """)
    _refusing(tmp_path / "bin" / "FaceLandmarkImg")
    paths = {}
    for i in range(2):
        paths[f"s1_u{i}"] = tmp_path / "clips" / f"s1_u{i}.npz"
        save_clip(_clip(f"s1_u{i}", t=6, seed=i), paths[f"s1_u{i}"])
    table = openface.label_clips(AUConfig(openface_bin=str(fake), openface_mode="sequence"), paths)
    out = tmp_path / "labels.parquet"
    write_au_labels(table, out, "openface", "sequence")
    assert (label_backend(out), label_openface_mode(out)) == ("openface", "sequence")
    table = read_au_labels(out, UNITS)
    assert len(table) == 12 and table.groupby("utt_id")["success"].sum().tolist() == [5, 5]


def test_image_mode_runs_face_landmark_img_on_each_frame(tmp_path, caplog):
    """The default mode: FaceLandmarkImg, not FeatureExtraction; of two faces the more confident counts; frames
    without a face (no CSV, or one without rows) are unsuccessful and logged."""
    feature_extraction = _refusing(tmp_path / "bin" / "FeatureExtraction")
    calls = tmp_path / "calls.jsonl"
    _fake_face_landmark_img(tmp_path / "bin", {0: _image_csv([(0.9, {"AU25": 2.5, "AU26": 1.2})]),
                                               1: _image_csv([(0.3, {"AU20": 4.0}), (0.8, {"AU10": 1.5})]),
                                               3: _image_csv([])}, calls)
    path = tmp_path / "clips" / "s1_u0.npz"
    save_clip(_clip("s1_u0", t=4), path)
    aus = AUConfig(openface_bin=str(feature_extraction))
    assert aus.openface_mode == "image"
    with caplog.at_level(logging.WARNING):
        table = openface.label_clips(aus, {"s1_u0": path})
    assert "found no face in 2 of 4 frames of s1_u0" in caplog.text
    [call] = [json.loads(line) for line in calls.read_text().splitlines()]
    assert call["images"] == 4 and call["args"][-1] == "-aus"
    assert table["success"].tolist() == [True, True, False, False]
    assert table["AU25_r"].tolist() == pytest.approx([2.5, 0, 0, 0])
    assert table["AU10_r"].tolist() == pytest.approx([0, 1.5, 0, 0])
    assert table["AU20_c"].tolist() == [0, 0, 0, 0] and table["AU26_c"].tolist() == [1, 0, 0, 0]


# ---------------------------------------------------------------------------------------------- the judge
def test_openface_judges_generated_frames_and_the_tables_name_it(tmp_path):
    """``autalk evaluate`` on labels made by OpenFace: OpenFace (the FaceLandmarkImg stand-in) reads each system's
    generated frames, its AU presence is scored against the labels in ``judge_AUxx_*``, and the metric and paper
    tables call the column the OpenFace judge."""
    corpus = make_corpus(tmp_path)
    labels = read_au_labels(corpus.labels, UNITS)
    write_au_labels(labels, corpus.labels, "openface", "image")
    # the stand-in sees AU25 in every third frame and finds no face in frame 4
    seen = [i % 3 == 0 and i != 4 for i in range(20)]
    outputs = {i: _image_csv([(0.9, {"AU25": 3.0} if seen[i] else {})]) for i in range(20) if i != 4}
    feature_extraction = _refusing(tmp_path / "bin" / "FeatureExtraction")
    calls = tmp_path / "calls.jsonl"
    _fake_face_landmark_img(tmp_path / "bin", outputs, calls)
    cfg = tiny_config({"aus": {"backend": "openface", "openface_bin": str(feature_extraction)},
                       "sync_expert": {"max_offset": 2}})
    torch.manual_seed(0)
    torch.save(sync_expert_checkpoint(SyncExpert(5, 12, 4, 0), {}), tmp_path / "sync_expert.pt")
    generated = tmp_path / "generated" / "real"
    for utt_id, path in kept_clip_paths(corpus.qc, corpus.clips_root, cfg.splits.test).items():
        frames = load_clip(path).frames
        save_generated(generated, utt_id, frames)
        write_mp4(frames, np.zeros(16000), 16000, 25, generated / f"{utt_id}.mp4")
    per_clip = tmp_path / "metrics" / "real.csv"
    table = evaluate_system("real", cfg, generated, corpus.labels, corpus.qc, corpus.clips_root,
                            corpus.au_classifier, tmp_path / "sync_expert.pt", per_clip)
    assert (table["au_judge"] == "openface").all()
    assert len(calls.read_text().splitlines()) == 3                # one run per test clip, all its frames

    truth = labels_by_clip(labels, UNITS)
    k = UNITS.index("AU25")
    for row in table.itertuples():
        lab = truth[row.utt_id].presence[:, k].astype(bool)
        scored = (slice(2, 10) if row.frames == "window" else slice(0, len(lab)))   # clip_start 2, clip_length 8
        pred, lab = np.array(seen[:len(lab)])[scored], lab[scored]
        expected = [(pred & lab).sum(), (pred & ~lab).sum(), (~pred & lab).sum(), (~pred & ~lab).sum()]
        assert [getattr(row, f"judge_AU25_{c}") for c in ("tp", "fp", "fn", "tn")] == expected, row.utt_id
        assert row.judge_AU26_tp == row.judge_AU26_fp == 0                        # never seen by the stand-in
    assert table["judge_AU25_fp"].sum() > 0 and table["judge_AU25_fn"].sum() > 0    # the counts discriminate

    metrics = metric_table([per_clip])
    assert metrics["au_judge"].tolist() == ["openface"]
    text = paper_tables("demo", metrics, protocol(cfg, "openface", "openface", "image"))
    assert "| AU F1 (AU classifier) | AU acc. (AU classifier) | AU F1 (OpenFace judge) |" in text
    assert "landmark judge" not in text and "landmarks" not in text
    assert "backend `openface`, image mode: FaceLandmarkImg on each frame alone" in text
    assert "the OpenFace judge (OpenFace on the generated frames, in the labels' mode" in text


def test_metric_table_refuses_systems_scored_by_different_judges(tmp_path):
    paths = []
    for system, judge in (("full", "openface"), ("real", "landmarks")):
        paths.append(tmp_path / f"{system}.csv")
        pd.DataFrame({"utt_id": ["u0"], "system": system, "frames": "window", "psnr": 30.0,
                      "psnr_identical_frames": 0, "ssim": 0.9, "cpbd": 0.3, "lmd_mouth": 1.0, "lmd_all": 1.0,
                      "au_judge": judge, "sync_offset": 0, "sync_confidence": 1.0,
                      "sync_distance": 0.5}).to_csv(paths[-1], index=False)
    with pytest.raises(DataError, match="real.csv are scored by the landmark judge.*OpenFace judge"):
        metric_table(paths)
