"""Classical upsamplers the network must beat: nearest, bicubic, and an RGB-guided filter.

They treat missing returns exactly like the engine does (nearest-valid fill
before, invalid again after, from stdnet_ros.depth), so every
method is scored on the same pixels. The guided method is OpenCV contrib's
``ximgproc.guidedFilter`` (He et al.) applied to the bicubic upsample with the
RGB image as guide: a maintained implementation, not our own.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from stdnet_ros.depth import fill_invalid, invalid_output, output_support, valid_mask

Upsampler = Callable[[np.ndarray, int, np.ndarray], np.ndarray]
# Per scale: (radius as a multiple of the scale, guide-variance regulariser in squared 8-bit units),
# the best of a grid (radius 0.5..2 x scale, eps 1.6..104) by pooled RMSE on 24 generated clips seen
# through the training sensor (``stdnet-ros tune --filter baseline``, docs/evaluation.md): as strong
# as the baseline gets without looking at the evaluation frames.
GUIDED_CONSTANTS: dict[int, tuple[float, float]] = {4: (1.5, 6.5), 8: (1.25, 1.6), 16: (1.0, 1.6)}


def _nearest(filled: np.ndarray, scale: int, rgb: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(filled, scale, axis=0), scale, axis=1)


def _bicubic(filled: np.ndarray, scale: int, rgb: np.ndarray) -> np.ndarray:
    h, w = filled.shape
    return cv2.resize(filled, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)


def guided(filled: np.ndarray, scale: int, rgb: np.ndarray, radius_x: float, eps: float) -> np.ndarray:
    """OpenCV's colour guided filter of the bicubic upsample, radius ``radius_x`` * scale."""
    return cv2.ximgproc.guidedFilter(rgb, _bicubic(filled, scale, rgb), max(1, round(radius_x * scale)), eps)


def _guided(filled: np.ndarray, scale: int, rgb: np.ndarray) -> np.ndarray:
    return guided(filled, scale, rgb, *GUIDED_CONSTANTS[scale])


BASELINES: dict[str, Upsampler] = {"nearest": _nearest, "bicubic": _bicubic, "guided": _guided}


def upsample(method: str, depth_lr: np.ndarray, scale: int, rgb: np.ndarray) -> np.ndarray:
    """HR depth (H, W) float32 metres from LR (h, w) metres with NaN holes; NaN where unsupported."""
    if method not in BASELINES:
        raise ValueError(f"unknown baseline {method!r}; known: {sorted(BASELINES)}")
    if rgb.shape[:2] != (depth_lr.shape[0] * scale, depth_lr.shape[1] * scale):
        raise ValueError(f"rgb {rgb.shape[:2]} is not {scale}x the depth {depth_lr.shape}")
    valid = valid_mask(depth_lr)
    filled = fill_invalid(depth_lr, valid)
    out = BASELINES[method](filled, scale, np.ascontiguousarray(rgb)).astype(np.float32)
    out[invalid_output(out, output_support(valid, scale))] = np.nan
    return out
