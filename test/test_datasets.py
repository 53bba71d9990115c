"""Dataset readers: DyDToF on the real shared subset, TartanAir/DynamicReplica on fixture trees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from shared_data import DYDTOF, requires_shared

from stdnet_ros.data.datasets import LAYOUTS, detect_layout, open_dataset, read_index


@requires_shared
@pytest.mark.parametrize("scale", [4, 8, 16])
def test_dydtof_shared_subset(scale: int) -> None:
    reader = open_dataset(DYDTOF, scale)
    assert reader.layout.name == "DyDToF" and len(reader.sequences) == 1 and len(reader) == 30
    seq = reader.sequences[0]
    assert (seq.scene, seq.shot, seq.count, seq.prefix) == ("school", "school_shot8", 30, "school_shot8.")
    clip = reader.clip(seq, start=28)
    assert clip.name == "school_school_shot8" and clip.max_depth == 40.0 and clip.scale == scale
    assert len(clip) == 2
    frame = clip.frames[0]
    assert frame.rgb.shape == (528, 960, 3) and frame.rgb.dtype == np.uint8
    assert frame.depth_lr.shape == (528 // scale, 960 // scale) and frame.depth_gt.shape == (528, 960)
    raw = np.load(DYDTOF / "DyDToF_HR_RGB/school/school_shot8/depth/school_shot8.0028.npy")
    assert np.array_equal(frame.depth_gt, raw)  # metres, values already inside [0, 40]
    assert clip.frames[1].stamp - frame.stamp == pytest.approx(1 / 30)


@requires_shared
def test_dydtof_errors() -> None:
    with pytest.raises(FileNotFoundError, match="no x2 LR depth"):
        open_dataset(DYDTOF, 2)
    reader = open_dataset(DYDTOF, 4)
    with pytest.raises(ValueError, match="outside"):
        reader.clip(reader.sequences[0], start=25, count=10)
    with pytest.raises(FileNotFoundError, match="not found"):
        open_dataset(DYDTOF / "nope", 4)


def _png(path: Path, h: int, w: int, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(path)


def _npy(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array.astype(np.float32))


def test_tartanair_fixture(tmp_path: Path) -> None:
    """HR_RGB/<scene>/<shot>/{image_left,depth_left}, LR/X4/<scene>/<shot>/*.npy of shape (1,1,h,w)."""
    for i in range(3):
        _png(tmp_path / f"HR_RGB/office2/P001/image_left/{i:06d}_left.png", 32, 48, 10 * i)
        gt = np.full((32, 48), 2.0 + i)
        gt[0, 0] = 0.0  # invalid
        _npy(tmp_path / f"HR_RGB/office2/P001/depth_left/{i:06d}_left_depth.npy", gt)
        _npy(tmp_path / f"LR/X4/office2/P001/{i:06d}_left_depth.npy", np.full((1, 1, 8, 12), 2.0 + i))
    (tmp_path / "test.txt").write_text("office2, P001, 3\n")
    assert detect_layout(tmp_path) == "tartanair"
    reader = open_dataset(tmp_path, 4, index=tmp_path / "test.txt")
    clip = next(reader.clips())
    assert clip.max_depth == 30.0 and clip.intrinsics == LAYOUTS["tartanair"].intrinsics
    assert [f.rgb[0, 0, 0] for f in clip] == [0, 10, 20]
    assert clip.frames[2].depth_lr.shape == (8, 12) and np.all(clip.frames[2].depth_lr == 4.0)
    assert np.isnan(clip.frames[0].depth_gt[0, 0]) and clip.frames[0].depth_gt[1, 1] == 2.0


def test_dynamicreplica_fixture_in_metres(tmp_path: Path) -> None:
    """HR_RGB/<scene>/<shot>/{color,depth}, LR/X4/<scene>/<shot>/processed_*.geometric.npy of (1,h,w)."""
    shot = "029beb-3_obj_source_left"
    for i in range(2):
        _png(tmp_path / f"HR_RGB/test_001/{shot}/color/{shot}-{i:04d}.png", 16, 16, 100)
        _npy(tmp_path / f"HR_RGB/test_001/{shot}/depth/processed_{shot}_{i:04d}.geometric.npy",
             np.full((16, 16), 15000.0))  # fmt: skip
        _npy(tmp_path / f"LR/X4/test_001/{shot}/processed_{shot}_{i:04d}.geometric.npy",
             np.full((1, 4, 4), 14000.0))  # fmt: skip
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists/029beb.txt").write_text(f"test_001, {shot}, 2")
    reader = open_dataset(tmp_path, 4)
    assert reader.layout.name == "DynamicReplica"
    clip = reader.clip(reader.sequences[0])
    # published metric: raw / 100 is centimetres, so a raw unit is 0.1 mm
    assert clip.max_depth == pytest.approx(1.77)
    assert clip.frames[1].depth_gt[0, 0] == pytest.approx(1.5)
    assert clip.frames[1].depth_lr[0, 0] == pytest.approx(1.4)


def test_missing_file_and_bad_shapes(tmp_path: Path) -> None:
    _png(tmp_path / "HR_RGB/s/p/image_left/000000_left.png", 32, 48, 0)
    _npy(tmp_path / "HR_RGB/s/p/depth_left/000000_left_depth.npy", np.ones((32, 48)))
    _npy(tmp_path / "LR/X4/s/p/000000_left_depth.npy", np.ones((1, 1, 8, 10)))
    (tmp_path / "i.txt").write_text("s, p, 2\n")
    reader = open_dataset(tmp_path, 4, index=tmp_path / "i.txt")
    with pytest.raises(ValueError, match="do not match"):
        reader.frame(reader.sequences[0], 0)
    with pytest.raises(FileNotFoundError, match="RGB image missing"):
        reader.frame(reader.sequences[0], 1)


def test_index_format(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("# comment\nschool, school_shot8, 30, school_shot8.\n\nhospital, P047, 533\n")
    assert [s.count for s in read_index(good)] == [30, 533]
    bad = tmp_path / "bad.txt"
    bad.write_text("school school_shot8 30\n")
    with pytest.raises(ValueError, match=r"bad\.txt:1"):
        read_index(bad)
    bad.write_text("\n")
    with pytest.raises(ValueError, match="no sequence"):
        read_index(bad)
    with pytest.raises(ValueError, match="not a DyDToF"):
        detect_layout(tmp_path)
