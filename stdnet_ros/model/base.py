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

from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import cv2
import numpy as np
import torch
from torch.nn import functional as F

BASES = ("bilinear", "guided")


def bilinear_x4(lr_up: torch.Tensor) -> torch.Tensor:
    """Bilinear x4 of the working-size depth: the published base."""
    return F.interpolate(lr_up, scale_factor=4, mode="bilinear", align_corners=False)


def bicubic(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic x``scale`` of the LR depth (a = -0.75, as OpenCV's INTER_CUBIC): the guided base's input."""
    return F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False)


def _window_sums(x: torch.Tensor, radius: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sums of ``x`` over [i - r, i + r] along the last (``dim`` = -1) or second-last (-2) axis,
    clipped to the image, and the pixel count of each clipped window: a running sum of ``x``
    read twice, whatever the radius. The running sum at i + r, clipped to the last pixel, less
    that at i - r - 1 where there is one: the numbers of a running sum between zero paddings,
    without the padded copy (a quarter of the guided filter's time)."""
    n = x.shape[dim]
    running = torch.cumsum(x, dim)
    sums = torch.empty_like(running)
    inside = max(n - radius, 0)  # windows whose right end is in the image
    if inside:
        sums.narrow(dim, 0, inside).copy_(running.narrow(dim, radius, inside))
    sums.narrow(dim, inside, n - inside).copy_(running.narrow(dim, n - 1, 1))
    if n > radius + 1:  # windows whose left end is past the first pixel
        sums.narrow(dim, radius + 1, n - radius - 1).sub_(running.narrow(dim, 0, n - radius - 1))
    index = torch.arange(n, device=x.device)
    count = (index + radius + 1).clamp(max=n) - (index - radius).clamp(min=0)
    return sums, count.to(x.dtype).reshape((n,) + (1,) * (-dim - 1))


def box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window, shrunk at the borders (only valid pixels counted).

    The sums are float64: the guided filter subtracts means of squares (variance ~1e-4 against
    values ~1), and float32 sums over a 960-px row would lose that. On a CPU, where nothing asks
    for a gradient and nothing traces the graph (an export), OpenCV's box filter computes them
    (:func:`opencv_box`, 3x faster at 320 x 240); elsewhere :func:`running_box`. Both cost the
    same whatever the radius, where a pooling kernel reads (2r+1) pixels a pass (that made the
    guided filter a quarter of the default model's CPU time), and both give the same float64 sums.
    """
    traced = torch.jit.is_tracing() or torch.compiler.is_compiling()
    if x.device.type == "cpu" and not traced and not (x.requires_grad and torch.is_grad_enabled()):
        return opencv_box(x, radius)
    return running_box(x, radius)


def running_box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """:func:`box` by float64 running sums along rows, then columns (the valid part of a window is
    a rectangle): any device, differentiable."""
    rows, count_w = _window_sums(x.double(), radius, -1)
    both, count_h = _window_sums(rows, radius, -2)
    return both.div_(count_h * count_w).to(x.dtype)


def opencv_box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """:func:`box` by OpenCV's float64 box filter (zero border, unnormalised), one plane at a time
    (no channel interleaving copies), divided by each window's pixel count; CPU tensors only.

    The planes are shared among OpenCV's thread count of threads (``runtime.set_threads``): its
    own parallelism gained 1.2x on a plane where two threads with a plane each gained 2-2.4x."""
    planes = x.detach().contiguous().numpy()
    height, width = planes.shape[-2:]
    src = planes.reshape(-1, height, width)
    means = np.empty(src.shape, planes.dtype)
    counts = _window_counts(height, radius)[:, None] * _window_counts(width, radius)[None, :]
    size = 2 * radius + 1

    def planes_from(first: int, step: int) -> None:
        sums = np.empty((height, width), np.float64)  # one plane's sums at a time, reused: cache-warm
        for k in range(first, len(src), step):
            # A float32 plane is summed in float64 (the sums bit for bit those of its float64 copy).
            cv2.boxFilter(src[k], cv2.CV_64F, (size, size), dst=sums, normalize=False,
                          borderType=cv2.BORDER_CONSTANT)  # fmt: skip
            np.divide(sums, counts, out=means[k], casting="same_kind")  # in float64, rounded once

    threads = min(cv2.getNumThreads(), len(src))
    if threads > 1:
        list(_plane_workers(threads).map(planes_from, range(threads), [threads] * threads))
    else:
        planes_from(0, 1)
    return torch.from_numpy(means.reshape(planes.shape))


@lru_cache(maxsize=4)
def _plane_workers(count: int) -> ThreadPoolExecutor:
    """Threads for :func:`opencv_box`'s planes (OpenCV and numpy release the GIL), kept per count."""
    return ThreadPoolExecutor(count, thread_name_prefix="stdnet-box")


def _window_counts(n: int, radius: int) -> np.ndarray:
    """Pixels of each clipped window [i - r, i + r] along an axis of ``n`` pixels."""
    index = np.arange(n)
    return (np.minimum(index + radius + 1, n) - np.maximum(index - radius, 0)).astype(np.float64)


def guided_filter(guide: torch.Tensor, src: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """Colour-guide guided filter of ``src`` (B, 1, H, W) by ``guide`` (B, 3, H, W) in [0, 1].

    Per window, ``src`` is fitted as a linear function of the three colour channels (He et al.,
    eq. 14); the 3x3 covariance is inverted in closed form. Always float32: eps ~ 1e-4 makes the
    determinants ~1e-12, below what half precision holds.
    """
    with torch.autocast(guide.device.type, enabled=False):
        # Contiguous: the streaming engine's guide is a channels_last view of the HWC image, whose
        # channel slices below are strided; the same numbers, 20 % faster at 320 x 240.
        g, p = guide.float().contiguous(), src.float()
        pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
        products = [g[:, i : i + 1] * g[:, j : j + 1] for i, j in pairs]
        means = box(torch.cat([g, p, g * p, *products], dim=1), radius)  # one pass for all 13 maps
        mean_g, mean_p, mean_gp, mean_gg = means[:, :3], means[:, 3:4], means[:, 4:7], means[:, 7:]
        cov = mean_gp - mean_g * mean_p  # (B, 3, H, W)
        var = [mean_gg[:, k : k + 1] - mean_g[:, i : i + 1] * mean_g[:, j : j + 1]
               for k, (i, j) in enumerate(pairs)]  # fmt: skip
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
        mean_ab = box(torch.cat([a, b], dim=1), radius)
        out = (mean_ab[:, :3] * g).sum(dim=1, keepdim=True) + mean_ab[:, 3:]
    return out.to(src.dtype)


def guided_radius(scale: int, radius_x: float) -> int:
    """The filter radius in full-size pixels for a model scale (at least one pixel)."""
    return max(1, round(radius_x * scale))
