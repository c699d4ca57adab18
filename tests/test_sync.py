"""The sync expert: trained briefly on synthetic clips whose mouth opening follows the audio, it must recover an
imposed audio shift; the official-SyncNet loader must read a file of the public layout and reject others."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autalk.errors import DataError
from autalk.metrics.syncnet_official import OfficialSyncNet, load_official_syncnet, lse, speech_features_mfcc
from autalk.models.sync_expert import SyncExpert, load_sync_expert, measure_sync, sync_expert_checkpoint
from autalk.train.losses import info_nce
from autalk.train.sync_expert import shift_audio

FRAMES, STEP, N_MFCC, S, START = 5, 4, 12, 64, -1


def talking_clip(rng: np.random.Generator, n_frames: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Frames whose dark mouth opens with a random smooth signal, and MFCC whose first coefficients carry it."""
    t = np.arange(n_frames * STEP) / STEP
    knots = rng.uniform(0, 1, n_frames // 3 + 2)
    opening = np.interp(t, np.arange(len(knots)) * 3, knots)              # per MFCC column (100 Hz)
    mfcc = rng.normal(0, 0.3, (len(t), N_MFCC)).astype(np.float32)
    mfcc[:, 0] += 3 * opening
    mfcc[:, 1] -= 2 * opening
    frames = np.full((n_frames, S, S, 3), 170, np.uint8)
    for i in range(n_frames):
        h = int(2 + 14 * opening[i * STEP + 2])
        frames[i, 44 - h // 2:44 + (h + 1) // 2, 20:44] = 40
    return frames, mfcc


SHIFTS = (0, 3, -2)


def train_expert(seed: int) -> SyncExpert:
    """60 steps on 12 clips; benchmarks/learning_margins.py measures the tests below with several seeds."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    expert = SyncExpert(FRAMES, N_MFCC, STEP, START)
    clips = [talking_clip(rng) for _ in range(12)]
    windows = []
    for frames, mfcc in clips:
        v, a = expert.video_windows(frames), expert.audio_windows(mfcc)
        n = min(len(v), len(a))
        windows.append((v[:n], a[:n]))
    optimiser = torch.optim.Adam(expert.parameters(), lr=2e-3)
    expert.train()
    for step in range(60):
        picks = [windows[(2 * step + j) % len(windows)] for j in range(2)]
        start = int(rng.integers(0, 20))
        loss, _ = info_nce(expert, torch.cat([v[start:start + 31] for v, _ in picks]),
                           torch.cat([a[start:start + 31] for _, a in picks]))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return expert.eval()


def measure_shift(expert: SyncExpert, shift: int):
    frames, mfcc = talking_clip(np.random.default_rng(100 + shift))        # a clip it has not seen
    if shift >= 0:
        audio = shift_audio(mfcc, shift, STEP)
    else:                                                                  # audio earlier than the video
        audio = np.concatenate([mfcc[-shift * STEP:], np.repeat(mfcc[-1:], -shift * STEP, axis=0)])
    return measure_sync(expert, frames, audio, max_offset=8)


def moving_and_static(expert: SyncExpert) -> tuple[float, float]:
    """Sync confidence of a talking clip and of its first frame held still, same audio."""
    frames, mfcc = talking_clip(np.random.default_rng(7))
    moving = measure_sync(expert, frames, mfcc, max_offset=8)
    static = measure_sync(expert, np.repeat(frames[:1], len(frames), axis=0), mfcc, max_offset=8)
    return moving.confidence, static.confidence


@pytest.fixture(scope="module")
def trained_expert() -> SyncExpert:
    return train_expert(0)


@pytest.mark.parametrize("shift", SHIFTS)
def test_trained_expert_recovers_an_imposed_audio_shift(trained_expert, shift):
    result = measure_shift(trained_expert, shift)
    assert result.offset == shift                # measured (tests/README.md): every seed and thread count
    assert result.confidence > 0.1               # measured: 0.288 or more


def test_static_face_has_lower_confidence_than_a_moving_one(trained_expert):
    moving, static = moving_and_static(trained_expert)
    assert moving > 3 * static                   # measured: 9.4 x or more


def test_checkpoint_round_trip(trained_expert, tmp_path):
    path = tmp_path / "sync_expert.pt"
    torch.save(sync_expert_checkpoint(trained_expert, {"note": "test"}), path)
    loaded = load_sync_expert(path)
    frames, mfcc = talking_clip(np.random.default_rng(3))
    a = measure_sync(trained_expert, frames, mfcc, 8)
    b = measure_sync(loaded, frames, mfcc, 8)
    assert a.offset == b.offset and b.confidence == pytest.approx(a.confidence, rel=1e-5)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="unreadable"):
        load_sync_expert(tmp_path / "bad.pt")
    with pytest.raises(DataError, match="does not exist"):
        load_sync_expert(tmp_path / "missing.pt")


def test_official_syncnet_loader_reads_the_public_layout_and_scores(tmp_path):
    torch.manual_seed(0)
    net = OfficialSyncNet()
    path = tmp_path / "syncnet_v2.model"
    torch.save({f"__S__.{k}": v for k, v in net.state_dict().items()}, path)   # as the public trainer saves it
    loaded = load_official_syncnet(path)
    key = "netcnnlip.0.weight"
    assert torch.equal(loaded.state_dict()[key], net.state_dict()[key])
    frames = np.random.default_rng(0).integers(0, 255, (9, 64, 64, 3), dtype=np.uint8)
    audio = np.random.default_rng(1).normal(0, 0.1, 16000 * 9 // 25).astype(np.float32)
    scores = lse(loaded, frames, audio)
    # 9 frames and 35 MFCC columns hold 4 windows (5 frames; 20 columns, 4 apart): offsets -2..2 (half the windows)
    assert list(scores.offsets) == [-2, -1, 0, 1, 2]
    assert lse(loaded, frames, audio, batch=3).distances == pytest.approx(scores.distances, rel=1e-4)
    with pytest.raises(DataError, match="too short"):
        lse(loaded, frames[:4], audio)
    assert speech_features_mfcc(audio).shape == (35, 13)   # 1 + ceil((5760 - 400) / 160) frames
    wrong = tmp_path / "wrong.model"
    torch.save({"conv.weight": torch.zeros(3)}, wrong)
    with pytest.raises(DataError, match="official SyncNet layout"):
        load_official_syncnet(wrong)
