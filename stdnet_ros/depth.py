"""Invalid depth: filled before the network, marked invalid again after it.

ToF sensors report no return as 0 (16UC1) or NaN/inf/<=0 (32FC1). The network
needs a dense input, so holes are filled with the nearest valid measurement;
the output is then invalid (NaN) wherever the input had no valid pixel within
one low-resolution pixel, so the network never invents depth out of nothing.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


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


def invalid_output(depth: np.ndarray, support: np.ndarray) -> np.ndarray:
    """HR pixels to report as invalid: no LR support (see output_support), or no positive depth."""
    return ~support | ~(depth > 0)


def output_support(valid: np.ndarray, scale: int) -> np.ndarray:
    """HR mask of pixels with a valid LR measurement in their 3x3 LR neighbourhood."""
    support = ndimage.maximum_filter(valid.astype(np.uint8), size=3, mode="constant") > 0
    return np.repeat(np.repeat(support, scale, axis=0), scale, axis=1)
