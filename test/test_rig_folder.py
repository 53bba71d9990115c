"""Rig folders: ROS calibration files, the layout, and ``stdnet-ros eval`` scoring where the ToF sees."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stdnet_ros.cli import main
from stdnet_ros.data.calibration import camera_info_yaml, read_camera_info
from stdnet_ros.data.frames import scored_truth
from stdnet_ros.data.rig import judge_rig
from stdnet_ros.data.rig_folder import read_rig, read_rig_clips, write_rig_folder
from stdnet_ros.data.synthetic import SCENES, generate_clips
from stdnet_ros.geometry.camera import CameraModel
from stdnet_ros.geometry.rig import xyzquat

# as camera_calibration_parsers writes one (the ROS calibrator's ost.yaml)
ROS_YAML = """image_width: 224
image_height: 172
camera_name: tof
camera_matrix:
  rows: 3
  cols: 3
  data: [175, 0, 111.8, 0, 175, 86.3, 0, 0, 1]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [-0.12, 0.035, 0.0004, -0.0003, 0]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]
projection_matrix:
  rows: 3
  cols: 4
  data: [175, 0, 111.8, 0, 0, 175, 86.3, 0, 0, 0, 1, 0]
"""


def test_calibration_files_read_as_ros_writes_them_and_round_trip(tmp_path: Path) -> None:
    (tmp_path / "ros.yaml").write_text(ROS_YAML)
    tof = judge_rig().tof
    read = CameraModel.from_camera_info(read_camera_info(tmp_path / "ros.yaml"))
    assert read.matches(tof, 0, 0) and read.model == "plumb_bob"
    (tmp_path / "ours.yaml").write_text(camera_info_yaml(tof, "tof"))
    assert CameraModel.from_camera_info(read_camera_info(tmp_path / "ours.yaml")).matches(tof, 0, 0)
    (tmp_path / "bad.yaml").write_text("image_width: 3\n")
    with pytest.raises(ValueError, match="camera_matrix"):
        read_camera_info(tmp_path / "bad.yaml")


def test_a_pose_survives_the_quaternion_round_trip() -> None:
    pose = judge_rig().pose
    back = type(pose).from_xyzquat(xyzquat(pose))
    assert np.allclose(back.rotation, pose.rotation, atol=1e-12)
    assert np.allclose(back.translation, pose.translation)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    clips = [generate_clips(seed, 2, 240, 320, (4,), 20.0, SCENES["clutter"], rig=judge_rig(320))[4]
             for seed in (11, 12)]  # fmt: skip
    return write_rig_folder(tmp_path_factory.mktemp("rig") / "set", clips), clips


def test_a_rig_folder_reads_back_registered_as_the_generator_registered_it(folder: tuple[Path, list]) -> None:
    root, clips = folder
    rig, depth_is_range = read_rig(root)
    assert not depth_is_range and rig.tof.matches(judge_rig().tof, 0, 0)
    assert np.allclose(rig.pose.translation, judge_rig().pose.translation)
    read = read_rig_clips(root, 4)
    assert [c.name for c in read] == [c.name for c in clips]
    for got, made in zip(read, clips, strict=True):
        for a, b in zip(got, made, strict=True):
            assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.visible, b.visible)
            assert np.nanmax(np.abs(a.depth_gt - b.depth_gt)) <= 5.1e-4  # stored in millimetres
            assert np.array_equal(np.isnan(a.depth_lr), np.isnan(b.depth_lr))
            # the ToF stored in millimetres: each cell within 2 mm, but for the rare edge cell whose two
            # surfaces' histogram votes tie within that rounding and which then takes the other side
            close = np.abs(a.depth_lr - b.depth_lr) < 2e-3
            assert close[np.isfinite(a.depth_lr)].mean() > 0.995
            assert a.stamp == pytest.approx(b.stamp, abs=1e-6)
    assert read_rig_clips(root, 8)[0].frames[0].depth_lr.shape == (30, 40)


def test_eval_scores_a_rig_folder_over_the_pixels_the_tof_sees(
    folder: tuple[Path, list], capsys: pytest.CaptureFixture[str]
) -> None:  # fmt: skip
    root, clips = folder
    frame = clips[0].frames[0]
    scored = scored_truth(frame)
    assert (~frame.visible).any() and np.isnan(scored[~frame.visible]).all()
    assert np.array_equal(scored[frame.visible], frame.depth_gt[frame.visible])
    assert main(["eval", "--data", str(root), "--no-model", "--baselines", "guided", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rows"]
    assert [r["method"] for r in rows] == ["guided"] and rows[0]["frames"] == 4
    assert 0.9 < rows[0]["coverage"] <= 1.0
