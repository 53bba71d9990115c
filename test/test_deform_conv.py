"""The deformable convolution's GPU-facing contracts, checked on a CPU.

torchvision's kernel is only used on CUDA and is absent here, so a stand-in with
its contract (float32 inside under autocast, the input's dtype out) takes its place
where a test needs one; the real kernel is compared where it is installed.
"""

from __future__ import annotations

from collections.abc import Callable

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


def test_probe_keeps_a_kernel_that_agrees(kernel: Callable) -> None:
    kernel(torchvision_like)
    assert "torchvision's kernel" in dc._probe(torch.device("cpu"))
    assert dc._tv_deform_conv2d is torchvision_like


def test_probe_does_not_run_off_cuda(kernel: Callable) -> None:
    """On a CPU the kernel is never used, so nothing is probed (and nothing disabled)."""
    calls = []
    kernel(lambda *args, **kwargs: calls.append(1))
    assert "only used on CUDA" in dc.probe_fast_path("cpu")
    assert not calls and dc._tv_deform_conv2d is not None


@pytest.mark.parametrize("feature_dtype", [torch.bfloat16, torch.float32])
def test_both_paths_hand_the_same_dtype_downstream_under_autocast(feature_dtype: torch.dtype) -> None:
    """Under autocast an fp32 bias used to promote the plain path's output to fp32 (the TDM then
    concatenated bf16 with fp32); both paths must return the features' dtype."""
    x, offset, mask, weight, bias = dcn_inputs()
    x, offset, mask = (t.to(feature_dtype) for t in (x, offset, mask))  # as a conv under autocast gives them
    try:
        from torchvision.ops import deform_conv2d as real
    except Exception:  # any broken install means: compare with the stand-in only
        real = None
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        plain = dc.deform_conv2d_torch(x, offset, mask, weight, bias)
        fast = [torchvision_like(x, offset, weight, bias, (1, 1), mask)]
        if real is not None:
            fast.append(real(x, offset, weight, bias, padding=(1, 1), mask=mask))
    assert plain.dtype == feature_dtype
    assert all(f.dtype == plain.dtype for f in fast)
    for f in fast:
        torch.testing.assert_close(plain.float(), f.float(), rtol=5e-2, atol=5e-2)


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
