"""Model behaviour beyond the golden files: T = 1, input checks, learning, precision."""

from __future__ import annotations

import pytest
import torch

from stdnet_ros.model import STDNet
from stdnet_ros.model.deform_conv import deform_conv2d_torch
from stdnet_ros.model.loss import DiffRec, stdnet_loss


def clip(n: int = 1, t: int = 3, h: int = 6, w: int = 8, scale: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lr = torch.rand(n, t, 1, h, w, generator=g)
    guide = torch.rand(n, t, 3, scale * h, scale * w, generator=g)
    return lr, guide


@pytest.mark.parametrize("head_guide", [False, True])
def test_single_frame_passes_features_through_every_branch(head_guide: bool) -> None:
    """T = 1 is defined: each branch's output is its input, so fused = recon([S, S, S, S, S]); with
    ``head_guide`` both hourglasses' heads read the RGB frame (not hg_2's guide) and the base."""
    torch.manual_seed(0)
    model = STDNet(scale=4, mid_channels=8, head_guide=head_guide).eval()
    lr, guide = clip(t=1)
    with torch.no_grad():
        depth, extras = model(lr, guide)
        base = model.base_depth(lr[:, 0], lr[:, 0], guide[:, 0])
        enc1 = model.encode("hg_1", lr[:, 0], guide[:, 0])
        fused1, d1, c1 = model.decode("hg_1", [enc1.spatial] * 5, base, guide[:, 0])
        enc2 = model.encode("hg_2", lr[:, 0], torch.cat([d1, c1], 1), fused1)
        _, d2, _ = model.decode("hg_2", [enc2.spatial] * 5, base, guide[:, 0])
    assert depth.shape == (1, 1, 1, 24, 32)
    assert extras["phi_1"].shape[1] == 0
    torch.testing.assert_close(extras["rgb_depth"][:, 0], d1)
    torch.testing.assert_close(extras["d_depth"][:, 0], d2)


def test_first_frame_of_a_clip_does_not_see_its_future_in_forward_branches() -> None:
    """Frames are independent in batch: a clip of two identical sequences gives identical outputs."""
    torch.manual_seed(0)
    model = STDNet(scale=4, mid_channels=8).eval()
    lr, guide = clip(n=1, t=4)
    with torch.no_grad():
        one, _ = model(lr, guide)
        two, _ = model(lr.repeat(2, 1, 1, 1, 1), guide.repeat(2, 1, 1, 1, 1))
    torch.testing.assert_close(two[0], one[0])
    torch.testing.assert_close(two[1], one[0])


@pytest.mark.parametrize(
    ("lr_shape", "guide_shape", "message"),
    [
        ((1, 2, 1, 6, 8), (1, 2, 3, 12, 16), "not 4x"),
        ((1, 2, 2, 6, 8), (1, 2, 3, 24, 32), "lr must be"),
        ((1, 2, 1, 6, 8), (1, 3, 3, 24, 32), "disagree"),
        ((1, 2, 1, 5, 7), (1, 2, 3, 20, 28), None),
        ((1, 2, 1, 6, 8), (1, 2, 1, 24, 32), "guide must be"),
    ],
)
def test_bad_inputs_are_named(lr_shape, guide_shape, message) -> None:
    model = STDNet(scale=4, mid_channels=4)
    lr, guide = torch.rand(lr_shape), torch.rand(guide_shape)
    if message is None:
        model.check_inputs(lr, guide)
        return
    with pytest.raises(ValueError, match=message):
        model.check_inputs(lr, guide)


def test_one_optimisation_step_lowers_the_loss() -> None:
    torch.manual_seed(0)
    model, heads = STDNet(scale=4, mid_channels=8), DiffRec(8)
    lr, guide = clip(t=3, seed=1)
    gt = torch.nn.functional.interpolate(lr.flatten(0, 1), scale_factor=4, mode="bicubic").view(
        1, 3, 1, 24, 32
    )
    opt = torch.optim.Adam([*model.parameters(), *heads.parameters()], lr=1e-3)

    def loss() -> torch.Tensor:
        depth, extras = model(lr, guide)
        return stdnet_loss(depth, gt, heads(extras)).total

    before = loss()
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = loss()
    assert after < before


@pytest.mark.parametrize(("h", "w"), [(4, 5), (1, 5), (4, 1)])
def test_deformable_conv_matches_a_direct_loop(h: int, w: int) -> None:
    """Plain-PyTorch DCN (grid_sample path, and gathers on one-pixel axes) against its definition."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 2, h, w, generator=g, dtype=torch.float64)
    offset = 2.5 * torch.randn(1, 18, h, w, generator=g, dtype=torch.float64)
    mask = torch.rand(1, 9, h, w, generator=g, dtype=torch.float64)
    weight = torch.randn(3, 2, 3, 3, generator=g, dtype=torch.float64)
    bias = torch.randn(3, generator=g, dtype=torch.float64)

    def sample(c: int, y: float, xq: float) -> float:
        if y <= -1 or y >= h or xq <= -1 or xq >= w:
            return 0.0
        y0, x0 = int(torch.floor(torch.tensor(y))), int(torch.floor(torch.tensor(xq)))
        total = 0.0
        for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
            for xx, wx in ((x0, 1 - (xq - x0)), (x0 + 1, xq - x0)):
                if 0 <= yy < h and 0 <= xx < w:
                    total += wy * wx * float(x[0, c, yy, xx])
        return total

    ref = torch.zeros(1, 3, h, w, dtype=torch.float64)
    for o in range(3):
        for py in range(h):
            for px in range(w):
                acc = float(bias[o])
                for k in range(9):
                    i, j = divmod(k, 3)
                    y = py - 1 + i + float(offset[0, 2 * k, py, px])
                    xq = px - 1 + j + float(offset[0, 2 * k + 1, py, px])
                    for c in range(2):
                        acc += float(weight[o, c, i, j]) * float(mask[0, k, py, px]) * sample(c, y, xq)
                ref[0, o, py, px] = acc
    torch.testing.assert_close(deform_conv2d_torch(x, offset, mask, weight, bias), ref)


def test_torchvision_fast_path_is_equal_where_available() -> None:
    ops = pytest.importorskip("torchvision.ops", reason="torchvision not installed (CPU machines)")
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 4, 6, 7, generator=g)
    offset, mask = 2 * torch.randn(2, 18, 6, 7, generator=g), torch.rand(2, 9, 6, 7, generator=g)
    weight, bias = torch.randn(5, 4, 3, 3, generator=g), torch.randn(5, generator=g)
    ref = ops.deform_conv2d(x, offset, weight, bias, padding=(1, 1), mask=mask)
    torch.testing.assert_close(deform_conv2d_torch(x, offset, mask, weight, bias), ref, rtol=1e-4, atol=1e-4)


def test_bfloat16_runs_close_to_float32() -> None:
    torch.manual_seed(0)
    model = STDNet(scale=4, mid_channels=8).eval()
    lr, guide = clip(t=3)
    with torch.no_grad():
        ref, _ = model(lr, guide)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low, _ = model(lr, guide)
    assert low.dtype in (torch.bfloat16, torch.float32)
    assert (low.float() - ref).norm() / ref.norm() < 5e-2
