"""Paste-back: the generated face crops carried back into the user's photo at the photo's own resolution.

The generator works on a small aligned crop (64-128 px); people expect a video of their photo. Each crop is
warped through the inverse of the similarity that aligned the photo's face, and only the lower face (jaw line
up to the middle of the nose, where speech moves the face) replaces the photo, through a mask feathered over a
few percent of the face so no seam shows. A constant per-channel colour offset, measured once over the mask
between the photo's own aligned face and the mean generated frame, removes a colour jump at the mask's edge
without flicker. Everything outside the mask is the photo's pixels, unchanged.

Frames are produced one at a time (``PastedFrames`` is a lazy sequence), so a long recording over a
12-megapixel photo never holds the whole video in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from autalk.preprocess.faces import PhotoFace

LOWER_FACE = list(range(2, 15)) + [29]   # jaw from cheek to cheek, closed over the middle of the nose
MASK_GROWTH = 1.2                        # the hull grows around its centre: an opening jaw moves below the photo's
FEATHER = 0.03                           # blur sigma of the mask's edge, as a share of the crop side


def lower_face_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(size, size) float32 alpha in crop pixels: 1 over the lower face, fading to 0 at the hull's grown edge
    (eroded first by the blur's reach so the fade stays inside the hull and the crop's border never shows)."""
    points = landmarks[LOWER_FACE].astype(np.float64)
    centre = points.mean(0)
    hull = cv2.convexHull(((points - centre) * MASK_GROWTH + centre).astype(np.float32))
    mask = np.zeros((size, size), np.float32)
    cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 1.0)
    sigma = max(1.0, FEATHER * size)
    reach = int(np.ceil(2 * sigma))
    mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1)))
    edge = np.zeros_like(mask)
    edge[reach:-reach, reach:-reach] = 1.0       # nothing from the crop's border (the warp's grey fill)
    return cv2.GaussianBlur(mask * edge, (2 * reach + 1, 2 * reach + 1), sigma)   # support ends at the hull


def colour_offset(identity: np.ndarray, crops: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-channel offset (3,) that brings the mean generated frame to the photo's face colour over the mask."""
    weight = mask[..., None] / max(float(mask.sum()), 1e-6)
    mean_generated = crops.mean(axis=0, dtype=np.float64)
    return ((identity.astype(np.float64) - mean_generated) * weight).sum(axis=(0, 1))


@dataclass
class Region:
    """The box of the photo the pasted lower face can touch, and the crop -> box warp."""

    x0: int
    y0: int
    x1: int
    y1: int
    matrix: np.ndarray           # (2, 3) crop pixels -> box pixels

    def warp(self, crop: np.ndarray, flags: int = cv2.INTER_CUBIC) -> np.ndarray:
        return cv2.warpAffine(crop, self.matrix, (self.x1 - self.x0, self.y1 - self.y0), flags=flags,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def photo_region(matrix: np.ndarray, mask: np.ndarray, photo_shape: tuple[int, ...]) -> Region:
    """The photo box covering the mask's support, clipped to the photo (a face may sit at its edge)."""
    inverse = cv2.invertAffineTransform(matrix)
    ys, xs = np.nonzero(mask > 1e-3)
    corners = np.array([[xs.min(), ys.min()], [xs.max() + 1, ys.min()], [xs.min(), ys.max() + 1],
                        [xs.max() + 1, ys.max() + 1]], np.float64)
    mapped = corners @ inverse[:, :2].T + inverse[:, 2]
    h, w = photo_shape[:2]
    x0, y0 = np.clip(np.floor(mapped.min(0)).astype(int) - 1, 0, [w, h])
    x1, y1 = np.clip(np.ceil(mapped.max(0)).astype(int) + 1, 0, [w, h])
    shifted = inverse.copy()
    shifted[:, 2] -= (x0, y0)
    return Region(int(x0), int(y0), int(x1), int(y1), shifted)


class PastedFrames:
    """The photo with each generated crop's lower face blended in: a lazy sequence of (H, W, 3) uint8 frames
    (``side_by_side``: photo | result, 2W + gap wide)."""

    def __init__(self, photo: np.ndarray, face: PhotoFace, crops: np.ndarray, side_by_side: bool = False,
                 gap: int = 8):
        self.photo = np.ascontiguousarray(photo, dtype=np.uint8)
        self.crops = crops
        mask = lower_face_mask(face.landmarks, crops.shape[1])
        self.offset = colour_offset(face.crop, crops, mask).astype(np.float32)
        self.region = photo_region(face.matrix, mask, self.photo.shape)
        r = self.region
        self.alpha = r.warp(mask, cv2.INTER_LINEAR)[..., None]
        self.background = self.photo[r.y0:r.y1, r.x0:r.x1].astype(np.float32)
        self.side_by_side = side_by_side
        self.bar = np.full((self.photo.shape[0], gap, 3), 255, np.uint8)

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, index: int) -> np.ndarray:
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        r = self.region
        generated = r.warp(np.clip(self.crops[index].astype(np.float32) + self.offset, 0, 255))
        frame = self.photo.copy()
        blended = self.background + self.alpha * (generated - self.background)
        frame[r.y0:r.y1, r.x0:r.x1] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
        if self.side_by_side:
            return np.concatenate([self.photo, self.bar, frame], axis=1)
        return frame

    @property
    def alpha_in_photo(self) -> np.ndarray:
        """(H, W) float32 blend weight of the generated face over the whole photo (0 where the photo is kept)."""
        full = np.zeros(self.photo.shape[:2], np.float32)
        r = self.region
        full[r.y0:r.y1, r.x0:r.x1] = self.alpha[..., 0]
        return full
