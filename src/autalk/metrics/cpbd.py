"""CPBD: the no-reference sharpness metric of Narvekar & Karam (IEEE TIP 2011), implemented from the paper.

The image is cut into 64x64 blocks; a block with more than 0.2 % Canny edge pixels is an edge block. In edge
blocks, the width of every Sobel edge pixel whose gradient is horizontal is measured as Marziliano et al. do (the
distance between the intensity extrema on either side along the row). Each width w is turned into the
probability of detecting blur, P = 1 - exp(-|w / w_JNB|^beta) with the just-noticeable-blur width w_JNB = 5 for
block contrast <= 50 and 3 above, beta = 3.6. CPBD is the cumulative probability of blur detection at
P_JNB = 63 %: the fraction of edges whose P (rounded to 1 %) is at most 0.63. Higher is sharper, in [0, 1].

Detail choices follow the reference MATLAB release and the Python port that talking-head papers report with
(validated against the port's values in tests/test_metrics.py): 8-bit luma input; Canny with sigma 1 and
hysteresis thresholds 0.1 / 0.2 on the 0-255 image; vertical Sobel edges thresholded and thinned as GNU Octave's
``edge`` does; gradient angle from central differences, quantised to 45 degrees, a pixel with
zero horizontal difference counting as angle 0 (as the reference code does).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import convolve
from skimage.feature import canny

BLOCK = 64
EDGE_BLOCK_FRACTION = 0.002
BETA = 3.6
P_JNB = 0.63
LOW_CONTRAST = 50  # block contrast (max - min grey level) at or below which w_JNB is 5, else 3

_SOBEL_X = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64) / 8.0


def to_luma(image: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3) or grey (H, W) -> 8-bit-valued luma as float64 (ITU-R 601 weights, rounded)."""
    image = np.asarray(image)
    if image.ndim == 3:
        image = np.round(image[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114]))
    elif image.ndim != 2:
        raise ValueError(f"CPBD needs a grey (H, W) or RGB (H, W, 3) image, got shape {image.shape}")
    return image.astype(np.float64)


def sobel_edges(gray: np.ndarray) -> np.ndarray:
    """Vertical edges (horizontal Sobel derivative): squared strength above twice the root of its mean,
    thinned to pixels stronger than both neighbours along the row or along the column (Octave's ``edge``)."""
    strength = convolve(gray, _SOBEL_X, mode="reflect") ** 2
    strength[strength <= 2.0 * np.sqrt(strength.mean())] = 0.0
    padded = np.pad(strength, 1, mode="constant")
    across_columns = (strength > padded[1:-1, :-2]) & (strength > padded[1:-1, 2:])
    across_rows = (strength > padded[:-2, 1:-1]) & (strength > padded[2:, 1:-1])
    return across_columns | across_rows


def _runs_right(mask: np.ndarray) -> np.ndarray:
    """For each position, how many consecutive True values start there going right (per row)."""
    runs = np.zeros(mask.shape, dtype=np.int64)
    for j in range(mask.shape[1] - 1, -1, -1):
        nxt = runs[:, j + 1] if j + 1 < mask.shape[1] else 0
        runs[:, j] = (nxt + 1) * mask[:, j]
    return runs


def _runs_left(mask: np.ndarray) -> np.ndarray:
    """For each position, how many consecutive True values end there coming from the left (per row)."""
    return _runs_right(mask[:, ::-1])[:, ::-1]


def edge_widths(edges: np.ndarray, gray: np.ndarray) -> np.ndarray:
    """Marziliano edge width at every edge pixel with a horizontal gradient (0 elsewhere).

    From the edge pixel at column n, each side's width is 1 plus the number of further steps over which the
    intensity keeps moving away from the edge (rising on the bright side, falling on the dark side), starting
    one pixel out; the edge width is the sum of the two sides.
    """
    rows, cols = gray.shape
    widths = np.zeros(gray.shape)
    if rows < 3 or cols < 5:
        return widths
    grad_y, grad_x = np.gradient(gray)
    angle = np.where(grad_x != 0, np.degrees(np.arctan2(grad_y, grad_x)), 0.0)
    angle = 45.0 * np.round(angle / 45.0)
    diff = gray[:, 1:] - gray[:, :-1]                        # diff[:, j] = A[j + 1] - A[j]
    rise_r, fall_r = _runs_right(diff > 0), _runs_right(diff < 0)
    rise_l, fall_l = _runs_left(diff > 0), _runs_left(diff < 0)
    interior = np.zeros(gray.shape, dtype=bool)
    interior[1:-1, 1:-1] = True
    n = np.arange(cols)
    right_idx = np.clip(n + 1, 0, cols - 2)                  # the step A[n+1] -> A[n+2]
    left_idx = np.clip(n - 2, 0, cols - 2)                   # the step A[n-2] -> A[n-1]
    has_right = (n + 2 <= cols - 1)[None, :]
    has_left = (n - 2 >= 0)[None, :]
    dark_to_bright = edges & interior & (angle == 0)         # intensity rises to the right
    bright_to_dark = edges & interior & (np.abs(angle) == 180)
    width_up = (1 + np.where(has_right, rise_r[:, right_idx], 0)) + (1 + np.where(has_left, rise_l[:, left_idx], 0))
    width_down = (1 + np.where(has_right, fall_r[:, right_idx], 0)) + (1 + np.where(has_left, fall_l[:, left_idx], 0))
    widths[dark_to_bright] = width_up[dark_to_bright]
    widths[bright_to_dark] = width_down[bright_to_dark]
    return widths


def cpbd(image: np.ndarray) -> float:
    """CPBD sharpness of one image (RGB or grey, 0-255); 0 when it has no edge block (e.g. a flat image)."""
    gray = to_luma(image)
    canny_edges = canny(gray, sigma=1.0, low_threshold=0.1, high_threshold=0.2)
    widths = edge_widths(sobel_edges(gray), gray)
    buckets = []
    for r in range(0, gray.shape[0] - BLOCK + 1, BLOCK):
        for c in range(0, gray.shape[1] - BLOCK + 1, BLOCK):
            block = (slice(r, r + BLOCK), slice(c, c + BLOCK))
            if canny_edges[block].sum() <= EDGE_BLOCK_FRACTION * BLOCK * BLOCK:
                continue
            w = widths[block]
            w = w[w != 0]
            contrast = np.floor(gray[block].max() - gray[block].min())
            w_jnb = 5.0 if contrast <= LOW_CONTRAST else 3.0
            p_blur = 1.0 - np.exp(-np.abs(w / w_jnb) ** BETA)
            buckets.append(np.round(p_blur * 100.0))
    if not buckets:
        return 0.0
    buckets = np.concatenate(buckets)
    if buckets.size == 0:
        return 0.0
    return float(np.mean(buckets <= round(P_JNB * 100)))


def cpbd_clip(frames: np.ndarray) -> float:
    """Mean CPBD over a clip's frames (T, H, W, 3)."""
    return float(np.mean([cpbd(f) for f in frames]))
