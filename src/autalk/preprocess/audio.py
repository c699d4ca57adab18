"""Audio decoding and the MFCC features of the authors' recipe (docs/method.md).

MFCC conventions: pre-emphasis, Hamming windows of ``win_ms`` every ``hop_ms`` (column k covers
[k * hop, k * hop + win); the signal's tail is zero-padded so there are floor(n_samples / hop) columns, i.e.
exactly 100 per second at 10 ms), **magnitude** spectrum |FFT| over ``n_fft`` as the authors compute it
(``spectrum: power`` gives |FFT|^2 / n_fft, python_speech_features' default), HTK-style triangular mel filters
between ``fmin`` and ``fmax`` on the Hz axis (librosa's unnormalised HTK filterbank, built here bit for bit
without importing librosa, which costs ``autalk generate`` ~0.4 s to start), natural log, orthonormal
DCT-II (a matrix product: scipy.fft, which pulls in numpy.ma, takes ~0.2 s to import), sinusoidal lifter
1 + (L/2) sin(pi n / L) with n counted from c0 (HTK's; librosa's own lifter counts from 1), then c0 dropped.

Per-video-frame windows are **centred on their frame**: video frame v is shown from v / fps to (v + 1) / fps,
and its window of ``W`` columns is the one whose centre (column centres at k * hop + win / 2) is nearest the
middle of that interval. At 25 fps, 10 ms hop, 25 ms analysis window and W = 35 that is columns
[4v - 16, 4v + 19), the authors' pairing (their window j, columns [4j, 4j + 35), goes with video frame j + 4).
Every width is centred the same way (``window_start``). Where a window runs outside the audio, the missing
columns repeat the first or last one (edge padding: the clip's opening or closing sound, in GRID silence,
rather than zeros, which in cepstral space are no real sound).
"""

from __future__ import annotations

import functools
import logging
import subprocess
from math import ceil, gcd
from pathlib import Path

import numpy as np
import soundfile

from autalk.config import MFCCConfig
from autalk.errors import DataError
from autalk.preprocess.mpeg_audio import decode_program_stream

log = logging.getLogger(__name__)

SOUNDFILE_SUFFIXES = {".wav", ".flac", ".ogg", ".aiff", ".aif"}


def resample(signal: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return signal.astype(np.float32)
    import scipy.signal  # here, not at the top: ~0.5 s to import, and audio at the model's rate never needs it

    g = gcd(int(rate), int(target))
    return scipy.signal.resample_poly(signal, target // g, rate // g).astype(np.float32)


def load_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """Mono float32 samples at ``sample_rate`` from an audio file, or from the audio track of a video.

    A video's track is decoded by the ffmpeg binary of imageio-ffmpeg, except an MPEG program stream's Layer
    I/II track (GRID's), which is decoded in this process as ffmpeg would decode it (``mpeg_audio``): starting
    the ffmpeg child costs more than decoding such a track."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"audio source {path} does not exist")
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        try:
            data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        except (RuntimeError, soundfile.LibsndfileError) as err:
            raise DataError(f"audio file {path} is unreadable: {err}") from None
        return resample(data.mean(axis=1), rate, sample_rate)
    decoded = decode_program_stream(path)
    if decoded is not None:
        samples, rate = decoded
        resampled = ffmpeg_resample(ffmpeg_mono(samples), rate, sample_rate)
        if resampled is not None:
            return resampled
    return _ffmpeg_audio(path, sample_rate)


def ffmpeg_mono(samples: np.ndarray) -> np.ndarray:
    """float32 mono of int16 samples (n, 1 or 2), as ffmpeg's ``-ac 1`` makes it for float output: a stereo
    pair is summed with weights 1/sqrt(2) (libswresample's matrix, not normalised for float output), so the
    level is that of ffmpeg's decode and the QC's silence threshold means what it meant."""
    signal = samples.astype(np.float32) / np.float32(32768)
    if signal.shape[1] == 1:
        return signal[:, 0]
    weight = np.float32(np.sqrt(0.5))
    return signal[:, 0] * weight + signal[:, 1] * weight


@functools.lru_cache(maxsize=8)
def _swr_filters(rate: int, target: int) -> tuple[np.ndarray, int]:
    """libswresample's default polyphase filter bank for ``rate`` -> ``target`` Hz with its exact-rational
    phases: (filters (phases, taps) float32, index of the centre tap). Its defaults: 32 taps at the output's
    rate, cutoff 0.97 of the lower Nyquist frequency, Kaiser window with beta 9, each phase normalised by the
    sum of phase 0."""
    factor = min(target * 0.97 / rate, 1.0)
    taps = max(ceil(32 / factor), 1)
    taps += taps % 2 if taps > 1 else 0
    phases = target // gcd(rate, target)
    centre = (taps - 1) // 2
    x = np.pi * ((np.arange(taps) - centre) - np.arange(phases)[:, None] / phases) * factor
    with np.errstate(invalid="ignore", divide="ignore"):
        sinc = np.where(x == 0, 1.0, np.sin(x) / x)
    w = 2.0 * x / (factor * taps * np.pi)
    filters = sinc * np.i0(9.0 * np.sqrt(np.maximum(1 - w * w, 0)))
    filters /= filters[0].sum()
    if phases % 2 == 0:        # libswresample computes the first half and mirrors it onto the second
        half = phases // 2 + 1
        filters[half:] = filters[phases - np.arange(half, phases)][:, ::-1]
    return filters.astype(np.float32), centre


def ffmpeg_resample(signal: np.ndarray, rate: int, target: int) -> np.ndarray | None:
    """float32 ``signal`` resampled from ``rate`` to ``target`` Hz as ffmpeg's ``-ar`` does by default (to
    float rounding): libswresample's filter bank, output sample n at input time n * rate / target, the
    signal mirrored about its first sample before it and about its end after it. None where libswresample
    would not use exact phases (more than 1024 of them) or the signal is shorter than two filters."""
    if rate == target:
        return signal.astype(np.float32)
    filters, centre = _swr_filters(rate, target)
    phases, taps = filters.shape
    if phases > 1024 or signal.size < 2 * taps + 2:
        return None
    step = rate // gcd(rate, target)                       # input advance per output, in 1/phases of a sample
    padded = np.concatenate([signal[1:taps + 1][::-1], signal, signal[-((taps + 1) // 2):][::-1]])
    windows = np.lib.stride_tricks.sliding_window_view(padded, taps)
    last_start = signal.size + (taps + 1) // 2 - taps + centre     # the last input index a full window reaches
    n_out = ((last_start + 1) * phases - 1) // step + 1
    out = np.empty(n_out, np.float32)
    for k in range(min(phases, n_out)):                    # outputs k, k + phases, ... share one phase
        first, phase = divmod(k * step, phases)
        out[k::phases] = windows[taps - centre + first::step][: len(range(k, n_out, phases))] @ filters[phase]
    return out


def _ffmpeg_audio(path: Path, sample_rate: int) -> np.ndarray:
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0",
           "-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "-"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        if any("matches no streams" in line for line in message):
            raise DataError(f"{path} has no audio track")
        raise DataError(f"no audio could be decoded from {path}: {message[-1] if message else 'ffmpeg failed'}")
    samples = np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32)
    errors = proc.stderr.decode(errors="replace").strip().splitlines()
    if errors:                                      # ffmpeg skips what it cannot decode and still exits 0
        log.warning("audio %s decoded with %d error(s) (%s): parts may be missing; %.2f s decoded", path,
                    len(errors), errors[-1], samples.size / sample_rate)
    return samples


@functools.lru_cache(maxsize=8)
def _mel_filters(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangles on the FFT bins' frequencies, their corners equally spaced on the HTK
    mel scale from ``fmin`` to ``fmax``, peak 1; rounded through float32 as librosa's ``filters.mel(htk=True,
    norm=None)`` returns them, so the MFCC equal those of the librosa filterbank used before bit for bit."""
    def to_mel(hz: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    corners = 700.0 * (10.0 ** (np.linspace(to_mel(fmin), to_mel(fmax), n_mels + 2) / 2595.0) - 1.0)
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    widths = np.diff(corners)
    rising = (bins[None, :] - corners[:-2, None]) / widths[:-1, None]
    falling = (corners[2:, None] - bins[None, :]) / widths[1:, None]
    return np.maximum(0, np.minimum(rising, falling)).astype(np.float32).astype(np.float64)


@functools.lru_cache(maxsize=8)
def _dct_matrix(n: int) -> np.ndarray:
    """(n, n) orthonormal DCT-II, row k the k-th cosine: ``x @ m.T`` is ``scipy.fft.dct(x, type=2, norm="ortho")``
    to ~1e-14 (float64 rounding), which leaves the float32 MFCC equal on real speech (tests/test_generate_speed.py)."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    basis = np.cos(np.pi * k * (2 * i + 1) / (2 * n)) * np.sqrt(2.0 / n)
    basis[0] /= np.sqrt(2.0)
    return basis


def mfcc(signal: np.ndarray, cfg: MFCCConfig) -> np.ndarray:
    """(N, C) float32 MFCC, one row per hop (C = n_mfcc - 1 with c0 dropped)."""
    win = int(round(cfg.win_ms * cfg.sample_rate / 1000))
    hop = int(round(cfg.hop_ms * cfg.sample_rate / 1000))
    n_columns = signal.size // hop
    n_out = cfg.n_mfcc - (1 if cfg.drop_c0 else 0)
    if n_columns == 0:
        return np.zeros((0, n_out), dtype=np.float32)
    x = signal.astype(np.float64)
    x = np.append(x[:1], x[1:] - cfg.preemphasis * x[:-1])
    x = np.pad(x, (0, (n_columns - 1) * hop + win - x.size)) if (n_columns - 1) * hop + win > x.size else x
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop][:n_columns] * np.hamming(win)
    spectrum = np.abs(np.fft.rfft(frames, cfg.n_fft))
    if cfg.spectrum == "power":
        spectrum = spectrum ** 2 / cfg.n_fft
    energies = spectrum @ _mel_filters(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax).T
    cepstra = np.log(np.maximum(energies, np.finfo(np.float64).eps)) @ _dct_matrix(cfg.n_mels)[: cfg.n_mfcc].T
    if cfg.lifter > 0:
        cepstra *= 1 + (cfg.lifter / 2) * np.sin(np.pi * np.arange(cfg.n_mfcc) / cfg.lifter)
    return (cepstra[:, 1:] if cfg.drop_c0 else cepstra).astype(np.float32)


def window_start(cfg: MFCCConfig, width: int, frames: int = 1) -> int:
    """First MFCC column of the ``width``-column window centred on video frames 0 .. frames - 1 (frame v's own
    window starts ``cfg.step * v`` columns later). Negative: the window begins before the audio does."""
    hop = cfg.hop_ms
    middle = cfg.step * frames / 2 * hop                       # middle of the frames' display interval, in ms
    first_centre = cfg.win_ms / 2 + (width - 1) / 2 * hop      # centre of the window starting at column 0
    return int(np.floor((middle - first_centre) / hop + 0.5))


def column_windows(features: np.ndarray, count: int, width: int, step: int, start: int) -> np.ndarray:
    """(count, C, width): window i = columns [start + step * i, start + step * i + width), edge-padded on
    both sides where that runs outside ``features``."""
    if features.shape[0] == 0:
        raise DataError("no MFCC columns to window (empty audio)")
    index = np.clip(start + step * np.arange(count)[:, None] + np.arange(width)[None, :], 0, features.shape[0] - 1)
    return np.ascontiguousarray(features[index].transpose(0, 2, 1)).astype(np.float32)


def mfcc_windows(features: np.ndarray, n_frames: int, cfg: MFCCConfig) -> np.ndarray:
    """(n_frames, C, cfg.window): each video frame's audio window, centred on the frame (module docstring)."""
    return column_windows(features, n_frames, cfg.window, cfg.step, window_start(cfg, cfg.window))
