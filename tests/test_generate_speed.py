"""What makes ``autalk generate`` fast keeps its results (benchmarks/README.md, "autalk generate speed"): bf16
autocast only where the CPU has bf16 instructions, and then frames within a grey level or two of fp32's on
a trained generator; the photo's detector upsampled only when the first search finds no face; dlib's detector
loaded from a plain copy that finds the same faces; the mel filterbank built without librosa, equal to librosa's
bit for bit, and the DCT as a matrix, giving the same MFCC; and the command importing none of pandas, scipy or
librosa."""

from __future__ import annotations

import itertools
import json
import platform
import subprocess
import sys
from pathlib import Path

import cv2
import dlib
import numpy as np
import pytest
import soundfile
import torch
from skimage import data

from autalk.config import FaceConfig, MFCCConfig
from autalk.devices import autocast_dtype, native_bf16_cpu
from autalk.errors import ConfigError
from autalk.preprocess.audio import _mel_filters
from autalk.preprocess.dlib_models import DlibModels, detector_cache, frontal_face_detector, load_models
from autalk.preprocess.faces import align_photo, detect_faces
from photo_fixtures import GRID, SR, photo, tone, write_photo, write_untrained_checkpoint


# ------------------------------------------------------------------------------------------ bf16
def test_auto_precision_is_bf16_only_on_a_cpu_with_bf16_instructions():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert autocast_dtype("fp32", cpu) is None and autocast_dtype("bf16", cpu) is torch.bfloat16
    assert autocast_dtype("auto", cuda) is None and autocast_dtype("bf16", cuda) is torch.bfloat16
    assert autocast_dtype("auto", cpu) is (torch.bfloat16 if native_bf16_cpu() else None)
    with pytest.raises(ConfigError, match="precision 'half' is not one of auto, fp32, bf16"):
        autocast_dtype("half", cpu)
    cpuinfo = Path("/proc/cpuinfo")
    if platform.machine() in ("x86_64", "AMD64") and cpuinfo.is_file():   # torch's probe agrees with the kernel's
        flags = set(next(line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")).split())
        assert native_bf16_cpu() == bool(flags & {"avx512_bf16", "amx_bf16"})


@pytest.fixture(scope="module")
def trained_generator(tiny_workspace) -> Path:
    """The tiny demo's generator, trained by the workflow."""
    tiny_workspace.build("resources/demo/models/generator/full.pt")
    return tiny_workspace.path("resources/demo/models/generator/full.pt")


@pytest.mark.slow
def test_bf16_frames_are_within_a_grey_level_of_fp32_on_a_trained_generator(trained_generator, tmp_path):
    """Measured: 70 dB on this generator, 55.5-56.5 dB on the default demo's (``make demo``; one grey level on
    15-18% of the pixels), 69 dB on the paper-scale network untrained. 45 dB is far from any visible change: a
    frame that differs from the identity by a half-open mouth scores 22.8 dB (tests/test_trained_generator.py).
    Runs where bf16 is emulated too (slower), so the bound holds on every CPU."""
    from autalk.generate.photo import PhotoAnimator

    face = write_photo(data.astronaut()[:300, 100:400], tmp_path / "face.png")
    speech = tmp_path / "speech.wav"
    soundfile.write(str(speech), tone(3.0), SR)
    fp32, bf16 = (PhotoAnimator(trained_generator, "cpu", precision).animate(face, speech)
                  for precision in ("fp32", "bf16"))
    a, b = fp32.frames.astype(np.float64), bf16.frames.astype(np.float64)
    psnr = 10 * np.log10(255 ** 2 / max(np.mean((a - b) ** 2), 1e-12))
    assert psnr > 45 and np.abs(a - b).max() <= 3, (psnr, np.abs(a - b).max())
    assert np.array_equal(fp32.au_intensities, bf16.au_intensities)     # the AU networks always run in fp32


# ------------------------------------------------------------------------------------------ face detection
class CountingDetector:
    """dlib's detector, counting its searches and their upsampling."""

    def __init__(self, detector: dlib.fhog_object_detector):
        self.detector, self.upsampling = detector, []

    def run(self, image: np.ndarray, upsample: int, threshold: float):
        self.upsampling.append(upsample)
        return self.detector.run(image, upsample, threshold)


def test_photo_detector_upsamples_only_when_the_first_search_finds_no_face():
    """A face the configured search finds is detected once; one that needs one more upsampling level (a 140 px
    head in a 400 px photo: a ~52 px face, under HOG's 80 px window) is still found, by the second search."""
    real = load_models()
    cfg = FaceConfig()
    head = data.astronaut()[0:260, 120:380]
    small = np.full((400, 400, 3), (70, 110, 150), np.uint8)
    small[100:240, 120:260] = cv2.resize(head, (140, 140), interpolation=cv2.INTER_AREA)
    assert not detect_faces(real, cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), cfg)   # the case needs the fallback
    for image, searches in ((photo("astronaut"), [0]), (photo("large_face"), [0]), (small, [0, 1])):
        counting = CountingDetector(real.detector)
        face = align_photo(image, cfg, DlibModels(counting, real.predictor))
        assert counting.upsampling == searches and face.faces_found == 1
        assert face.crop.shape == (cfg.crop_size, cfg.crop_size, 3)


def test_detector_from_the_cache_finds_the_same_faces_as_dlibs_own(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cache = detector_cache()
    assert cache.parent == tmp_path / "cache" / "autalk" and not cache.exists()
    built_in = dlib.get_frontal_face_detector()
    assert isinstance(frontal_face_detector(), dlib.fhog_object_detector) and cache.is_file()
    monkeypatch.setattr(dlib, "get_frontal_face_detector", lambda: pytest.fail("the cache was not used"))
    cached = frontal_face_detector()
    for case, upsample in itertools.product(("astronaut", "large_face", "grid_frame", "tilted", "small_off_centre"),
                                            (0, 1)):
        gray = cv2.cvtColor(photo(case), cv2.COLOR_RGB2GRAY)
        (rects, scores, kinds), (cached_rects, cached_scores, cached_kinds) = (
            detector.run(gray, upsample, -0.5) for detector in (built_in, cached))   # weak candidates too
        assert rects or (case, upsample) == ("small_off_centre", 0), case       # a 50 px face needs 1
        assert [(r.left(), r.top(), r.right(), r.bottom()) for r in rects] == \
               [(r.left(), r.top(), r.right(), r.bottom()) for r in cached_rects]
        assert (scores, kinds) == (cached_scores, cached_kinds)
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cache.write_bytes(cache.read_bytes()[:1000])                            # cut short: made again
    assert frontal_face_detector().run(cv2.cvtColor(photo("astronaut"), cv2.COLOR_RGB2GRAY), 0, 0)[0]
    assert cache.stat().st_size > 1000
    locked = tmp_path / "locked"                                            # cannot be written: dlib's own
    locked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(locked))
    assert frontal_face_detector().run(cv2.cvtColor(photo("astronaut"), cv2.COLOR_RGB2GRAY), 0, 0)[0]


# ------------------------------------------------------------------------------------------ start-up
@pytest.mark.filterwarnings("ignore:Empty filters")  # librosa says so of some settings; ours too have them
def test_mel_filterbank_equals_librosas_bit_for_bit():
    import librosa.filters

    for rate, n_fft, n_mels, fmin, fmax in itertools.product((8000, 16000, 22050, 44100), (256, 512, 1024),
                                                             (13, 26, 40), (0.0, 300.0), (3700.0, 4000.0)):
        expected = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=True,
                                       norm=None).astype(np.float64)
        assert np.array_equal(_mel_filters(rate, n_fft, n_mels, fmin, fmax), expected), (rate, n_fft, n_mels)


class ScipyDCT:
    """Stands in for ``audio._dct_matrix(n)``: ``x @ ScipyDCT(n)[:m].T`` is ``scipy.fft.dct``, what ``mfcc`` used
    before (numpy leaves the product to it: ``__array_ufunc__`` None)."""

    __array_ufunc__ = None

    def __init__(self, n: int, keep: int | None = None):
        self.n, self.keep = n, keep

    def __getitem__(self, rows: slice) -> "ScipyDCT":
        return ScipyDCT(self.n, rows.stop)

    @property
    def T(self) -> "ScipyDCT":
        return self

    def __rmatmul__(self, x: np.ndarray) -> np.ndarray:
        import scipy.fft

        return scipy.fft.dct(x, type=2, norm="ortho", axis=1)[:, : self.keep]


def test_mfcc_with_the_dct_as_a_matrix_equal_scipys_on_real_speech(monkeypatch):
    """The DCT as a matrix product rounds differently from scipy's FFT-based one by ~1e-14; the float32 MFCC are
    equal on GRID's speech, a tone and noise from quiet to loud (a value within 1e-14 of a float32 rounding
    boundary would round the other way: about one in 10^7-10^8)."""
    from autalk.preprocess import audio

    cfg = MFCCConfig()
    rng = np.random.default_rng(0)
    signals = [audio.load_audio(path, cfg.sample_rate) for path in sorted(GRID.glob("*.mpg"))]
    signals += [tone(3.0)] + [(rng.normal(size=48000) * level).astype(np.float32) for level in (1e-3, 0.1, 1.0)]
    ours = [audio.mfcc(signal, cfg) for signal in signals]
    monkeypatch.setattr(audio, "_dct_matrix", ScipyDCT)
    for signal, mine in zip(signals, ours):
        assert np.array_equal(mine, audio.mfcc(signal, cfg))


def test_generate_imports_neither_pandas_nor_scipy_nor_librosa(tmp_path):
    """Each costs 0.2-0.5 s to import; none is needed for a recording at the model's rate without --save-aus
    (scipy not at all: its fft pulled in numpy.ma)."""
    checkpoint = write_untrained_checkpoint(tmp_path / "generator.pt")
    face = write_photo(data.astronaut()[:300, 100:400], tmp_path / "face.png")
    speech = tmp_path / "speech.wav"
    soundfile.write(str(speech), tone(1.0), SR)
    code = ("import sys, json; from autalk.cli import main; "
            f"status = main(['generate', '--checkpoint', {str(checkpoint)!r}, '--image', {str(face)!r}, "
            f"'--audio', {str(speech)!r}, '-o', {str(tmp_path / 'out.mp4')!r}, '--device', 'cpu']); "
            "print(json.dumps([status, sorted(m for m in ('pandas', 'scipy', 'librosa') if m in sys.modules)]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == [0, []]
    assert (tmp_path / "out.mp4").is_file()
