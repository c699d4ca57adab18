"""dlib's HOG face detector and 68-point shape predictor, loaded once per process.

The predictor weights ship in the ``face_recognition_models`` wheel. Importing that package pulls in
``pkg_resources`` (deprecated, slow), so its folder is located with ``importlib.util.find_spec`` instead.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import dlib

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


@functools.lru_cache(maxsize=1)
def load_models() -> DlibModels:
    return DlibModels(detector=dlib.get_frontal_face_detector(),
                      predictor=dlib.shape_predictor(str(model_path(PREDICTOR_68))))
