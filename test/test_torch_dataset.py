"""Training samples: network shapes and ranges, LR/HR alignment through crops and flips, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from shared_data import DYDTOF, requires_shared
from torch.nn import functional as F

from stdnet_ros.data.datasets import open_dataset
from stdnet_ros.data.sensors import DirectToF, IndirectToF
from stdnet_ros.data.synthetic import SCENES, generate_clip, generate_clips
from stdnet_ros.data.torch_dataset import (
    LUMA,
    ReaderClipDataset,
    SyntheticClipDataset,
    chroma_420,
    clip_to_tensors,
)

CLEAN = IndirectToF(noise_base=0, noise_quad=0, flying_prob=0, dropout=0, min_signal=0)


def _check(sample: dict[str, torch.Tensor], frames: int, size: int, scale: int) -> None:
    assert sample["lr"].shape == (frames, 1, size // scale, size // scale)
    assert sample["guide"].shape == (frames, 3, size, size)
    assert sample["gt"].shape == sample["mask"].shape == (frames, 1, size, size)
    for key in ("lr", "guide", "gt", "mask"):
        value = sample[key]
        assert value.dtype == torch.float32 and value.is_contiguous()
        assert torch.isfinite(value).all() and value.min() >= 0 and value.max() <= 1


def test_synthetic_samples_lr_stays_aligned_with_gt_through_augmentation() -> None:
    data = SyntheticClipDataset(6, frames=3, size=64, scales=4, max_depth=40.0, sensor=CLEAN)
    flipped = 0
    for i in range(len(data)):
        sample = data[i]
        _check(sample, 3, 64, 4)
        # with a noise-free sensor the LR is the area mean of the GT, whatever flips were drawn
        assert torch.allclose(F.avg_pool2d(sample["gt"], 4), sample["lr"], atol=1e-5)
        plain = SyntheticClipDataset(6, frames=3, size=64, scales=4, sensor=CLEAN, augment=False)[i]
        flipped += not torch.equal(plain["gt"], sample["gt"])
    assert flipped > 0
    assert torch.equal(data[2]["guide"], data[2]["guide"])  # deterministic
    data.set_epoch(1)
    first_epoch = SyntheticClipDataset(6, 3, 64, sensor=CLEAN)
    assert any(not torch.equal(data[i]["gt"], first_epoch[i]["gt"]) for i in range(6))
    with pytest.raises(IndexError):
        data[6]


@requires_shared
def test_dydtof_reader_windows_and_aligned_crops() -> None:
    reader = open_dataset(DYDTOF, 8)
    data = ReaderClipDataset(reader, frames=3, size=256)
    assert len(data) == 30 - 2 - 3 + 1  # first and last frames left out, stride 1
    sample = data[5]
    _check(sample, 3, 256, 8)
    assert sample["mask"].all()
    # a crop on the LR grid: the LR is close to the area mean of the GT (DyDToF's LR is noisy)
    diff = (F.avg_pool2d(sample["gt"], 8) - sample["lr"]).abs().median() * 40
    assert diff < 0.05
    with pytest.raises(ValueError, match="fit in"):
        ReaderClipDataset(reader, frames=3, size=1024)[0]
    with pytest.raises(ValueError, match="has 32 frames"):
        ReaderClipDataset(reader, frames=30)


def test_invalid_ground_truth_is_masked_and_depth_clipped() -> None:
    clip = generate_clip(0, frames=2, height=32, width=32)
    clip.frames[0].depth_gt[0, :5] = np.nan
    clip.frames[1].depth_gt[1, :3] = 100.0
    clip.frames[1].depth_lr[0, 0] = np.nan
    sample = clip_to_tensors(clip, 10.0)
    assert sample["mask"][0, 0, 0, :5].sum() == 0 and sample["gt"][0, 0, 0, :5].sum() == 0
    assert torch.all(sample["gt"][1, 0, 1, :3] == 1.0)
    assert torch.isfinite(sample["lr"]).all()
    clip.frames[0].depth_gt = None
    with pytest.raises(ValueError, match="ground-truth"):
        clip_to_tensors(clip, 10.0)


def test_multiscale_sensor_mix_and_depth_scaling() -> None:
    data = SyntheticClipDataset(8, frames=2, size=64, scales=(4, 8), sensor=(CLEAN, DirectToF()),
                                depth_scale=(0.5, 2.0), augment=False)  # fmt: skip
    plain = SyntheticClipDataset(8, frames=2, size=64, scales=(4, 8), sensor=(CLEAN, DirectToF()),
                                 augment=False)  # fmt: skip
    ratios, clean_lr = set(), 0
    for i in range(len(data)):
        sample = data[i]
        assert sample["lr_x4"].shape == (2, 1, 16, 16) and sample["lr_x8"].shape == (2, 1, 8, 8)
        assert "lr" not in sample
        ratio = float(sample["gt"].sum() / plain[i]["gt"].sum())  # the same scene, metres rescaled
        assert 0.5 <= ratio <= 2.0
        ratios.add(round(ratio, 3))
        clean_lr += torch.allclose(F.avg_pool2d(sample["gt"], 8), sample["lr_x8"], atol=1e-5)
    assert len(ratios) > 4 and 0 < clean_lr < len(data)  # both sensors were drawn


def test_chroma_420_keeps_luma_and_halves_colour_resolution() -> None:
    grey = torch.rand(2, 3, 16, 16).mean(1, keepdim=True).expand(2, 3, 16, 16)
    torch.testing.assert_close(chroma_420(grey), grey)  # no colour, nothing to subsample
    image = 0.5 + 0.1 * torch.rand(2, 3, 16, 16)  # far from the clamp
    luma = (image * LUMA.view(1, 3, 1, 1)).sum(1)
    out = chroma_420(image)
    torch.testing.assert_close((out * LUMA.view(1, 3, 1, 1)).sum(1), luma)
    stripe = torch.full((3, 8, 8), 0.5)
    stripe[0, :, 3], stripe[2, :, 3] = 0.8, 0.2  # a one-pixel colour line
    red_minus_blue = (chroma_420(stripe)[0] - chroma_420(stripe)[2])[:, 2:6].mean(0)
    assert red_minus_blue[1] < 0.4 and (red_minus_blue[[0, 2]] > 0).all()  # spread to its neighbours


def test_listed_scene_presets_are_drawn_per_clip() -> None:
    """A mixed data set's clip i is exactly clip i of one of its presets' own data sets (each seen
    through its own camera size), and both occur."""
    kw = {"frames": 2, "size": 64, "scales": 4, "depth_scale": (0.8, 1.3), "augment": False}
    mixed = SyntheticClipDataset(8, spec=(SCENES["room"], SCENES["indoor"]), render=(64, 128), **kw)
    alone = [SyntheticClipDataset(8, spec=SCENES[name], render=r, **kw)
             for name, r in (("room", 64), ("indoor", 128))]  # fmt: skip
    drawn = []
    for i in range(len(mixed)):
        guide = mixed[i]["guide"]
        same = [torch.equal(guide, data[i]["guide"]) for data in alone]
        assert sum(same) == 1
        drawn.append(same.index(True))
    assert set(drawn) == {0, 1}
    with pytest.raises(ValueError, match="render sizes"):
        SyntheticClipDataset(8, spec=(SCENES["room"], SCENES["indoor"]), render=(64,), **kw)


def test_rendered_larger_then_cropped_keeps_every_scale_on_the_same_window() -> None:
    data = SyntheticClipDataset(3, frames=2, size=64, scales=(4, 8), sensor=CLEAN, render=128, augment=False)
    for i in range(len(data)):
        sample = data[i]
        assert sample["guide"].shape == (2, 3, 64, 64) and sample["lr_x8"].shape == (2, 1, 8, 8)
        for scale in (4, 8):  # the clean sensor reads the area mean of exactly the cropped window
            mean = F.avg_pool2d(sample["gt"], scale)
            torch.testing.assert_close(mean, sample[f"lr_x{scale}"], atol=1e-5, rtol=0)


def test_augmented_guide_gets_an_exposure_and_stays_a_valid_image() -> None:
    data = SyntheticClipDataset(6, frames=2, size=64, scales=4, sensor=CLEAN)
    plain = SyntheticClipDataset(6, frames=2, size=64, scales=4, sensor=CLEAN, augment=False)
    means = []
    for i in range(len(data)):
        guide = data[i]["guide"]
        assert guide.min() >= 0 and guide.max() <= 1
        means.append(float(guide.mean() / plain[i]["guide"].mean()))
    assert min(means) < 0.95 and max(means) != min(means)  # darker and varied, not a fixed factor


def test_window_render_is_the_crop_of_the_full_render() -> None:
    full = generate_clips(11, frames=2, height=128, width=128, scales=(8,), sensor=CLEAN)[8]
    part = generate_clips(11, frames=2, height=128, width=128, scales=(8,), sensor=CLEAN,
                          window=(32, 64, 64, 48))[8]  # fmt: skip
    for whole, crop in zip(full, part, strict=True):
        np.testing.assert_array_equal(crop.depth_gt, whole.depth_gt[32:96, 64:112])
        np.testing.assert_array_equal(crop.depth_lr, whole.depth_lr[4:12, 8:14])
        inner = np.abs(crop.rgb[1:-1, 1:-1].astype(int) - whole.rgb[33:95, 65:111].astype(int))
        assert np.median(inner) <= 3  # the same surfaces; only the camera noise is drawn anew
    fx, fy, cx, cy = full.intrinsics
    assert part.intrinsics == (fx, fy, cx - 64, cy - 32)
    with pytest.raises(ValueError, match="does not fit"):
        generate_clips(11, frames=1, height=128, width=128, scales=(8,), window=(96, 0, 64, 64))


def test_rig_share_changes_only_the_depth_input_and_masks_what_the_tof_cannot_support() -> None:
    """The same scene and crop, registered (rig_share 0) or from a separate ToF camera (1)."""
    kw = {"frames": 2, "size": 64, "render": 256, "augment": False, "spec": SCENES["indoor"]}
    plain, rig = SyntheticClipDataset(3, **kw)[1], SyntheticClipDataset(3, rig_share=1.0, **kw)[1]
    assert rig["lr"].shape == (2, 1, 16, 16) and rig["mask"].shape == (2, 1, 64, 64)
    assert torch.equal(plain["guide"], rig["guide"]) and torch.equal(plain["gt"], rig["gt"])
    assert not torch.equal(plain["lr"], rig["lr"])
    assert (plain["lr"] - rig["lr"]).abs().median() * 20 < 0.1  # the same surfaces, other samples
    assert plain["mask"].all()
    mixed = SyntheticClipDataset(40, rig_share=0.5, **{**kw, "render": 64})
    drawn = [not torch.equal(mixed[i]["lr"], SyntheticClipDataset(40, **{**kw, "render": 64})[i]["lr"])
             for i in range(12)]  # fmt: skip
    assert 2 <= sum(drawn) <= 10


def test_a_rig_clip_masks_pixels_outside_the_tofs_view_without_support() -> None:
    clip = generate_clips(5, 1, 64, 64, (4,), 20.0, SCENES["indoor"], rig="random")[4]
    frame = clip.frames[0]
    frame.visible[:, :16] = False  # as if the ToF's view ended there
    frame.depth_lr[:, :3] = np.nan
    mask = clip_to_tensors(clip, 20.0)["mask"][0, 0].numpy()
    assert not mask[:, :4].any() and mask[:, 16:].all()  # 4 px: the 3x3 LR support reaches one cell in
