"""What makes ``autalk generate`` fast keeps its results (benchmarks/README.md, "autalk generate speed"): the
photo's detector upsampled only when the first search finds no face; dlib's detector loaded from a plain copy
that finds the same faces; the mel filterbank built without librosa, equal to librosa's bit for bit."""

from __future__ import annotations

import itertools

import cv2
import dlib
import numpy as np
import pytest
from skimage import data

from autalk.config import FaceConfig
from autalk.preprocess.audio import _mel_filters
from autalk.preprocess.dlib_models import DlibModels, detector_cache, frontal_face_detector, load_models
from autalk.preprocess.faces import align_photo, detect_faces
from photo_fixtures import photo


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
