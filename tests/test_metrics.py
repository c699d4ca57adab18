"""Metric code on inputs with known answers: PSNR/SSIM identities, CPBD against the reference implementation's
values and under blur, LMD of identical and shifted faces, AU counts, the offset search, and the tables."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from skimage import data, filters

from autalk.config import FaceConfig
from autalk.errors import DataError
from autalk.evaluate.tables import ablation_table, metric_table, paper_tables
from autalk.metrics.au import confusion_counts, pooled_scores
from autalk.metrics.cpbd import cpbd
from autalk.metrics.image import psnr, psnr_clip, ssim, ssim_clip
from autalk.metrics.landmarks import clip_landmarks, lmd
from autalk.metrics.sync import distance_curve, sync_from_curve
from autalk.preprocess.dlib_models import load_models
from autalk.preprocess.faces import align_image


@pytest.fixture(scope="module")
def face_crop() -> tuple[np.ndarray, np.ndarray]:
    """A real aligned 64 px face (skimage's astronaut) and its landmarks, as preprocessing makes them."""
    return align_image(data.astronaut(), FaceConfig(crop_size=64), load_models())


def test_psnr_identical_frames_are_infinite_and_left_out_of_the_clip_mean():
    rng = np.random.default_rng(0)
    real = rng.integers(0, 246, (4, 16, 16, 3), dtype=np.uint8)
    assert psnr(real[0], real[0]) == math.inf
    shifted = real + 10                                       # MSE 100 -> 10 log10(255^2 / 100)
    assert psnr(shifted[0], real[0]) == pytest.approx(10 * math.log10(255 ** 2 / 100))
    mixed = shifted.copy()
    mixed[0] = real[0]                                        # one exact frame (as the static face's frame 0)
    result = psnr_clip(mixed, real)
    assert result.identical_frames == 1
    assert result.mean_db == pytest.approx(10 * math.log10(255 ** 2 / 100))
    assert psnr_clip(real, real).mean_db == math.inf and psnr_clip(real, real).identical_frames == 4


def test_ssim_is_one_on_identical_frames_and_matches_the_closed_form_on_flat_ones(face_crop):
    crop, _ = face_crop
    assert ssim(crop, crop) == pytest.approx(1.0)
    assert ssim_clip(np.stack([crop] * 2), np.stack([crop] * 2)) == pytest.approx(1.0)
    a, b = np.full((32, 32, 3), 100, np.uint8), np.full((32, 32, 3), 150, np.uint8)
    c1 = (0.01 * 255) ** 2                                     # flat images: only the luminance term is left
    assert ssim(a, b) == pytest.approx((2 * 100 * 150 + c1) / (100 ** 2 + 150 ** 2 + c1), rel=1e-6)
    noisy = np.clip(crop.astype(int) + np.random.default_rng(1).integers(-40, 40, crop.shape), 0, 255).astype(np.uint8)
    assert 0 < ssim(noisy, crop) < 0.95


# Values of the reference Python port of the CPBD authors' MATLAB code (pypi cpbd 1.0.7, run on the same inputs).
ASTRO_HEAD = (slice(30, 230), slice(150, 350))


@pytest.mark.parametrize("name, make, expected", [
    ("camera", lambda: data.camera(), 0.748166),
    ("astronaut", lambda: data.astronaut(), 0.383682),
    ("camera blurred",
     lambda: np.round(filters.gaussian(data.camera(), 2, preserve_range=True)).astype(np.uint8), 0.019862),
    ("astronaut head 128",
     lambda: cv2.resize(data.astronaut()[ASTRO_HEAD], (128, 128), interpolation=cv2.INTER_AREA), 0.346964),
    ("astronaut head 64",
     lambda: cv2.resize(data.astronaut()[ASTRO_HEAD], (64, 64), interpolation=cv2.INTER_AREA), 0.464435),
])
def test_cpbd_matches_the_reference_implementation(name, make, expected):
    assert cpbd(make()) == pytest.approx(expected, abs=1e-5), name


def test_cpbd_falls_as_blur_grows_and_is_zero_without_edges():
    head = cv2.resize(data.astronaut()[ASTRO_HEAD], (128, 128), interpolation=cv2.INTER_AREA)
    scores = [cpbd(head)] + [cpbd(cv2.GaussianBlur(head, (0, 0), sigma)) for sigma in (0.8, 1.5, 3.0)]
    assert all(a > b for a, b in zip(scores, scores[1:])), scores
    assert cpbd(np.full((128, 128, 3), 90, np.uint8)) == 0.0


def test_lmd_is_zero_on_identical_frames_and_follows_a_shift(face_crop):
    crop, landmarks = face_crop
    frames = np.stack([crop] * 3)
    same = lmd(*clip_landmarks(frames, frames, np.stack([landmarks] * 3)))
    assert same.mouth == 0.0 and same.all == 0.0
    shifted = np.roll(frames, 2, axis=2)                      # the face moved 2 px right
    moved = lmd(*clip_landmarks(shifted, frames))
    assert moved.all == pytest.approx(2.0, abs=0.5) and moved.mouth == pytest.approx(2.0, abs=0.6)
    track = np.zeros((2, 68, 2))
    off = track.copy()
    off[:, 48:, 0] = 3.0                                      # only the mouth (points 49..68) moves, by 3 px
    result = lmd(off, track)
    assert result.mouth == pytest.approx(3.0) and result.all == pytest.approx(3.0 * 20 / 68)


def test_au_counts_and_pooled_scores():
    pred = np.array([[1, 0], [1, 1], [0, 0], [1, 0]])
    truth = np.array([[1, 0], [0, 1], [0, 1], [1, 1]])
    valid = np.array([True, True, True, False])               # the last frame's label is unreliable
    counts = confusion_counts(pred, truth, valid)
    assert counts.tolist() == [[1, 1, 0, 1], [1, 0, 1, 1]]    # tp, fp, fn, tn per AU
    f1, acc = pooled_scores(counts)
    assert f1 == pytest.approx((2 / 3 + 2 / 3) / 2) and acc == pytest.approx(4 / 6)
    # an AU that never occurs has no F1: with or without a stray detection, the macro mean leaves it out
    for stray in ([0, 1, 0, 5], [0, 0, 0, 6]):
        assert pooled_scores(np.vstack([counts, stray]))[0] == pytest.approx(f1)
    assert np.isnan(pooled_scores(np.array([[0, 2, 0, 4]]))[0])


def test_offset_search_finds_a_known_shift():
    rng = np.random.default_rng(0)
    import torch

    audio = torch.nn.functional.normalize(torch.from_numpy(rng.normal(size=(60, 16))).float(), dim=1)
    video = torch.roll(audio, -4, dims=0)                     # video window i matches audio window i + 4
    result = sync_from_curve(*distance_curve(video, audio, max_offset=10))
    assert result.offset == 4 and result.min_distance == pytest.approx(0.0, abs=1e-3)
    assert result.confidence > 1.0
    assert list(result.offsets) == list(range(-10, 11))
    flat = sync_from_curve(*distance_curve(video[:1].repeat(60, 1), audio, max_offset=10))
    assert flat.confidence < 0.2                              # a face that never moves carries no sync


def _per_clip(system: str, psnr_values, offsets, lmd_mouth, tp, frames: str = "window") -> pd.DataFrame:
    n = len(psnr_values)
    return pd.DataFrame({"utt_id": [f"u{i}" for i in range(n)], "system": system, "frames": frames, "n_frames": 10,
                         "psnr": psnr_values,
                         "psnr_identical_frames": [10 if v == math.inf else 0 for v in psnr_values],
                         "ssim": 0.9, "cpbd": 0.3, "lmd_mouth": lmd_mouth, "lmd_all": 1.0, "au_f1": 0.0,
                         "au_accuracy": 0.0, "au_judge": "landmarks", "sync_offset": offsets, "sync_confidence": 2.0,
                         "sync_distance": 0.5,
                         "AU25_tp": tp, "AU25_fp": 1, "AU25_fn": 1, "AU25_tn": 5})


def test_metric_table_rows_inf_psnr_pooled_aus_and_ablation(tmp_path):
    paths = []
    for system, psnr_values, offsets, lmd_mouth, tp in [
            ("full", [30.0, 32.0], [0, -2], [1.0, 2.0], [3, 1]),
            ("no_au", [29.0, 29.0], [1, 1], [2.0, 2.0], [0, 0]),
            ("real", [math.inf, math.inf], [0, 0], [0.0, 0.0], [8, 8])]:
        path = tmp_path / f"{system}.csv"
        all_frames = _per_clip(system, [v - 1 for v in psnr_values], offsets, lmd_mouth, tp, frames="all")
        pd.concat([_per_clip(system, psnr_values, offsets, lmd_mouth, tp), all_frames]).to_csv(path, index=False)
        paths.append(path)
    table = metric_table(paths)
    assert metric_table(paths, frames="all")["psnr"].iloc[0] == pytest.approx(30.0)   # the secondary table
    assert table["system"].tolist() == ["full", "no_au", "real"]
    full = table.iloc[0]
    assert full["psnr"] == pytest.approx(31.0) and full["lmd_mouth"] == pytest.approx(1.5)
    assert full["sync_abs_offset"] == pytest.approx(1.0) and full["n_clips"] == 2
    assert full["au_f1"] == pytest.approx(2 * 4 / (2 * 4 + 2 + 2))          # pooled over clips, not averaged
    real = table.iloc[2]
    assert real["psnr"] == math.inf and real["psnr_identical_frames"] == 20
    ablation = ablation_table(table)
    row = ablation[(ablation["system"] == "no_au") & (ablation["metric"] == "lmd_mouth")].iloc[0]
    assert row["delta"] == pytest.approx(0.5) and row["better"] is False or row["better"] == False  # noqa: E712
    text = paper_tables("demo", table, ["frames scored: video frames 4..53"], metric_table(paths, frames="all"))
    assert "| full | 0.900 | 31.00 |" in text and "| real | 0.900 | ∞ |" in text
    assert "| AU F1 (landmark judge) |" in text and "OpenFace" not in text and table["au_judge"].eq("landmarks").all()
    assert "- frames scored: video frames 4..53" in text and "| full | 0.900 | 30.00 |" in text
    assert "from their papers" in text and "ATVGnet" in text and "32.15" in text


def test_metric_table_refuses_systems_scored_on_different_clips(tmp_path):
    a, b = tmp_path / "full.csv", tmp_path / "static.csv"
    _per_clip("full", [30.0, 31.0], [0, 0], [1.0, 1.0], [1, 1]).to_csv(a, index=False)
    _per_clip("static", [20.0], [0], [3.0], [0]).to_csv(b, index=False)
    with pytest.raises(DataError, match="different clips"):
        metric_table([a, b])


def test_protocol_of_the_grid_tables_states_split_frames_identity_backend_and_crop():
    from autalk.config import load_config
    from autalk.evaluate.tables import protocol

    cfg = load_config(Path(__file__).resolve().parents[1] / "config.yaml").dataset("grid")
    text = "\n".join(protocol(cfg, "landmarks", "landmarks"))
    assert "test (unseen, scored) s1, s2, s4, s29" in text
    assert "video frames 4..53 of each test clip (50 frames" in text and "training windows: clip" in text
    assert "identity image: video frame 4 of the clip" in text
    assert "backend `landmarks` (a landmark-geometry approximation, not OpenFace)\n" in text
    assert "AU F1 judges: the frozen AU classifier and the landmark judge" in text
    assert "template `authors` (the paper authors), 128 px, alignment points 28..48" in text


def test_landmark_judge_sees_a_real_speakers_mouth_move_and_a_static_face_not():
    """On a real GRID clip: the judge finds lips parting (AU25) and jaw drop (AU26) in the real frames' landmarks,
    and none in a face held still on the clip's most closed-mouth frame."""
    from autalk.config import AUConfig, PreprocessConfig
    from autalk.metrics.au import landmark_judge
    from autalk.preprocess.dlib_models import load_models
    from autalk.preprocess.process import align_clip
    from autalk.preprocess.video import VideoReader

    grid = Path(__file__).parent / "data" / "grid" / "lbax4n.mpg"
    real = align_clip(VideoReader(grid), PreprocessConfig(), load_models()).landmarks.astype(np.float64)
    aus = AUConfig()
    talking = landmark_judge(real, real, aus)
    closed = int(np.argmin(np.linalg.norm(real[:, 66] - real[:, 62], axis=1)))
    still = landmark_judge(real, np.repeat(real[closed:closed + 1], len(real), axis=0), aus)
    lips, jaw = aus.units.index("AU25"), aus.units.index("AU26")
    assert talking[:, lips].mean() > 0.2 and talking[:, jaw].mean() > 0.1, talking.mean(0)
    assert not still[:, lips].any() and not still[:, jaw].any(), still.mean(0)
