"""Modulated deformable convolution (DCNv2) in plain PyTorch.

The published network uses mmcv's CUDA operator, which neither installs here
nor exports to ONNX. This version computes the same function with
``grid_sample`` (or explicit gathers for one-pixel-wide maps) and a matrix
product: offsets laid out as torchvision's ``deform_conv2d`` reads
them (channel 2k is the vertical and 2k+1 the horizontal shift of tap k, taps
row-major), bilinear sampling inside the image and zeros outside. Where
torchvision's compiled operator is importable and the input is on a GPU, it
is used instead (same function, tested equal where both exist).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

try:  # Optional fast path: torchvision's native kernel (GPU installs).
    from torchvision.ops import deform_conv2d as _tv_deform_conv2d
except ImportError:
    _tv_deform_conv2d = None


def bilinear_gather(x: torch.Tensor, py: torch.Tensor, px: torch.Tensor) -> torch.Tensor:
    """Sample x (N, C, H, W) at float positions py, px (N, K, H', W') -> (N, C, K, H', W').

    Corners outside the image contribute zero, which is exactly torchvision's
    rule (a sample at or beyond one pixel outside reads 0).
    """
    n, c, h, w = x.shape
    k, ho, wo = py.shape[1:]
    y0 = torch.floor(py)
    x0 = torch.floor(px)
    ly = py - y0
    lx = px - x0
    y0 = y0.long()
    x0 = x0.long()
    flat = x.reshape(n, c, h * w)
    out = x.new_zeros(n, c, k * ho * wo)
    for dy, wy in ((0, 1 - ly), (1, ly)):
        for dx, wx in ((0, 1 - lx), (1, lx)):
            yy = y0 + dy
            xx = x0 + dx
            valid = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            weight = (wy * wx * valid).reshape(n, 1, -1).to(x.dtype)
            index = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).reshape(n, 1, -1).expand(n, c, -1)
            out = out + torch.gather(flat, 2, index) * weight
    return out.view(n, c, k, ho, wo)


def bilinear_sample(x: torch.Tensor, py: torch.Tensor, px: torch.Tensor) -> torch.Tensor:
    """bilinear_gather's result through grid_sample: one fused op, about 5x faster on a CPU.

    grid_sample with align_corners=True and zero padding applies the same corner rule;
    its normalised grid is undefined for a one-pixel-wide axis, where we gather instead.
    Sampling runs in at least float32 so half-precision positions keep sub-pixel accuracy.
    """
    n, c, h, w = x.shape
    if h == 1 or w == 1:
        return bilinear_gather(x, py, px)
    k, ho, wo = py.shape[1:]
    work = torch.promote_types(x.dtype, torch.float32)
    grid = torch.stack([px * (2.0 / (w - 1)) - 1.0, py * (2.0 / (h - 1)) - 1.0], dim=-1)
    out = F.grid_sample(
        x.to(work), grid.to(work).view(n, k * ho, wo, 2), "bilinear", "zeros", align_corners=True
    )
    return out.to(x.dtype).reshape(n, c, k, ho, wo)


def deform_conv2d_torch(
    x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """Modulated deformable convolution, stride 1, 'same' padding, one offset group."""
    n, c, h, w = x.shape
    out_ch, _, kh, kw = weight.shape
    taps = kh * kw
    dev = x.device
    ky = (torch.arange(kh, device=dev).repeat_interleave(kw) - kh // 2).view(1, taps, 1, 1)
    kx = (torch.arange(kw, device=dev).repeat(kh) - kw // 2).view(1, taps, 1, 1)
    # Positions in at least float32: half precision cannot hold x + 0.3 for x in the hundreds.
    pos_dtype = torch.promote_types(offset.dtype, torch.float32)
    off = offset.to(pos_dtype).reshape(n, taps, 2, h, w)
    py = torch.arange(h, device=dev, dtype=pos_dtype).view(1, 1, h, 1) + ky + off[:, :, 0]
    px = torch.arange(w, device=dev, dtype=pos_dtype).view(1, 1, 1, w) + kx + off[:, :, 1]
    cols = bilinear_sample(x, py, px) * mask.reshape(n, 1, taps, h, w)
    out = torch.matmul(weight.reshape(out_ch, c * taps), cols.reshape(n, c * taps, h * w))
    if bias is not None:
        out = out + bias.view(1, out_ch, 1)
    return out.view(n, out_ch, h, w)


def modulated_deform_conv2d(
    x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """DCNv2 with torchvision's native kernel on a GPU where available, else plain PyTorch."""
    if _tv_deform_conv2d is not None and x.is_cuda:
        pad = weight.shape[-1] // 2
        return _tv_deform_conv2d(x, offset, weight, bias, padding=(pad, pad), mask=mask)
    return deform_conv2d_torch(x, offset, mask, weight, bias)
