"""The upsample the network's depth residual is added to.

The published network adds its residual to a bilinear x4 of the (enlarged) LR
depth. A small network learns faster and ends better when that base is already
edge-aware, so the embedded model may use the classical baseline itself instead:
an RGB-guided filter (He et al.) of the bicubic upsample, a closed-form,
differentiable function with two constants (radius as a multiple of the scale,
and the regulariser eps) chosen on synthetic data and stored in the checkpoint.
The network then only has to learn what the filter gets wrong: the edges.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

BASES = ("bilinear", "guided")


def bilinear_x4(lr_up: torch.Tensor) -> torch.Tensor:
    """Bilinear x4 of the working-size depth: the published base."""
    return F.interpolate(lr_up, scale_factor=4, mode="bilinear", align_corners=False)


def bicubic(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic x``scale`` of the LR depth (a = -0.75, as OpenCV's INTER_CUBIC): the guided base's input."""
    return F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False)


def box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window, shrunk at the borders (only valid pixels counted).

    Done as a row mean of column means: the valid part of a window is a rectangle, so this is the
    same mean, at 2(2r+1) reads a pixel instead of (2r+1)^2 (x16's radius 24: 98 against 2,401).
    """
    k = 2 * radius + 1
    rows = F.avg_pool2d(x, (1, k), stride=1, padding=(0, radius), count_include_pad=False)
    return F.avg_pool2d(rows, (k, 1), stride=1, padding=(radius, 0), count_include_pad=False)


def guided_filter(guide: torch.Tensor, src: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """Colour-guide guided filter of ``src`` (B, 1, H, W) by ``guide`` (B, 3, H, W) in [0, 1].

    Per window, ``src`` is fitted as a linear function of the three colour channels (He et al.,
    eq. 14); the 3x3 covariance is inverted in closed form. Always float32: eps ~ 1e-4 makes the
    determinants ~1e-12, below what half precision holds.
    """
    with torch.autocast(guide.device.type, enabled=False):
        g, p = guide.float(), src.float()
        mean_g, mean_p = box(g, radius), box(p, radius)
        cov = box(g * p, radius) - mean_g * mean_p  # (B, 3, H, W)
        pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
        var = [box(g[:, i : i + 1] * g[:, j : j + 1], radius) - mean_g[:, i : i + 1] * mean_g[:, j : j + 1]
               for i, j in pairs]  # fmt: skip
        rr, rg, rb, gg, gb, bb = var
        rr, gg, bb = rr + eps, gg + eps, bb + eps
        inv = [gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb,  # adjugate rows of the symmetric
               rr * bb - rb * rb, rg * rb - rr * gb, rr * gg - rg * rg]  # fmt: skip
        det = rr * inv[0] + rg * inv[1] + rb * inv[2]
        c0, c1, c2 = cov[:, 0:1], cov[:, 1:2], cov[:, 2:3]
        a = torch.cat([inv[0] * c0 + inv[1] * c1 + inv[2] * c2,
                       inv[1] * c0 + inv[3] * c1 + inv[4] * c2,
                       inv[2] * c0 + inv[4] * c1 + inv[5] * c2], dim=1) / det  # fmt: skip
        b = mean_p - (a * mean_g).sum(dim=1, keepdim=True)
        out = (box(a, radius) * g).sum(dim=1, keepdim=True) + box(b, radius)
    return out.to(src.dtype)


def guided_radius(scale: int, radius_x: float) -> int:
    """The filter radius in full-size pixels for a model scale (at least one pixel)."""
    return max(1, round(radius_x * scale))
