"""Classical upsamplers the network must beat: nearest, bicubic, and an RGB-guided filter.

They treat missing returns exactly like the engine does (nearest-valid fill
before, invalid again after, from stdnet_ros.streaming.validity), so every
method is scored on the same pixels. The guided method is OpenCV contrib's
``ximgproc.guidedFilter`` (He et al.) applied to the bicubic upsample with the
RGB image as guide: a maintained implementation, not our own.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from stdnet_ros.streaming.validity import fill_invalid, invalid_output, output_support, valid_mask

Upsampler = Callable[[np.ndarray, int, np.ndarray], np.ndarray]
# Guide-variance regulariser (squared 8-bit intensity units) and radius = scale: the best of a small
# grid (radius scale/2..2*scale, eps 0.01..0.1 of full range) on DyDToF x4/x8/x16, so the baseline
# is as strong as it gets, never a straw man.
GUIDED_EPS = (0.01 * 255) ** 2


def _nearest(filled: np.ndarray, scale: int, rgb: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(filled, scale, axis=0), scale, axis=1)


def _bicubic(filled: np.ndarray, scale: int, rgb: np.ndarray) -> np.ndarray:
    h, w = filled.shape
    return cv2.resize(filled, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)


def _guided(filled: np.ndarray, scale: int, rgb: np.ndarray) -> np.ndarray:
    return cv2.ximgproc.guidedFilter(rgb, _bicubic(filled, scale, rgb), scale, GUIDED_EPS)


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
