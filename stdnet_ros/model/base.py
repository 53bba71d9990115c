"""The upsample the network's depth residual is added to.

The published network adds its residual to a bilinear x4 of the (enlarged) LR
depth. A small network learns faster and ends better when that base is already
edge-aware, so the embedded model may use an RGB-guided filter (He et al.) of the
bilinear upsample instead: a closed-form, differentiable function with two
constants (radius as a multiple of the scale, and the regulariser eps) chosen on
synthetic data and stored in the checkpoint.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

BASES = ("bilinear", "guided")


def bilinear_x4(lr_up: torch.Tensor) -> torch.Tensor:
    """Bilinear x4 of the working-size depth: the published base."""
    return F.interpolate(lr_up, scale_factor=4, mode="bilinear", align_corners=False)


def box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window, shrunk at the borders (only valid pixels counted)."""
    return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)


def guided_filter(guide: torch.Tensor, src: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """Grey-guide guided filter of ``src`` (B, 1, H, W) by ``guide`` (B, 3, H, W) in [0, 1]."""
    grey = guide.mean(dim=1, keepdim=True)
    mean_i, mean_p = box(grey, radius), box(src, radius)
    cov = box(grey * src, radius) - mean_i * mean_p
    var = box(grey * grey, radius) - mean_i * mean_i
    a = cov / (var + eps)
    b = mean_p - a * mean_i
    return box(a, radius) * grey + box(b, radius)


def guided_radius(scale: int, radius_x: float) -> int:
    """The filter radius in full-size pixels for a model scale (at least one pixel)."""
    return max(1, round(radius_x * scale))
