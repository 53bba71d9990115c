"""Rig bags: a camera pair as it records (the ToF's own image and camera_info, /tf_static), read back
registered as the node registers it, with the truth where the ToF sees."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stdnet_ros.bags import open_bag, schema, write_bag
from stdnet_ros.cli import main as cli_main
from stdnet_ros.cli.demo import demo_clip
from stdnet_ros.data.frames import Clip
from stdnet_ros.data.rig import judge_rig
from stdnet_ros.data.synthetic import generate_clips
from stdnet_ros.geometry.camera import CameraModel


@pytest.fixture(scope="module")
def rig_clip() -> Clip:
    return generate_clips(21, 3, 240, 320, (4,), 20.0, rig=judge_rig(320), tof_block=2)[4]


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_a_rig_bag_holds_the_pair_as_it_records_and_reads_back_registered(
    tmp_path: Path, rig_clip: Clip, encoding: str
) -> None:  # fmt: skip
    bag = open_bag(write_bag(rig_clip, tmp_path / "rig", depth_encoding=encoding))
    assert bag.counts[schema.TF_STATIC_TOPIC] == 1 and bag.topics[schema.TF_STATIC_TOPIC] == schema.TF_MESSAGE
    info = next(msg for _, _, msg in bag.messages((schema.DEPTH_INFO_TOPIC,)))
    assert (info.width, info.height, info.distortion_model) == (224, 172, "plumb_bob")
    assert info.header.frame_id == schema.DEPTH_FRAME_ID and np.allclose(info.d, judge_rig().tof.d)
    tf = next(msg for _, _, msg in bag.messages((schema.TF_STATIC_TOPIC,))).transforms[0]
    assert (tf.header.frame_id, tf.child_frame_id) == (schema.RGB_FRAME_ID, schema.DEPTH_FRAME_ID)
    rig = bag.rig()
    assert rig.tof.matches(judge_rig().tof, 0, 0) and rig.rgb.matches(judge_rig(320).rgb, 0, 0)
    assert np.allclose(rig.pose.rotation, judge_rig().pose.rotation) and np.allclose(rig.pose.translation,
                                                                                     judge_rig().pose.translation)
    read = bag.read_clip()
    assert read.scale == 4 and read.rig is not None and len(read) == 3
    for got, made in zip(read, rig_clip, strict=True):
        assert got.depth_tof.shape == (172, 224) and got.depth_lr.shape == (60, 80)
        assert np.array_equal(np.isnan(got.depth_tof), np.isnan(made.depth_tof))
        assert np.nanmax(np.abs(got.depth_tof - made.depth_tof)) <= 5.1e-4  # millimetres at worst
        assert np.array_equal(np.isnan(got.depth_lr), np.isnan(made.depth_lr))
        err = np.abs(got.depth_lr - made.depth_lr)[np.isfinite(made.depth_lr)]
        assert np.quantile(err, 0.99) < 1e-3  # 16UC1's millimetres, through the interpolation
        assert np.array_equal(np.isfinite(got.depth_gt), made.visible)  # the truth: where the ToF sees


def test_a_registered_bag_has_no_rig_and_reads_as_before(tmp_path: Path) -> None:
    clip = generate_clips(21, 2, 64, 96, (4,))[4]
    bag = open_bag(write_bag(clip, tmp_path / "plain"))
    assert schema.TF_STATIC_TOPIC not in bag.topics and bag.rig() is None
    info = next(msg for _, _, msg in bag.messages((schema.RGB_INFO_TOPIC,)))
    assert CameraModel.from_camera_info(info).model == ""  # a pinhole: all-zero plumb_bob
    frame = bag.read_clip().frames[0]
    assert frame.depth_tof is None and frame.depth_lr.shape == (16, 24)


def test_convert_writes_a_rig_bag_and_the_demo_clip_is_a_rig_at_320(tmp_path: Path) -> None:
    out = tmp_path / "conv"
    assert cli_main(["convert", "synthetic", str(out), "--rig", "--frames", "2", "--size", "120", "160"]) == 0
    assert open_bag(out).rig().tof.size == (224, 172)
    assert cli_main(["convert", "synthetic", str(tmp_path / "bad"), "--rig", "--size", "100", "160"]) == 2
    demo = demo_clip(1, 240, 320)
    assert demo.rig.rgb.size == (320, 240) and demo.frames[0].depth_tof.shape == (172, 224)


@pytest.mark.ros
def test_a_rig_bag_replays_through_the_registering_node(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The node registers the bag's ToF with the mount on /tf_static (published as recorded) and
    answers; its outputs are scored against the RGB-view truth beside the same registration's
    baselines."""
    bag = tmp_path / "rig"
    assert cli_main(["convert", "synthetic", str(bag), "--rig", "--frames", "8", "--size", "120", "160"]) == 0
    code = cli_main(["replay", str(bag), "--rate", "0.2", "--out", str(tmp_path / "report"), "--checkpoint",
                     str(tiny_checkpoint), "-p", "inference_queue_size:=20"])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["outputs"] >= 1 and "no_transform" not in json.dumps(summary["drops"]), summary["drops"]
    assert set(summary["scores"]) == {"STDNet (live node)", "nearest", "bicubic", "guided"}
