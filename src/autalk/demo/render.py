"""Frames: move the 68 landmarks by the articulation parameters and warp the photograph to follow them.

The warp is piecewise affine over a fixed triangulation of the landmarks plus fixed points on the border of a
face region. It is computed backwards in one ``cv2.remap`` per frame: each output pixel is taken back through
the head-motion similarity into the canonical face, assigned to the triangle that covers it there (a
triangle-index image drawn with ``cv2.fillConvexPoly``), and mapped to the photograph by that triangle's
affine transform. Pixels outside the face region follow the head motion alone. This costs a few ms per
360x288 frame, where warping each triangle over the whole frame costs ~50 ms.

The mouth interior (dark cavity, upper and lower teeth) is painted where the inner lips part, because the
photographs' own mouths are closed or smiling and cannot be stretched into an open mouth.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

JAW = np.arange(0, 17)
UPPER_LID = {37: 41, 38: 40, 43: 47, 44: 46}  # upper-lid point -> the lower-lid point it closes onto
INNER_UPPER = [61, 62, 63]
INNER_LOWER = [67, 66, 65]
OUTER_UPPER = [49, 50, 51, 52, 53]
OUTER_LOWER = [59, 58, 57, 56, 55]
_SUPERSAMPLE = 4


def inter_ocular(points: np.ndarray) -> float:
    """Distance between the eye centres: the unit every displacement is measured in."""
    return float(np.linalg.norm(points[36:42].mean(0) - points[42:48].mean(0)))


def mouth_opening(points: np.ndarray) -> np.ndarray:
    """Mean inner-lip gap (pixels) of (..., 68, 2) landmarks: what dlib sees of AU25/AU26."""
    return (points[..., INNER_LOWER, 1] - points[..., INNER_UPPER, 1]).mean(-1)


@dataclass
class Mesh:
    """A triangulation of the 68 landmarks plus fixed border points of ``roi`` (x0, y0, x1, y1)."""

    triangles: np.ndarray  # (K, 3) indices into the 68 landmarks followed by ``border``
    border: np.ndarray  # (B, 2) points that never move
    roi: tuple[int, int, int, int]


def make_mesh(shape: np.ndarray, roi: tuple[int, int, int, int], step: int = 40) -> Mesh:
    """Delaunay triangles over ``shape`` (a representative pose, mouth open so the lips get their own
    triangles) and points spaced ~``step`` px along the region's border."""
    x0, y0, x1, y1 = roi
    nx, ny = max(2, round((x1 - x0) / step) + 1), max(2, round((y1 - y0) / step) + 1)
    xs, ys = np.linspace(x0, x1, nx), np.linspace(y0, y1, ny)
    border = np.unique(np.concatenate([
        np.stack([xs, np.full_like(xs, y0)], 1), np.stack([xs, np.full_like(xs, y1)], 1),
        np.stack([np.full_like(ys, x0), ys], 1), np.stack([np.full_like(ys, x1), ys], 1)]), axis=0)
    triangles = Delaunay(np.concatenate([shape, border])).simplices.astype(np.int32)
    return Mesh(triangles, border.astype(np.float64), roi)


def _triangle_affines(src: np.ndarray, dst: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per triangle the 2x3 affine taking dst points to src points, and whether dst is non-degenerate."""
    d = np.concatenate([dst[triangles], np.ones((len(triangles), 3, 1))], axis=2).transpose(0, 2, 1)  # (K,3,3)
    s = src[triangles].transpose(0, 2, 1)  # (K,2,3)
    det = np.linalg.det(d)
    valid = np.abs(det) > 0.5  # twice the area, in px^2: skip collapsed triangles (a closed mouth)
    affines = np.zeros((len(triangles), 2, 3))
    affines[valid] = s[valid] @ np.linalg.inv(d[valid])
    return affines, valid


class Warper:
    """Warps one photograph; the pixel grid and triangle data are kept between frames."""

    def __init__(self, image: np.ndarray, source: np.ndarray, mesh: Mesh):
        self.image = image
        self.source = np.concatenate([source, mesh.border])
        self.mesh = mesh
        h, w = image.shape[:2]
        self.grid_x, self.grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))

    def __call__(self, shape: np.ndarray, motion: np.ndarray | None = None) -> np.ndarray:
        """The photograph with its landmarks moved to ``shape`` (canonical pose), then moved rigidly by the
        2x3 similarity ``motion`` (None: no head motion)."""
        x0, y0, x1, y1 = self.mesh.roi
        dst = np.concatenate([shape, self.mesh.border])
        affines, valid = _triangle_affines(self.source, dst, self.mesh.triangles)
        index = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint16)  # 0: no triangle (identity)
        scale = 1 << 4
        for k in np.flatnonzero(valid):
            corners = np.round((dst[self.mesh.triangles[k]] - (x0, y0)) * scale).astype(np.int32)
            cv2.fillConvexPoly(index, corners, int(k) + 1, cv2.LINE_8, 4)
        inv = np.array([[1, 0, 0], [0, 1, 0]], np.float32) if motion is None else cv2.invertAffineTransform(motion)
        inv = inv.astype(np.float32)
        map_x = inv[0, 0] * self.grid_x + inv[0, 1] * self.grid_y + inv[0, 2]
        map_y = inv[1, 0] * self.grid_x + inv[1, 1] * self.grid_y + inv[1, 2]
        # Only output pixels whose canonical position can fall in the face region need the triangles.
        corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], np.float64)
        if motion is not None:
            corners = move_rigidly(corners, motion)
        h, w = map_x.shape
        bx0, by0 = np.maximum(np.floor(corners.min(0)).astype(int) - 2, 0)
        bx1, by1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 3, [w, h])
        qx, qy = map_x[by0:by1, bx0:bx1], map_y[by0:by1, bx0:bx1]
        ix = np.rint(qx).astype(np.int32) - x0
        iy = np.rint(qy).astype(np.int32) - y0
        inside = (ix >= 0) & (iy >= 0) & (ix < index.shape[1]) & (iy < index.shape[0])
        tri = np.zeros(qx.shape, np.int32)
        tri[inside] = index[iy[inside], ix[inside]]
        table = np.concatenate([[[[1, 0, 0], [0, 1, 0]]], affines]).astype(np.float32)  # entry 0: identity
        a = table[tri]
        sx = a[..., 0, 0] * qx + a[..., 0, 1] * qy + a[..., 0, 2]
        sy = a[..., 1, 0] * qx + a[..., 1, 1] * qy + a[..., 1, 2]
        map_x[by0:by1, bx0:bx1], map_y[by0:by1, bx0:bx1] = sx, sy
        return cv2.remap(self.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def move_rigidly(points: np.ndarray, motion: np.ndarray) -> np.ndarray:
    return points @ motion[:, :2].T + motion[:, 2]


def head_motion(centre: np.ndarray, angle_deg: float, scale: float, shift: np.ndarray) -> np.ndarray:
    """A 2x3 similarity: rotation and scale about ``centre`` (the nose), then a shift."""
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle_deg, scale)
    m[:, 2] += shift
    return m


# ------------------------------------------------------------------------------------------ landmark motion
def _lip_columns(width: int) -> np.ndarray:
    """Weights of the 5 upper/lower lip columns: full in the middle, less towards the corners."""
    return np.array([0.55, 0.9, 1.0, 0.9, 0.55])[:width]


INNER_COLUMNS = np.array([0.9, 1.0, 0.9])  # the inner lower lip opens as a U, not a V


def articulate(rest: np.ndarray, params: np.ndarray, blink: float = 0.0) -> np.ndarray:
    """Landmarks of a neutral face ``rest`` (68, 2) moved by the five parameters (jaw, lip_part, stretch,
    round, upper_raise; each 0..1) and an eye closure ``blink`` (0..1). Displacements scale with the
    inter-ocular distance u: at full value the chin drops 0.45u, the inner lips part by 0.5u, each
    corner moves out 0.12u (stretch) or in 0.15u (round), the upper lip rises 0.12u."""
    jaw, lip_part, stretch, rnd, upper = params
    u = inter_ocular(rest)
    p = rest.astype(np.float64).copy()
    # Jaw: the chin and the lower jaw line drop, weighted by closeness to the chin.
    weight = np.clip(1 - np.abs(JAW - 8) / 6.0, 0, 1)
    p[JAW, 1] += jaw * 0.45 * u * weight
    # Lips part: a quarter of the gap is the upper lip rising, the rest the lower lip dropping.
    gap = lip_part * 0.5 * u
    cols = _lip_columns(5)
    p[OUTER_UPPER, 1] -= 0.15 * gap * cols
    p[INNER_UPPER, 1] -= 0.25 * gap * cols[1:4]
    p[OUTER_LOWER, 1] += 0.75 * gap * cols
    p[INNER_LOWER, 1] += 0.75 * gap * INNER_COLUMNS
    p[[48, 54, 60, 64], 1] += 0.2 * gap  # the corners follow the mouth's centre down a little
    # Upper-lip raise lifts the upper lip (outer more than inner) off the teeth.
    p[OUTER_UPPER, 1] -= upper * 0.12 * u * cols
    p[INNER_UPPER, 1] -= upper * 0.05 * u * cols[1:4]
    # Stretch pulls the corners out; rounding pulls them in and pushes the lips' middle out (taller mouth).
    centre_x = rest[[48, 54], 0].mean()
    side = np.sign(p[48:68, 0] - centre_x)
    reach = np.abs(rest[48:68, 0] - centre_x) / max(1e-6, abs(rest[54, 0] - centre_x))
    p[48:68, 0] += side * reach ** 2 * (stretch * 0.12 - rnd * 0.15) * u
    p[[50, 51, 52], 1] -= rnd * 0.05 * u * cols[1:4]
    p[[58, 57, 56], 1] += rnd * 0.05 * u * cols[1:4]
    # Blink: the upper lids close onto the lower lids.
    for up, low in UPPER_LID.items():
        p[up] += blink * 0.9 * (rest[low] - rest[up])
    return p


# ------------------------------------------------------------------------------------------ mouth interior
def _polygon_alpha(polygons: list[np.ndarray], origin: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Anti-aliased coverage (0..1) of filled polygons in a (h, w) box at ``origin``, by supersampling."""
    h, w = size
    big = np.zeros((h * _SUPERSAMPLE, w * _SUPERSAMPLE), np.uint8)
    for poly in polygons:
        pts = np.round((poly - origin + 0.5) * _SUPERSAMPLE * 16 - 8).astype(np.int32)
        cv2.fillPoly(big, [pts], 255, cv2.LINE_8, 4)
    return cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _smooth_curve(points: np.ndarray, samples: int = 8) -> np.ndarray:
    """A Catmull-Rom curve through the points (ends held), so the painted lips are round, not polygonal."""
    p = np.concatenate([points[:1], points, points[-1:]])
    t = np.linspace(0, 1, samples, endpoint=False)[:, None]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3))
    return np.concatenate(out + [points[-1:]])


def paint_mouth(frame: np.ndarray, points: np.ndarray, teeth: np.ndarray, cavity: np.ndarray) -> None:
    """Paint the mouth interior inside the inner-lip outline (in place): a dark cavity, the upper teeth
    below the upper lip and, when the mouth is wider open, the lower teeth above the lower lip; teeth fade
    into shadow towards the corners."""
    gap = float(mouth_opening(points))
    if gap < 0.3:
        return
    u = inter_ocular(points)
    upper_line = _smooth_curve(points[[60, 61, 62, 63, 64]])
    lower_line = _smooth_curve(points[[64, 65, 66, 67, 60]])
    inner = np.concatenate([upper_line, lower_line])
    lo = np.maximum(np.floor(inner.min(0)).astype(int) - 1, 0)
    hi = np.minimum(np.ceil(inner.max(0)).astype(int) + 2, [frame.shape[1], frame.shape[0]])
    if np.any(hi - lo < 2):
        return
    size = (hi[1] - lo[1], hi[0] - lo[0])
    mouth = _polygon_alpha([inner], lo, size)
    upper_h = min(0.15 * u, 0.55 * gap)
    lower_h = min(0.05 * u, max(0.0, 0.25 * gap - 0.04 * u))
    upper_teeth = np.concatenate([upper_line, (upper_line + [0, upper_h])[::-1]])
    teeth_alpha = _polygon_alpha([upper_teeth], lo, size)
    if lower_h > 0.3:
        lower_teeth = np.concatenate([lower_line, (lower_line - [0, lower_h])[::-1]])
        teeth_alpha = np.maximum(teeth_alpha, 0.6 * _polygon_alpha([lower_teeth], lo, size))
    cx, half = (points[60, 0] + points[64, 0]) / 2, max(1.0, (points[64, 0] - points[60, 0]) / 2)
    xs = np.arange(lo[0], hi[0], dtype=np.float32)
    teeth_alpha *= np.clip(1.4 * (1 - np.abs(xs - cx) / half), 0, 1)[None, :] ** 0.6
    rows = np.linspace(0.0, 1.0, size[0], dtype=np.float32)[:, None, None]
    cav = cavity[None, None, :] * (1.0 - 0.35 * np.sin(np.pi * rows))
    t = teeth_alpha[..., None]
    colour = t * teeth[None, None, :] * (1.0 - 0.12 * rows) + (1 - t) * cav
    region = frame[lo[1]:hi[1], lo[0]:hi[0]].astype(np.float32)
    alpha = mouth[..., None]
    frame[lo[1]:hi[1], lo[0]:hi[0]] = np.clip(alpha * colour + (1 - alpha) * region + 0.5, 0, 255).astype(np.uint8)
