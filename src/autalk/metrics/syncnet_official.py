"""LSE-D / LSE-C with the official SyncNet weights (Chung & Zisserman 2016, as Wav2Lip's evaluation uses them),
for users who supply the ``syncnet_v2.model`` file (``sync_expert.official_syncnet``): it cannot be downloaded here.

The network is the public "S" model: an audio stream over a 13 x 20 MFCC map (200 ms) and a 3-D convolutional
lip stream over 5 colour face frames at 224 x 224, each ending in a 1024-d embedding. The weight file is a plain
state dict with the keys of that layout (``netcnnaud.*``, ``netfcaud.*``, ``netcnnlip.*``, ``netfclip.*``; a
``__S__.`` or ``module.`` prefix is accepted). Its audio features are python_speech_features' MFCC (26 filters
over 0-8 kHz, 13 cepstra, c0 replaced by the log frame energy, lifter 22) of 16 kHz int16-scaled audio; its
frames are BGR 0-255 face crops. LSE-D is the minimum of the mean distance over offsets +-15 frames; LSE-C is
the median minus that minimum, as in the sync expert.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import scipy.fft
import torch
from torch import nn

from autalk.errors import DataError
from autalk.metrics.sync import SyncResult, distance_curve, sync_from_curve
from autalk.models.checkpoints import read_checkpoint

SAMPLE_RATE = 16000
FACE_SIZE = 224
VSHIFT = 15


def _bn_relu(layer: nn.Module, channels: int, dims: int) -> list[nn.Module]:
    bn = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[dims]
    return [layer, bn(channels), nn.ReLU(inplace=True)]


class OfficialSyncNet(nn.Module):
    def __init__(self, embedding: int = 1024):
        super().__init__()
        self.netcnnaud = nn.Sequential(
            *_bn_relu(nn.Conv2d(1, 64, 3, padding=1), 64, 2), nn.MaxPool2d(1, 1),
            *_bn_relu(nn.Conv2d(64, 192, 3, padding=1), 192, 2), nn.MaxPool2d(3, (1, 2)),
            *_bn_relu(nn.Conv2d(192, 384, 3, padding=1), 384, 2),
            *_bn_relu(nn.Conv2d(384, 256, 3, padding=1), 256, 2),
            *_bn_relu(nn.Conv2d(256, 256, 3, padding=1), 256, 2), nn.MaxPool2d(3, 2),
            *_bn_relu(nn.Conv2d(256, 512, (5, 4)), 512, 2))
        self.netfcaud = nn.Sequential(*_bn_relu(nn.Linear(512, 512), 512, 1), nn.Linear(512, embedding))
        self.netfclip = nn.Sequential(*_bn_relu(nn.Linear(512, 512), 512, 1), nn.Linear(512, embedding))
        self.netcnnlip = nn.Sequential(
            *_bn_relu(nn.Conv3d(3, 96, (5, 7, 7), (1, 2, 2)), 96, 3), nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            *_bn_relu(nn.Conv3d(96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)), 256, 3),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            *_bn_relu(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), 256, 3),
            *_bn_relu(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), 256, 3),
            *_bn_relu(nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), 256, 3), nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            *_bn_relu(nn.Conv3d(256, 512, (1, 6, 6)), 512, 3))

    def embed_audio(self, mfcc: torch.Tensor) -> torch.Tensor:
        """(N, 1, 13, 20) -> (N, 1024)."""
        return self.netfcaud(self.netcnnaud(mfcc).flatten(1))

    def embed_video(self, clips: torch.Tensor) -> torch.Tensor:
        """(N, 3, 5, 224, 224) BGR 0-255 -> (N, 1024)."""
        return self.netfclip(self.netcnnlip(clips).flatten(1))


def load_official_syncnet(path: str | Path, device: str | torch.device = "cpu") -> OfficialSyncNet:
    state = read_checkpoint(path, None, "official SyncNet weights file", "set sync_expert.official_syncnet")
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise DataError(f"{path} is not a SyncNet state dict")
    state = {k.removeprefix("module.").removeprefix("__S__."): v for k, v in state.items()}
    net = OfficialSyncNet()
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise DataError(f"{path} does not have the official SyncNet layout: missing {missing[:4]}, "
                        f"unexpected {unexpected[:4]}")
    return net.requires_grad_(False).to(device).eval()


def speech_features_mfcc(signal: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(N, 13) MFCC after python_speech_features' defaults (the features SyncNet was trained on): 25 ms
    rectangular frames every 10 ms, 512-point power spectrum, 26 mel filters, log, DCT, lifter 22, c0 replaced
    by the log frame energy. Its filters are triangles rounded to FFT bins; librosa's HTK filterbank here is a
    close approximation, not bit-identical."""
    import librosa.filters

    x = np.asarray(signal, np.float64) * 32768.0            # the int16 scale of the wav files SyncNet read
    x = np.append(x[:1], x[1:] - 0.97 * x[:-1])
    win, hop, nfft = int(0.025 * sample_rate), int(0.01 * sample_rate), 512
    n = 1 + int(np.ceil((max(len(x), win) - win) / hop))
    x = np.pad(x, (0, (n - 1) * hop + win - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop][:n]
    power = np.abs(np.fft.rfft(frames, nfft)) ** 2 / nfft
    energy = np.maximum(power.sum(1), np.finfo(float).eps)
    mel = librosa.filters.mel(sr=sample_rate, n_fft=nfft, n_mels=26, fmin=0, fmax=sample_rate / 2, htk=True, norm=None)
    feat = np.log(np.maximum(power @ mel.T, np.finfo(float).eps))
    cep = scipy.fft.dct(feat, type=2, norm="ortho", axis=1)[:, :13]
    cep *= 1 + 11 * np.sin(np.pi * np.arange(13) / 22)
    cep[:, 0] = np.log(energy)
    return cep.astype(np.float32)


@torch.no_grad()
def lse(net: OfficialSyncNet, frames: np.ndarray, audio: np.ndarray, batch: int = 20) -> SyncResult:
    """LSE-D (``min_distance``) and LSE-C (``confidence``) of RGB face frames (T, S, S, 3) and 16 kHz audio."""
    device = next(net.parameters()).device
    faces = np.stack([cv2.resize(f, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_CUBIC)[..., ::-1] for f in frames])
    video = torch.from_numpy(faces.astype(np.float32)).permute(3, 0, 1, 2)        # (3, T, 224, 224)
    mfcc = torch.from_numpy(speech_features_mfcc(audio).T.copy())                  # (13, N)
    n = min(len(frames) - 4, (mfcc.shape[1] - 20) // 4 + 1)
    if n < 1:
        raise DataError("clip too short for SyncNet (5 frames and 200 ms of audio needed)")
    v, a = [], []
    for s in range(0, n, batch):
        idx = range(s, min(n, s + batch))
        v.append(net.embed_video(torch.stack([video[:, i:i + 5] for i in idx]).to(device)))
        a.append(net.embed_audio(torch.stack([mfcc[None, :, 4 * i:4 * i + 20] for i in idx]).to(device)))
    return sync_from_curve(*distance_curve(torch.cat(v), torch.cat(a), VSHIFT))
