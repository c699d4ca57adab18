"""Face detection, tracking and similarity alignment (dlib HOG detector + 68-point predictor).

Speed comes from not paying full detection on every frame: a frame's landmarks are fitted inside a box
predicted from the previous frame's landmarks, and the HOG detector runs only every ``detect_every`` frames or
when the fit degrades (the landmarks jump, the face's scale drifts, or the aligned upper face stops looking like
the one seen at the last detection: the predictor always returns 68 points, even where there is no face).

``faithful`` mode (``align_video_faithful``) instead does what the authors' script does per frame: a detection
with upsampling 1, the 68-point fit in the detector's box, the alignment from those landmarks alone; a clip with
any frame without a face is dropped.

Tracked frames stream through in chunks of about ``CHUNK_BYTES`` with a small look-ahead buffer (a gap of at
most K frames, plus the smoothing half window), so memory does not grow with clip length or resolution. Each
chunk is decoded, then its landmarks are fitted one after the other, then its crops are warped. dlib's fit
reads megabytes of regression trees and slows when other work comes between two fits, the more so where other
processes share the CPU's caches: the stage takes ~10% less time per clip this way (benchmarks/README.md).
Short gaps are filled by linear interpolation between the faces on either side (held at the clip's ends);
longer ones reject the clip.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import cv2
import dlib
import numpy as np

from autalk.config import FaceConfig
from autalk.errors import DataError
from autalk.preprocess.dlib_models import DlibModels
from autalk.preprocess.qc import Rejection
from autalk.preprocess.template import template_points

APPEARANCE_SIZE = 32          # side of the aligned grey patch compared with the last detection's
SCALE_DRIFT = 1.25            # re-detect when the face grows or shrinks by this factor since the last detection
# Where dlib's detector (upsampling 1) puts its box relative to the bounding box of the 68 points it leads to:
# centre offset (x, y) and size (w, h), as fractions of the landmark box's width and height. The mean over
# the packaged photographs at 12 scales (0.5x to 1.6x), each also mirrored; ``template.measure_track_box``
# re-measures it and a test holds the two together. The predictor fits closer and steadier from this one
# placement than from each detection's own box (benchmarks/README.md).
TRACK_BOX = (0.0, -0.070, 1.051, 1.074)
CHUNK_BYTES = 16 << 20        # frames decoded, then fitted, then warped together (module docstring)


# ------------------------------------------------------------------------------------------ geometry
def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (scale, rotation, translation; no reflection) mapping ``src`` onto ``dst``,
    as a 2x3 matrix. Closed form of 2-D Procrustes: the points as complex numbers, one complex regression."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    norm = (s * s).sum()
    if norm <= 0:
        raise DataError("similarity fit on coincident points")
    a = (s * d).sum() / norm
    b = (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum() / norm
    rot = np.array([[a, -b], [b, a]])
    return np.hstack([rot, (mu_d - rot @ mu_s)[:, None]])


def apply_transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


class Aligner:
    """Maps landmarks to the crop: Procrustes onto the template (in its ``template_size`` frame) composed with
    the resize to ``crop_size``, so each frame is warped once, straight to the stored size."""

    def __init__(self, cfg: FaceConfig):
        self.points = np.asarray(cfg.align_points)
        if self.points.min() < 0 or self.points.max() > 67 or len(self.points) < 2:
            raise DataError(f"faces.align_points must be at least two indices in 0..67, got {cfg.align_points}")
        self.template = template_points(cfg.template_size, cfg.template)[self.points]
        self.scale = cfg.crop_size / cfg.template_size
        self.size = cfg.crop_size
        self.border = (cfg.border_value,) * 3

    def transform(self, landmarks: np.ndarray) -> np.ndarray:
        return similarity_transform(landmarks[self.points], self.template) * self.scale

    def warp(self, image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        return cv2.warpAffine(image, matrix, (self.size, self.size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=self.border)


# ------------------------------------------------------------------------------------------ dlib calls
def fit_landmarks(models: DlibModels, gray: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    rect = dlib.rectangle(*(int(round(v)) for v in box))
    shape = models.predictor(gray, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def detect_faces(models: DlibModels, gray: np.ndarray, cfg: FaceConfig) -> list[tuple[tuple, float]]:
    """Faces scoring at least the threshold, as ((left, top, right, bottom), score) in full-frame pixels.
    Frames larger than ``detect_max_side`` are searched at reduced size (HOG's cost grows with the area; faces
    in such frames are far above its 80 px minimum)."""
    scale = min(1.0, cfg.detect_max_side / max(gray.shape))
    small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    rects, scores, _ = models.detector.run(small, cfg.detector_upsample, cfg.detector_threshold)
    return [((r.left() / scale, r.top() / scale, r.right() / scale, r.bottom() / scale), s)
            for r, s in zip(rects, scores) if s >= cfg.detector_threshold]


def small_face(models: DlibModels, gray: np.ndarray | None, cfg: FaceConfig) -> tuple[float, int] | None:
    """When no face was found: (width px, upsampling that finds it) of a face too small for the detector at
    ``cfg.detector_upsample`` (HOG's window is 80 px, halved by each upsampling), or None if there is none."""
    if gray is None:
        return None
    for extra in (1, 2):
        search = dataclasses.replace(cfg, detector_upsample=cfg.detector_upsample + extra,
                                     detect_max_side=max(gray.shape))
        faces = detect_faces(models, gray, search)
        if faces:
            (left, _, right, _), _ = max(faces, key=lambda face: face[1])
            return right - left, search.detector_upsample
    return None


def _landmark_box(landmarks: np.ndarray) -> np.ndarray:
    lo, hi = landmarks.min(0), landmarks.max(0)
    return np.concatenate([(lo + hi) / 2, np.maximum(hi - lo, 1.0)])   # cx, cy, w, h


def box_on_landmarks(landmark_box: np.ndarray) -> tuple[float, float, float, float]:
    """The box (left, top, right, bottom) that ``TRACK_BOX`` places on a landmark box (cx, cy, w, h)."""
    cx, cy, w, h = landmark_box
    rx, ry, rw, rh = TRACK_BOX
    bcx, bcy, bw, bh = cx + rx * w, cy + ry * h, rw * w, rh * h
    return bcx - bw / 2, bcy - bh / 2, bcx + bw / 2, bcy + bh / 2


# ------------------------------------------------------------------------------------------ tracking
@dataclass
class TrackStats:
    detections: int = 0          # full HOG detections run
    multi_face_detections: int = 0


class FaceTracker:
    """Per-frame landmarks: detect, then track from the previous frame's landmarks until the fit degrades.

    The predictor's answer depends on the box it starts from, and a detector box carries noise of its own (it
    is quantised to the image pyramid's levels). So every fit after a detection starts from a box placed on
    the last landmarks in one fixed way (``TRACK_BOX``), and a periodic detection that finds the tracked face
    again only confirms the track instead of restarting it from the detector's box."""

    def __init__(self, cfg: FaceConfig, models: DlibModels):
        self.cfg = cfg
        self.models = models
        self.aligner = Aligner(dataclasses.replace(cfg, crop_size=APPEARANCE_SIZE))
        # Rows of the appearance patch above the nose base: the part of the face that speech does not move.
        self.upper_rows = max(4, int(round(template_points(APPEARANCE_SIZE, cfg.template)[33, 1])))
        self.stats = TrackStats()
        self.prev: np.ndarray | None = None
        self.since_detect = 0
        self.detect_size = 1.0
        self.reference: np.ndarray | None = None
        self.run = sys.maxsize       # frames fitted ahead of their checks (``track``)

    def _appearance(self, gray: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        patch = self.aligner.warp(gray, self.aligner.transform(landmarks))[: self.upper_rows].astype(np.float32)
        patch -= patch.mean()
        return patch / (np.linalg.norm(patch) + 1e-6)

    def _degraded(self, gray: np.ndarray, landmarks: np.ndarray) -> bool:
        if np.abs(landmarks - self.prev).sum(1).mean() > self.cfg.redetect_jump_px:
            return True
        size = _landmark_box(landmarks)[2:].mean() / self.detect_size
        if not 1 / SCALE_DRIFT <= size <= SCALE_DRIFT:
            return True
        return float((self._appearance(gray, landmarks) * self.reference).sum()) < self.cfg.redetect_min_similarity

    def track(self, grays: list[np.ndarray]) -> list[np.ndarray | None]:
        """Landmarks (68, 2) of each of these consecutive frames in its pixels, or None where no face is found.

        A run of frames is fitted back to back, each from the previous fit, before any of them is checked; a
        check that calls for a detection (a degraded fit, or a periodic detection that does not confirm the
        track) ends the run there, and the fits after it are done again from what the detection found. The
        result is what fitting and checking one frame at a time gives. A run is the rest of the chunk until
        such a detection; then it restarts at one frame and doubles while the checks pass, so a clip that keeps
        losing its face refits at most about as many frames as it keeps."""
        found: list[np.ndarray | None] = []
        while len(found) < len(grays):
            if self.prev is None:
                self.since_detect += 1
                found.append(self._detect(grays[len(found)]))
                continue
            run = grays[len(found):len(found) + self.run]
            for gray, landmarks in zip(run, self._fit_run(run)):
                self.since_detect += 1
                if self._degraded(gray, landmarks):
                    found.append(self._detect(gray))
                    self.run = 1
                    break
                if self.since_detect >= self.cfg.detect_every:
                    found.append(self._detect(gray, tracked=landmarks))
                    if found[-1] is not landmarks:
                        self.run = 1
                        break
                    continue
                self.prev = landmarks
                found.append(landmarks)
            else:
                self.run = min(2 * self.run, len(grays))
        return found

    def _fit_run(self, grays: list[np.ndarray]) -> list[np.ndarray]:
        """Each frame's fit from a box placed on the previous frame's fit, the first from ``self.prev``."""
        fits, landmarks = [], self.prev
        for gray in grays:
            landmarks = fit_landmarks(self.models, gray, box_on_landmarks(_landmark_box(landmarks)))
            fits.append(landmarks)
        return fits

    def _detect(self, gray: np.ndarray, tracked: np.ndarray | None = None) -> np.ndarray | None:
        """Run the detector; with ``tracked`` landmarks, a detection centred on them confirms the track."""
        self.since_detect = 0
        self.stats.detections += 1
        faces = detect_faces(self.models, gray, self.cfg)
        if not faces:
            self.prev = None
            return None
        if len(faces) > 1:
            self.stats.multi_face_detections += 1
        boxes = np.array([f[0] for f in faces])
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        if tracked is not None:
            x0, y0, x1, y1 = box_on_landmarks(_landmark_box(tracked))
            near = np.abs(centres - [(x0 + x1) / 2, (y0 + y1) / 2]) < [(x1 - x0) / 4, (y1 - y0) / 4]
            if np.any(near.all(axis=1)):
                self.prev = tracked
                return tracked
        if self.prev is not None:        # keep following the same person
            pick = int(np.argmin(np.linalg.norm(centres - _landmark_box(self.prev)[:2], axis=1)))
        else:                            # the largest face is the speaker's
            pick = int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
        first = _landmark_box(fit_landmarks(self.models, gray, tuple(boxes[pick])))
        landmarks = fit_landmarks(self.models, gray, box_on_landmarks(first))   # as the next frames will be fitted
        self.detect_size = float(first[2:].mean())
        self.reference = self._appearance(gray, landmarks)
        self.prev = landmarks
        return landmarks


# ------------------------------------------------------------------------------------------ a whole clip
def _chunks(frames: Iterable[np.ndarray]) -> Iterator[list[np.ndarray]]:
    """Consecutive frames in lists of about ``CHUNK_BYTES``."""
    chunk: list[np.ndarray] = []
    for frame in frames:
        chunk.append(frame)
        if len(chunk) * frame.nbytes >= CHUNK_BYTES:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass
class AlignedFaces:
    """One clip's faces at the output frame rate; landmarks in crop pixels unless named raw."""

    crops: np.ndarray            # (T, S, S, 3) uint8 RGB
    landmarks: np.ndarray        # (T, 68, 2) float32
    landmarks_raw: np.ndarray    # (T, 68, 2) float32, source pixels
    transforms: np.ndarray       # (T, 2, 3) float32, source -> crop
    interpolated: np.ndarray     # (T,) bool
    stats: TrackStats = field(default_factory=TrackStats)

    @property
    def n_frames(self) -> int:
        return int(self.crops.shape[0])


def align_video(frames: Iterable[np.ndarray], cfg: FaceConfig, models: DlibModels, max_gap: int) -> AlignedFaces:
    """Track, gap-fill, optionally smooth, and align every (BGR) frame. Raises ``Rejection`` with
    ``no_face``, ``face_lost`` (a gap longer than ``max_gap``) or ``several_faces`` (two or more faces at most
    full detections); ``unreadable_video`` when no frame arrives at all.

    ``smoothing`` (a centred moving average over 2*(w//2)+1 frames) is applied to the landmarks that drive the
    alignment only: it steadies the crop, while the stored landmarks stay the per-frame fits (lip motion is
    what training learns, and averaging would blur it)."""
    tracker = FaceTracker(cfg, models)
    aligner = Aligner(cfg)
    half = cfg.smoothing // 2
    raw: list[np.ndarray | None] = []
    interpolated: list[bool] = []
    pending: dict[int, np.ndarray] = {}        # frames waiting for their landmarks to become final
    out_crops, out_lms, out_raw, out_tf = [], [], [], []
    last_found = -1
    first_found = -1

    def emit(upto: int) -> None:
        for t in range(len(out_crops), upto + 1):
            lo, hi = max(0, t - half), min(len(raw) - 1, t + half)
            driving = np.mean(raw[lo:hi + 1], axis=0) if half else raw[t]
            matrix = aligner.transform(driving)
            frame = pending.pop(t)
            out_crops.append(cv2.cvtColor(aligner.warp(frame, matrix), cv2.COLOR_BGR2RGB))
            out_lms.append(apply_transform(matrix, raw[t]))
            out_raw.append(raw[t])
            out_tf.append(matrix)

    for chunk in _chunks(frames):
        for frame, landmarks in zip(chunk, tracker.track([cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in chunk])):
            index = len(raw)
            raw.append(landmarks)
            interpolated.append(False)
            if first_found < 0 and landmarks is None:
                if index >= max_gap:      # the clip is rejected; keep looking only to name the reason
                    continue
                pending[index] = frame
                continue
            pending[index] = frame
            if landmarks is None:
                if index - last_found > max_gap:
                    raise Rejection("face_lost", f"no face from frame {last_found + 1} for more than {max_gap} "
                                                 "frames (K = qc.max_face_gap)")
                continue
            if first_found < 0:
                first_found = index
                if index > max_gap:
                    raise Rejection("face_lost", f"no face in the first {index} frames (more than {max_gap})")
                for t in range(index):    # hold the first face over a short leading gap
                    raw[t], interpolated[t] = landmarks, True
            else:
                gap = index - last_found - 1
                for k in range(1, gap + 1):   # linear interpolation over a short inner gap
                    w = k / (gap + 1)
                    raw[last_found + k] = (1 - w) * raw[last_found] + w * landmarks
                    interpolated[last_found + k] = True
            last_found = index
            emit(last_found - half)

    if not raw:
        raise Rejection("unreadable_video", "no frame could be decoded")
    if first_found < 0:
        first = pending.get(0)
        small = small_face(models, None if first is None else cv2.cvtColor(first, cv2.COLOR_BGR2GRAY), cfg)
        if small is not None:
            raise Rejection("no_face", f"face too small: about {small[0]:.0f} px wide, below what the detector finds "
                                       f"at preprocess.faces.detector_upsample {cfg.detector_upsample}; set it to "
                                       f"{small[1]} or use larger video")
        raise Rejection("no_face", f"no face with score >= {cfg.detector_threshold} in any of {len(raw)} frames")
    if tracker.stats.multi_face_detections * 2 > tracker.stats.detections:
        raise Rejection("several_faces", f"two or more faces at {tracker.stats.multi_face_detections} of "
                                         f"{tracker.stats.detections} detections")
    for t in range(last_found + 1, len(raw)):    # hold the last face over a short trailing gap
        raw[t], interpolated[t] = raw[last_found], True
    emit(len(raw) - 1)
    return AlignedFaces(crops=np.stack(out_crops), landmarks=np.stack(out_lms).astype(np.float32),
                        landmarks_raw=np.stack(out_raw).astype(np.float32),
                        transforms=np.stack(out_tf).astype(np.float32),
                        interpolated=np.array(interpolated, dtype=bool), stats=tracker.stats)


def _best_box(faces: list[tuple[tuple, float]]) -> tuple:
    """The largest detected face's box: the speaker's."""
    return max(faces, key=lambda f: (f[0][2] - f[0][0]) * (f[0][3] - f[0][1]))[0]


def align_video_faithful(frames: Iterable[np.ndarray], cfg: FaceConfig, models: DlibModels) -> AlignedFaces:
    """The authors' per-frame alignment: detection with upsampling 1 on every frame (score >= the threshold),
    the 68-point fit in the largest face's box, the similarity from that frame's landmarks. No tracking, no
    smoothing, no gap filling: a frame without a face rejects the clip (``no_face``, naming the frame)."""
    detect_cfg = dataclasses.replace(cfg, detector_upsample=1, detect_max_side=1 << 30)
    aligner = Aligner(cfg)
    stats = TrackStats()
    crops, landmarks, raw, transforms = [], [], [], []
    for index, frame in enumerate(frames):
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        faces = detect_faces(models, gray, detect_cfg)
        stats.detections += 1
        if not faces:
            raise Rejection("no_face", f"no face with score >= {cfg.detector_threshold} in frame {index} "
                                       "(faithful mode drops the clip)")
        stats.multi_face_detections += len(faces) > 1
        points = fit_landmarks(models, gray, _best_box(faces))
        matrix = aligner.transform(points)
        crops.append(cv2.cvtColor(aligner.warp(frame, matrix), cv2.COLOR_BGR2RGB))
        landmarks.append(apply_transform(matrix, points))
        raw.append(points)
        transforms.append(matrix)
    if not crops:
        raise Rejection("unreadable_video", "no frame could be decoded")
    return AlignedFaces(crops=np.stack(crops), landmarks=np.stack(landmarks).astype(np.float32),
                        landmarks_raw=np.stack(raw).astype(np.float32),
                        transforms=np.stack(transforms).astype(np.float32),
                        interpolated=np.zeros(len(crops), dtype=bool), stats=stats)


@dataclass
class PhotoFace:
    """The largest face of one photograph, aligned; ``matrix`` maps photo pixels to crop pixels, so its inverse
    carries a generated crop back into the photo (paste-back)."""

    crop: np.ndarray             # (S, S, 3) uint8 RGB
    landmarks: np.ndarray        # (68, 2) float32 in crop pixels
    matrix: np.ndarray           # (2, 3) similarity, photo -> crop
    faces_found: int


def align_photo(image_rgb: np.ndarray, cfg: FaceConfig, models: DlibModels) -> PhotoFace:
    """One photograph's largest face (e.g. a user's identity image), aligned as the training clips were.
    The detector searches at its configured upsampling, and one level more only where that finds no face (a
    photo's face may be smaller than a video's); the extra level searches 4x the pixels, up to ~65 ms of
    ``autalk generate``. ``faces_found`` counts the faces of the search that found the face."""
    gray = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)
    for extra in (0, 1):
        faces = detect_faces(models, gray, dataclasses.replace(cfg, detector_upsample=cfg.detector_upsample + extra))
        if faces:
            break
    if not faces:
        raise DataError(f"no face found in the image (dlib score >= {cfg.detector_threshold})")
    landmarks = fit_landmarks(models, gray, _best_box(faces))
    aligner = Aligner(cfg)
    matrix = aligner.transform(landmarks)
    return PhotoFace(aligner.warp(image_rgb, matrix), apply_transform(matrix, landmarks).astype(np.float32),
                     matrix, len(faces))


def align_image(image_rgb: np.ndarray, cfg: FaceConfig, models: DlibModels) -> tuple[np.ndarray, np.ndarray]:
    """One photograph's aligned crop (RGB) and its landmarks in crop pixels."""
    face = align_photo(image_rgb, cfg, models)
    return face.crop, face.landmarks
