"""Modulated deformable convolution (DCNv2) in plain PyTorch.

The published network uses mmcv's CUDA operator, which neither installs here
nor exports to ONNX. This version computes the same function with
``grid_sample`` (or explicit gathers for one-pixel-wide maps) and a matrix
product: offsets laid out as torchvision's ``deform_conv2d`` reads
them (channel 2k is the vertical and 2k+1 the horizontal shift of tap k, taps
row-major), bilinear sampling inside the image and zeros outside. Where
torchvision's compiled operator is importable, passes :func:`probe_fast_path`
on the device, and the input is on a GPU, it is used instead (same function,
tested equal where both exist).
"""

from __future__ import annotations

import logging
from functools import lru_cache

import torch
from torch.nn import functional as F

log = logging.getLogger(__name__)

try:  # Optional fast path: torchvision's native kernel (GPU installs).
    from torchvision.ops import deform_conv2d as _tv_deform_conv2d
except Exception as _err:  # a torchvision built for another torch fails in many ways
    _tv_deform_conv2d = None
    _TV_IMPORT_ERROR = f"torchvision.ops.deform_conv2d not importable ({type(_err).__name__}: {_err})"
else:
    _TV_IMPORT_ERROR = ""
_PROBED: dict[str, str] = {}  # device -> the probe's verdict, so it runs once per process
PROBE_TOLERANCE = 1e-4  # relative; float32 rounding of two summation orders is ~1e-6


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
    Sampling runs in at least float32: grid_sample interpolates in its input's dtype, and
    in float16 that put the deformable convolution's output 1-1.7e-2 (relative) off its
    float32 value where float32 sampling of the same fp16 inputs was off 0.5-1e-3
    (test_deform_conv). The copy costs C x H x W per call; the sampled columns are cast
    back at once. On CUDA torchvision's kernel (float32 inside as well) normally runs instead.
    """
    n, c, h, w = x.shape
    if h == 1 or w == 1:
        return bilinear_gather(x, py, px)
    k, ho, wo = py.shape[1:]
    work = torch.promote_types(x.dtype, torch.float32)
    # (x, y) pairs last, as grid_sample reads them, by transposing the two planes: the same values
    # as stacking on the last axis, which OpenVINO runs as a reference concat, 5-10x slower.
    planes = torch.stack([px * (2.0 / (w - 1)) - 1.0, py * (2.0 / (h - 1)) - 1.0], dim=1)
    grid = planes.to(work).reshape(n, 2, k * ho, wo).permute(0, 2, 3, 1).contiguous()
    out = F.grid_sample(x.to(work), grid, "bilinear", "zeros", align_corners=True)
    return out.to(x.dtype).reshape(n, c, k, ho, wo)


@lru_cache(maxsize=64)
def _tap_positions(
    h: int, w: int, kh: int, kw: int, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Undeformed sample rows (1, taps, h, 1) and columns (1, taps, 1, w), cached per shape.

    Built once instead of from ``arange`` on every call (16 times per frame on a GPU);
    made outside inference mode so that training may use the same cached tensors.
    """
    with torch.inference_mode(False), torch.no_grad():
        ky = torch.arange(kh, device=device, dtype=dtype).repeat_interleave(kw) - kh // 2
        kx = torch.arange(kw, device=device, dtype=dtype).repeat(kh) - kw // 2
        rows = torch.arange(h, device=device, dtype=dtype).view(1, 1, h, 1) + ky.view(1, -1, 1, 1)
        cols = torch.arange(w, device=device, dtype=dtype).view(1, 1, 1, w) + kx.view(1, -1, 1, 1)
    return rows, cols


def deform_conv2d_torch(
    x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """Modulated deformable convolution, stride 1, 'same' padding, one offset group."""
    n, c, h, w = x.shape
    out_ch, _, kh, kw = weight.shape
    taps = kh * kw
    # Positions in at least float32: half precision cannot hold x + 0.3 for x in the hundreds.
    pos_dtype = torch.promote_types(offset.dtype, torch.float32)
    rows, columns = _tap_positions(h, w, kh, kw, x.device, pos_dtype)
    off = offset.to(pos_dtype).reshape(n, taps, 2, h, w)
    cols = bilinear_sample(x, rows + off[:, :, 0], columns + off[:, :, 1]) * mask.reshape(n, 1, taps, h, w)
    out = torch.matmul(weight.reshape(out_ch, c * taps), cols.reshape(n, c * taps, h * w))
    if bias is not None:  # in the product's dtype: an fp32 bias would promote autocast's output
        out = out + bias.to(out.dtype).view(1, out_ch, 1)
    # torchvision's autocast wrapper returns the input's dtype: hand the same downstream.
    return out.view(n, out_ch, h, w).to(x.dtype)


def modulated_deform_conv2d(
    x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """DCNv2 with torchvision's native kernel on a GPU where available, else plain PyTorch."""
    if _tv_deform_conv2d is not None and x.is_cuda:
        return _torchvision(x, offset, mask, weight, bias)
    return deform_conv2d_torch(x, offset, mask, weight, bias)


def _torchvision(
    x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    pad = weight.shape[-1] // 2
    return _tv_deform_conv2d(x, offset, weight, bias, padding=(pad, pad), mask=mask)


def probe_fast_path(device: torch.device | str) -> str:
    """Run torchvision's kernel once on ``device`` against the plain path; disable it on any failure.

    A torchvision whose compiled ops do not match torch imports fine and fails only at its
    first call (or computes garbage): found here, at start-up, it costs a log line instead
    of every frame. Returns what was decided, for the caller's start-up log.
    """
    device = torch.device(device)
    if device.type != "cuda":
        return "deformable convolution: plain PyTorch path (torchvision's kernel is only used on CUDA)"
    if _tv_deform_conv2d is None:
        return f"deformable convolution: plain PyTorch path ({_TV_IMPORT_ERROR or 'torchvision disabled'})"
    if str(device) not in _PROBED:
        _PROBED[str(device)] = _probe(device)
    return _PROBED[str(device)]


def _probe(device: torch.device) -> str:
    """The probe itself, on any device (tests run it on the CPU with stand-in kernels)."""
    global _tv_deform_conv2d
    try:
        g = torch.Generator().manual_seed(0)
        x, offset = torch.randn(2, 4, 9, 11, generator=g), 3 * torch.randn(2, 18, 9, 11, generator=g)
        mask, weight = torch.rand(2, 9, 9, 11, generator=g), torch.randn(5, 4, 3, 3, generator=g)
        args = [t.to(device) for t in (x, offset, mask, weight)]
        with torch.inference_mode(), torch.autocast(device.type, enabled=False):
            fast = _torchvision(*args, None).double().cpu()
            ref = deform_conv2d_torch(*args, None).double().cpu()
        rel = float((fast - ref).norm() / ref.norm())
        if not rel < PROBE_TOLERANCE:
            raise ValueError(f"differs from the plain path by {rel:.1e} (relative)")
    except Exception as err:  # any failure of an optional kernel means: do not use it
        _tv_deform_conv2d = None
        verdict = (f"deformable convolution: plain PyTorch path (torchvision's kernel failed its start-up "
                   f"probe on {device}: {type(err).__name__}: {err})")
        log.warning(verdict)
        return verdict
    return f"deformable convolution: torchvision's kernel (probe on {device}: rel. error {rel:.1e})"
