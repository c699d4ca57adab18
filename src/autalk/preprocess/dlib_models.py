"""dlib's HOG face detector and 68-point shape predictor, loaded once per process.

The predictor weights ship in the ``face_recognition_models`` wheel. Importing that package pulls in
``pkg_resources`` (deprecated, slow), so its folder is located with ``importlib.util.find_spec`` instead.
The detector is built into dlib, stored compressed; it is kept in plain form in the user's cache folder
(``frontal_face_detector``).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import dlib

from autalk.atomic import atomic_file
from autalk.errors import DataError

PREDICTOR_68 = "shape_predictor_68_face_landmarks.dat"


def model_path(name: str) -> Path:
    """Path of one model file of ``face_recognition_models``; a clear error if the wheel is missing."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the face_recognition_models package is not installed (it holds dlib's landmark model)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    if not path.is_file():
        raise DataError(f"dlib model file {path} is missing from face_recognition_models")
    return path


@dataclass(frozen=True)
class DlibModels:
    detector: "dlib.fhog_object_detector"
    predictor: "dlib.shape_predictor"


def detector_cache() -> Path:
    """Where the plain copy of dlib's detector is kept: ``$XDG_CACHE_HOME/autalk`` (default ``~/.cache``), one
    file per dlib version."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "autalk" / f"dlib-{dlib.__version__}-frontal_face_detector.svm"


def frontal_face_detector() -> dlib.fhog_object_detector:
    """dlib's HOG frontal face detector. dlib decodes it from a compressed, base64-encoded copy in its library,
    which takes ~0.3 s of CPU, a tenth of ``autalk generate`` on a 3 s clip and as much again in every
    preprocessing worker; saved once in dlib's plain serialised form (``detector_cache``), it loads in ~1 ms and
    finds the same faces with the same scores (tests/test_generate_speed.py). A cache that cannot be read is made
    again; one that cannot be written (a read-only home) leaves the built-in copy, decoded each time."""
    try:
        cache = detector_cache()
    except RuntimeError:                              # no home folder to keep it in
        return dlib.get_frontal_face_detector()
    try:
        return dlib.fhog_object_detector(str(cache))
    except RuntimeError:                              # not there yet, or unreadable
        pass
    detector = dlib.get_frontal_face_detector()
    try:
        with atomic_file(cache) as tmp:
            detector.save(str(tmp))
    except OSError:
        pass
    return detector


@functools.lru_cache(maxsize=1)
def load_models() -> DlibModels:
    return DlibModels(detector=frontal_face_detector(), predictor=dlib.shape_predictor(str(model_path(PREDICTOR_68))))
