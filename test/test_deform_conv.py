"""The deformable convolution's GPU-facing contracts, checked on a CPU.

torchvision's kernel is only used on CUDA and cannot run here (PyPI's torchvision does not
load with the CPU torch), so the probe is tested with stand-ins: an independent numpy
implementation of torchvision's algorithm (which must pass it), a kernel that raises and
one that computes something else (which must fail it).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

import stdnet_ros.model.deform_conv as dc


def dcn_inputs(n: int = 2, c: int = 4, h: int = 9, w: int = 11, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, c, h, w, generator=g),
        3 * torch.randn(n, 18, h, w, generator=g),  # many taps land outside the map
        torch.rand(n, 9, h, w, generator=g),
        torch.randn(5, c, 3, 3, generator=g) / 6,
        torch.randn(5, generator=g),
    )


def torchvision_like(x, offset, weight, bias, padding, mask):  # torchvision's signature
    """torchvision.ops.deform_conv2d's behaviour under autocast: fp32 inside, the input's dtype out."""
    with torch.autocast(x.device.type, enabled=False):
        b = None if bias is None else bias.float()
        out = dc.deform_conv2d_torch(x.float(), offset.float(), mask.float(), weight.float(), b)
    return out.to(x.dtype)


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> Callable:
    """Install a stand-in as torchvision's kernel for one test (restored afterwards)."""

    def install(fn: Callable) -> None:
        monkeypatch.setattr(dc, "_tv_deform_conv2d", fn)
        monkeypatch.setattr(dc, "_PROBED", {})

    return install


def test_probe_falls_back_when_the_kernel_raises(kernel: Callable) -> None:
    """A torchvision built for another torch imports fine and raises at its first call."""

    def broken(*args: object, **kwargs: object) -> torch.Tensor:
        raise RuntimeError("CUDA error: no kernel image is available for execution on the device")

    kernel(broken)
    verdict = dc._probe(torch.device("cpu"))
    assert dc._tv_deform_conv2d is None
    assert "plain PyTorch path" in verdict and "RuntimeError" in verdict and "no kernel image" in verdict
    x, offset, mask, weight, bias = dcn_inputs()
    out = dc.modulated_deform_conv2d(x, offset, mask, weight, bias)
    torch.testing.assert_close(out, dc.deform_conv2d_torch(x, offset, mask, weight, bias))


def test_probe_falls_back_when_the_kernel_computes_something_else(kernel: Callable) -> None:
    kernel(lambda *args, **kwargs: 1.01 * torchvision_like(*args, **kwargs))
    verdict = dc._probe(torch.device("cpu"))
    assert dc._tv_deform_conv2d is None and "differs from the plain path" in verdict


def loop_deform_conv2d(x, offset, weight, bias, padding, mask):  # torchvision's signature
    """An independent kernel: torchvision's CUDA algorithm (per-tap bilinear sampling, zero
    outside, offsets as (y, x) pairs per tap) written out in numpy float64, so the probe compares
    the plain path with something other than itself."""
    xs, off, ms, ws = (t.detach().double().numpy() for t in (x, offset, mask, weight))
    n, c, h, w = xs.shape
    o, _, kh, kw = ws.shape
    out = np.zeros((n, o, h, w))
    i, j = np.mgrid[0:h, 0:w]
    for b in range(n):
        for k in range(kh * kw):
            ki, kj = divmod(k, kw)
            py = i - padding[0] + ki + off[b, 2 * k]
            px = j - padding[1] + kj + off[b, 2 * k + 1]
            inside = (py > -1) & (py < h) & (px > -1) & (px < w)
            y0, x0 = np.floor(py).astype(int), np.floor(px).astype(int)
            sampled = np.zeros((c, h, w))
            for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
                yy, xx = y0 + dy, x0 + dx
                weight_ = (1 - np.abs(py - yy)) * (1 - np.abs(px - xx))
                ok = inside & (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
                sampled += np.where(ok, xs[b][:, yy.clip(0, h - 1), xx.clip(0, w - 1)] * weight_, 0.0)
            out[b] += np.einsum("oc,chw->ohw", ws[:, :, ki, kj], sampled * ms[b, k])
    if bias is not None:
        out += bias.detach().double().numpy()[None, :, None, None]
    return torch.from_numpy(out).to(x.dtype)


def test_probe_keeps_a_kernel_that_agrees(kernel: Callable) -> None:
    """An independent implementation passes the probe (within float rounding): the plain path
    computes torchvision's modulated deformable convolution, not merely agrees with itself."""
    kernel(loop_deform_conv2d)
    assert "torchvision's kernel" in dc._probe(torch.device("cpu"))
    assert dc._tv_deform_conv2d is loop_deform_conv2d


def test_probe_does_not_run_off_cuda(kernel: Callable) -> None:
    """On a CPU the kernel is never used, so nothing is probed (and nothing disabled)."""
    calls = []
    kernel(lambda *args, **kwargs: calls.append(1))
    assert "only used on CUDA" in dc.probe_fast_path("cpu")
    assert not calls and dc._tv_deform_conv2d is not None


@pytest.mark.parametrize("feature_dtype", [torch.bfloat16, torch.float32])
def test_the_plain_path_hands_the_features_dtype_on_under_autocast(feature_dtype: torch.dtype) -> None:
    """Under autocast an fp32 bias used to promote the plain path's output to fp32 (the TDM then
    concatenated bf16 with fp32): it must return the features' dtype, as torchvision's kernel does,
    and stay close to its float32 value."""
    x, offset, mask, weight, bias = dcn_inputs()
    exact = dc.deform_conv2d_torch(x, offset, mask, weight, bias)
    x, offset, mask = (t.to(feature_dtype) for t in (x, offset, mask))  # as a conv under autocast gives them
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        plain = dc.deform_conv2d_torch(x, offset, mask, weight, bias)
    assert plain.dtype == feature_dtype
    torch.testing.assert_close(plain.float(), exact, rtol=5e-2, atol=5e-2)


def test_half_features_are_sampled_in_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sampling in float16 was measured 10-30x less accurate than float32 sampling of the same
    fp16 inputs (1.7e-2 vs 5e-4 relative at a 160-pixel working width): keep the float32 copy."""
    seen = []
    grid_sample = dc.F.grid_sample

    def spy(x: torch.Tensor, grid: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        seen.append((x.dtype, grid.dtype))
        return grid_sample(x, grid, *args, **kwargs)

    monkeypatch.setattr(dc.F, "grid_sample", spy)
    x, offset, mask, weight, bias = dcn_inputs(c=8, h=30, w=160)  # 160: the working width at 640x480
    ref = dc.deform_conv2d_torch(x, offset, mask, weight, bias)
    for dtype, tol in ((torch.float16, 3e-3), (torch.bfloat16, 2e-2)):
        seen.clear()
        out = dc.deform_conv2d_torch(*(t.to(dtype) for t in (x, offset, mask, weight, bias)))
        assert seen == [(torch.float32, torch.float32)] and out.dtype == dtype
        assert float((out.float() - ref).norm() / ref.norm()) < tol


def test_tap_positions_are_cached_and_usable_outside_inference_mode() -> None:
    with torch.inference_mode():
        rows, cols = dc._tap_positions(5, 7, 3, 3, torch.device("cpu"), torch.float32)
    assert dc._tap_positions(5, 7, 3, 3, torch.device("cpu"), torch.float32)[0] is rows
    assert not rows.is_inference() and rows.shape == (1, 9, 5, 1) and cols.shape == (1, 9, 1, 7)
    assert rows[0, :, 0, 0].tolist() == [-1.0] * 3 + [0.0] * 3 + [1.0] * 3
    assert cols[0, :3, 0, 0].tolist() == [-1.0, 0.0, 1.0]
