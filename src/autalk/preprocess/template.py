"""The fixed mean-face templates that every frame is aligned onto (``faces.template``).

``authors`` (the default): the mean face of the paper authors' public GRID preprocessing script, 68 points in
a 224 px frame (``assets/authors_template_224.csv``, copied from their script; their list stops at index 66, so
index 67, the left lower inner-lip point, is completed here as the mirror of index 65 about index 66). It is a
tight full-face crop: the jaw spans 0.87 of the width and the chin touches the bottom edge.

``autalk``: our own, wider crop (jaw 0.62 of the width, room for the forehead and chin). Derivation (reproducible,
offline): dlib's 68 landmarks of the two packaged face photographs
(``skimage.data.astronaut()`` cropped to head and shoulders, matplotlib's ``grace_hopper.jpg``), each also
mirrored left-right with the iBUG point correspondence, so the template is exactly symmetric and frontal.
The four shapes are averaged by generalised Procrustes analysis (similarity-align to the running mean until
it stops moving). The mean is then placed in a unit square: upright (eye line horizontal), face width
(jaw point 0 to 16) ``FACE_WIDTH`` of the side, the centre of the landmarks' bounding box at
(0.5, ``CENTRE_Y``), which leaves room for the forehead above the brows and the chin below, as the
full-face 224 crops of this line of work do. The result is stored in ``assets/face_template.csv`` so the
template never changes with a dlib version; ``python -m autalk.preprocess.template`` rewrites it and a
test checks that the derivation still gives the stored numbers.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

ASSETS = Path(__file__).resolve().parents[1] / "assets"
TEMPLATE_FILE = ASSETS / "face_template.csv"
AUTHORS_TEMPLATE_FILE = ASSETS / "authors_template_224.csv"
AUTHORS_FRAME = 224
FACE_WIDTH = 0.62
CENTRE_Y = 0.55
TRACK_BOX_SCALES = np.linspace(0.5, 1.6, 12)  # photo scales ``measure_track_box`` measures at by default

# Index of each iBUG-68 point's mirror image (left <-> right).
MIRROR_68 = np.array(
    list(range(16, -1, -1))                      # jaw
    + list(range(26, 16, -1))                    # brows
    + [27, 28, 29, 30]                           # nose bridge
    + [35, 34, 33, 32, 31]                       # nostrils
    + [45, 44, 43, 42, 47, 46]                   # right eye -> left eye
    + [39, 38, 37, 36, 41, 40]                   # left eye -> right eye
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65]           # inner lips
)


def mirror_landmarks(points: np.ndarray, width: float) -> np.ndarray:
    """Landmarks of the left-right mirrored image (x -> width - x, points relabelled)."""
    out = points[MIRROR_68].copy()
    out[:, 0] = width - out[:, 0]
    return out


def _procrustes_mean(shapes: list[np.ndarray], iterations: int = 50) -> np.ndarray:
    from autalk.preprocess.faces import apply_transform, similarity_transform

    mean = shapes[0] - shapes[0].mean(0)
    mean /= np.linalg.norm(mean)
    for _ in range(iterations):
        aligned = [apply_transform(similarity_transform(s, mean), s) for s in shapes]
        new = np.mean(aligned, axis=0)
        new -= new.mean(0)
        new /= np.linalg.norm(new)
        done = np.abs(new - mean).max() < 1e-10
        mean = new
        if done:
            break
    return mean


def _photos() -> list[np.ndarray]:
    """The packaged face photographs (RGB): the astronaut cropped to head and shoulders, Grace Hopper."""
    import cv2
    import matplotlib
    import skimage.data

    astronaut = np.ascontiguousarray(skimage.data.astronaut()[0:300, 60:380])
    hopper = cv2.cvtColor(cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")),
                          cv2.COLOR_BGR2RGB)
    return [astronaut, hopper]


def _best_face(image: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(box (left, top, right, bottom), landmarks) of the highest-scoring face dlib finds with upsampling 1."""
    from autalk.preprocess.dlib_models import load_models

    models = load_models()
    boxes, scores, _ = models.detector.run(image, 1, 0.0)
    if not boxes:
        return None
    box = boxes[int(np.argmax(scores))]
    shape = models.predictor(image, box)
    return (np.array([box.left(), box.top(), box.right(), box.bottom()], dtype=np.float64),
            np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64))


def _photo_landmarks() -> list[tuple[np.ndarray, int]]:
    """(landmarks, image width) of each packaged photograph, found with dlib."""
    return [(_best_face(image)[1], image.shape[1]) for image in _photos()]


def measure_track_box(scales: np.ndarray = TRACK_BOX_SCALES) -> np.ndarray:
    """Where dlib's detector box sits relative to the bounding box of its landmarks (``faces.TRACK_BOX``):
    centre offset (x, y) and size (w, h) in fractions of the landmark box, averaged over the packaged
    photographs at ``scales``, each also mirrored."""
    import cv2

    from autalk.preprocess.faces import _landmark_box

    relations = []
    for photo in _photos():
        for scale in scales:
            resized = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            for image in (resized, np.ascontiguousarray(resized[:, ::-1])):
                found = _best_face(image)
                if found is None:
                    continue
                box, landmarks = found
                cx, cy, w, h = _landmark_box(landmarks)
                relations.append(np.concatenate([((box[:2] + box[2:]) / 2 - [cx, cy]) / [w, h],
                                                 (box[2:] - box[:2]) / [w, h]]))
    return np.mean(relations, axis=0)


def derive_template() -> np.ndarray:
    """The template in unit coordinates (68, 2), derived from the packaged photographs as documented above."""
    shapes = []
    for points, width in _photo_landmarks():
        shapes += [points, mirror_landmarks(points, width)]
    mean = _procrustes_mean(shapes)
    eyes = mean[42:48].mean(0) - mean[36:42].mean(0)
    angle = -np.arctan2(eyes[1], eyes[0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    mean = mean @ rot.T
    mean *= FACE_WIDTH / np.linalg.norm(mean[16] - mean[0])
    centre = (mean.min(0) + mean.max(0)) / 2
    return mean - centre + np.array([0.5, CENTRE_Y])


@functools.lru_cache(maxsize=2)
def _unit_template(name: str) -> np.ndarray:
    if name == "autalk":
        return np.loadtxt(TEMPLATE_FILE, delimiter=",", dtype=np.float64)
    if name != "authors":
        raise ValueError(f"unknown face template {name!r} (known: authors, autalk)")
    table = np.loadtxt(AUTHORS_TEMPLATE_FILE, delimiter=",", skiprows=3, dtype=np.float64)
    points = np.full((68, 2), np.nan)
    points[table[:, 0].astype(int)] = table[:, 1:]
    points[67] = [2 * points[66, 0] - points[65, 0], points[65, 1]]
    return points / AUTHORS_FRAME


def template_points(size: int, name: str = "authors") -> np.ndarray:
    """The 68 points (x, y) of template ``name`` (``authors`` or ``autalk``) in a ``size`` x ``size`` frame."""
    return _unit_template(name) * size


def write_template(path: Path = TEMPLATE_FILE) -> None:
    np.savetxt(path, derive_template(), delimiter=",", fmt="%.6f",
               header="autalk mean-face template: 68 iBUG points (x, y) in a unit square; "
                      "see autalk/preprocess/template.py for the derivation")


if __name__ == "__main__":
    write_template()
