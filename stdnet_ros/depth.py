"""The package's depth convention, in one place: what is valid, and what the network sees.

Inside the package depth is float32 metres with NaN where the sensor gave no
return (REP 117/118: ToF sensors report no return as 0 in 16UC1 or
NaN/inf/<=0 in 32FC1; ``conversion.py`` maps both to NaN). The network needs
a dense input, so holes are filled with the nearest valid measurement and
depth is divided by ``max_depth`` and clipped to [0, 1]; the output is then
invalid (NaN) wherever the input had no valid pixel within one low-resolution
pixel, so the network never invents depth out of nothing. Conversion, data
readers, training, evaluation and the streaming engine all import these
functions, so they cannot drift apart.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

RGB_FULL_SCALE = 255.0  # uint8 RGB divided by this is the guide image in [0, 1]


def valid_mask(depth: np.ndarray) -> np.ndarray:
    return np.isfinite(depth) & (depth > 0)


def fill_invalid(depth: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Nearest-valid fill; an all-invalid frame becomes zeros (and its output all invalid)."""
    if valid.all():
        return depth.astype(np.float32, copy=False)
    if not valid.any():
        return np.zeros_like(depth, dtype=np.float32)
    _, (iy, ix) = ndimage.distance_transform_edt(~valid, return_indices=True)
    return depth[iy, ix].astype(np.float32)


def network_depth(depth: np.ndarray, max_depth: float, valid: np.ndarray | None = None) -> np.ndarray:
    """(h, w) metres -> the network's depth input: holes filled, / ``max_depth``, in [0, 1], float32."""
    filled = fill_invalid(depth, valid_mask(depth) if valid is None else valid)
    return np.clip(filled / max_depth, 0.0, 1.0).astype(np.float32, copy=False)


def network_guide(rgb: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) uint8 RGB -> the network's guide values in [0, 1], float32 (channels still last)."""
    return rgb.astype(np.float32) / RGB_FULL_SCALE


def invalid_output(depth: np.ndarray, support: np.ndarray) -> np.ndarray:
    """HR pixels to report as invalid: no LR support (see output_support), or no positive depth."""
    return ~support | ~(depth > 0)


def output_support(valid: np.ndarray, scale: int) -> np.ndarray:
    """HR mask of pixels with a valid LR measurement in their 3x3 LR neighbourhood."""
    support = ndimage.maximum_filter(valid.astype(np.uint8), size=3, mode="constant") > 0
    return np.repeat(np.repeat(support, scale, axis=0), scale, axis=1)
