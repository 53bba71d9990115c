"""rosbag2 bags of RGB-D clips: bit-exact round trips through real MCAP/sqlite3 files, timing, bad bags."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from shared_data import DYDTOF, requires_shared

from stdnet_ros.bags import BagError, Timing, open_bag, schema, write_bag
from stdnet_ros.cli import main as cli_main
from stdnet_ros.conversion import header_ns
from stdnet_ros.data.datasets import open_dataset
from stdnet_ros.data.frames import Clip

INTRINSICS = (500.0, 502.0, 479.5, 263.5)  # DyDToF ships none; any pinhole shows the scaling


@pytest.fixture(scope="module")
def clip() -> Clip:
    """Three real DyDToF frames at x4 (LR depth has real holes), with intrinsics attached."""
    reader = open_dataset(DYDTOF, 4)
    real = reader.clip(reader.sequences[0], 0, 3)
    real.frames[0].depth_lr[:3, :5] = np.nan  # make sure invalid pixels travel too
    return dataclasses.replace(real, intrinsics=INTRINSICS)


def _mm(depth: np.ndarray) -> np.ndarray:
    """What 16UC1 can hold: whole millimetres, NaN kept."""
    mm = np.rint(np.nan_to_num(depth) * 1000).astype(np.uint16)
    return np.where(np.isnan(depth), np.float32(np.nan), mm.astype(np.float32) / np.float32(1000))


@requires_shared
@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_round_trip_is_bit_exact(tmp_path: Path, clip: Clip, storage: str, encoding: str) -> None:
    out = write_bag(clip, tmp_path / "bag", storage, encoding, Timing(seed=3))
    bag = open_bag(out)
    back = bag.read_clip()
    assert (back.name, back.scale, back.max_depth, back.intrinsics) == (
        clip.name, clip.scale, clip.max_depth, INTRINSICS)
    assert len(back) == len(clip)
    for want, got in zip(clip, back, strict=True):
        assert got.rgb.dtype == np.uint8 and np.array_equal(got.rgb, want.rgb)
        expected = want.depth_lr if encoding == "32FC1" else _mm(want.depth_lr)
        assert got.depth_lr.dtype == np.float32
        assert np.array_equal(got.depth_lr, expected, equal_nan=True)
        assert np.array_equal(got.depth_gt, want.depth_gt, equal_nan=True)
    assert np.isnan(back.frames[0].depth_lr[:3, :5]).all()
    assert not list(tmp_path.glob(".*")), "staging folder left behind"


@requires_shared
def test_topics_types_frame_ids_and_camera_info(tmp_path: Path, clip: Clip) -> None:
    bag = open_bag(write_bag(clip, tmp_path / "bag", depth_encoding="16UC1"))
    assert set(bag.topics) == set(schema.TOPIC_TYPES) - {schema.TF_STATIC_TOPIC}  # registered: no rig
    assert all(bag.counts[t] == 3 for t in bag.topics)
    first = {}
    for topic, log_ns, msg in bag.messages():
        first.setdefault(topic, msg)
        assert log_ns == header_ns(msg)  # recorded when stamped
    assert first[schema.RGB_TOPIC].encoding == "rgb8" and first[schema.DEPTH_TOPIC].encoding == "16UC1"
    assert first[schema.GT_TOPIC].encoding == "32FC1"
    for topics, frame_id in (((schema.RGB_TOPIC, schema.RGB_INFO_TOPIC), schema.RGB_FRAME_ID),
                             ((schema.DEPTH_TOPIC, schema.DEPTH_INFO_TOPIC), schema.DEPTH_FRAME_ID)):
        assert [first[t].header.frame_id for t in topics] == [frame_id, frame_id]
    hr, lr = first[schema.RGB_INFO_TOPIC], first[schema.DEPTH_INFO_TOPIC]
    assert (hr.width, hr.height, lr.width, lr.height) == (960, 528, 240, 132)
    # the RGB camera at 1/4, pixel centres kept in place: the network grid, so auto sees registered input
    np.testing.assert_allclose(lr.k[[0, 4]], np.array([hr.k[0], hr.k[4]]) / 4)
    np.testing.assert_allclose(lr.k[[2, 5]], (np.array([hr.k[2], hr.k[5]]) + 0.5) / 4 - 0.5)
    np.testing.assert_allclose(lr.p[[0, 5]], hr.p[[0, 5]] / 4)


@requires_shared
def test_no_intrinsics_no_camera_info(tmp_path: Path, clip: Clip) -> None:
    bag = open_bag(write_bag(dataclasses.replace(clip, intrinsics=None), tmp_path / "bag"))
    assert schema.RGB_INFO_TOPIC not in bag.topics and schema.DEPTH_INFO_TOPIC not in bag.topics
    assert bag.read_clip().intrinsics is None


def _stamps(bag_path: Path) -> dict[str, np.ndarray]:
    stamps: dict[str, list[int]] = {}
    for topic, _, msg in open_bag(bag_path).messages((schema.RGB_TOPIC, schema.DEPTH_TOPIC)):
        stamps.setdefault(topic, []).append(header_ns(msg))
    return {t: np.array(v) / 1e9 for t, v in stamps.items()}


def _tiny(frames: int, stamps: np.ndarray | None = None) -> Clip:
    """A small clip whose pixels do not matter (timing tests)."""
    from stdnet_ros.data.frames import Frame

    rng = np.random.default_rng(0)
    times = np.arange(frames) / 30.0 if stamps is None else stamps
    return Clip("tiny", 4, 10.0, [
        Frame(rng.integers(0, 255, (8, 12, 3), np.uint8), rng.random((2, 3), np.float32) + 1, float(t))
        for t in times
    ])  # fmt: skip


def test_timing_offset_jitter_rates_and_seed(tmp_path: Path) -> None:
    clip = _tiny(40)
    timing = Timing(depth_offset_s=0.005, jitter_s=0.001, seed=7)
    a = _stamps(write_bag(clip, tmp_path / "a", timing=timing))
    b = _stamps(write_bag(clip, tmp_path / "b", timing=timing))
    c = _stamps(write_bag(clip, tmp_path / "c", timing=dataclasses.replace(timing, seed=8)))
    rgb, depth = a[schema.RGB_TOPIC], a[schema.DEPTH_TOPIC]
    assert rgb[0] > 1e9, "stamps look like ROS wall time even when the clip's start at 0"
    assert all(np.array_equal(a[t], b[t]) for t in a), "same seed, same stamps"
    assert not np.array_equal(a[schema.DEPTH_TOPIC], c[schema.DEPTH_TOPIC]), "the seed drives the jitter"
    lag = depth - rgb
    assert abs(lag.mean() - 0.005) < 0.001 and 0.0003 < lag.std() < 0.003 and np.all(lag > 0)
    assert np.all(np.diff(rgb) > 0) and np.all(np.diff(depth) > 0)
    np.testing.assert_allclose(np.median(np.diff(rgb)), 1 / 30, atol=5e-4)
    # A slower ToF: its own rate, each message showing the nearest colour frame.
    slow = write_bag(clip, tmp_path / "slow", timing=Timing(depth_hz=10.0, jitter_s=0.0))
    s = _stamps(slow)
    assert len(s[schema.RGB_TOPIC]) == 40 and len(s[schema.DEPTH_TOPIC]) == 14
    np.testing.assert_allclose(np.diff(s[schema.DEPTH_TOPIC]), 0.1, atol=1e-6)
    frames = open_bag(slow).read_clip().frames
    assert len(frames) == 14
    assert np.array_equal(frames[1].rgb, clip.frames[3].rgb)
    assert np.array_equal(frames[1].depth_lr, _mm(clip.frames[3].depth_lr))


def test_timing_follows_clip_rate() -> None:
    from stdnet_ros.bags.timing import schedule

    plan = schedule(list(1.7e9 + np.arange(10) / 15.0), Timing(jitter_s=0.0, depth_offset_s=0.0))
    np.testing.assert_allclose(np.diff(plan.rgb_stamps), 1 / 15, atol=1e-6)
    with pytest.raises(ValueError, match="above the RGB rate"):
        schedule([0.0, 0.1], Timing(rgb_hz=10, depth_hz=20))


# ---- bad input --------------------------------------------------------------------------------
def test_missing_bag(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="bag not found"):
        open_bag(tmp_path / "nope")


def test_folder_that_is_not_a_bag(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(BagError, match="cannot open bag"):
        open_bag(tmp_path)


def _raw_bag(path: Path, topics: dict[str, str]) -> Path:
    """A real bag with one empty message per topic, of the given types."""
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        for topic, msgtype in topics.items():
            conn = writer.add_connection(topic, msgtype, typestore=schema.TYPESTORE)
            msg = schema.TYPESTORE.types[msgtype]() if msgtype == "std_msgs/msg/Empty" else None
            if msg is not None:
                writer.write(conn, 1, schema.TYPESTORE.serialize_cdr(msg, msgtype))
    return path


def test_bag_without_the_needed_topics(tmp_path: Path) -> None:
    topics = {schema.RGB_TOPIC: "sensor_msgs/msg/Image", "/chatter": "std_msgs/msg/Empty"}
    bag = _raw_bag(tmp_path / "bag", topics)
    with pytest.raises(BagError, match=r"lacks topic\(s\) \['/tof/depth/image_raw'\]"):
        open_bag(bag)


def test_wrong_message_type(tmp_path: Path) -> None:
    bag = _raw_bag(tmp_path / "bag", {schema.RGB_TOPIC: "sensor_msgs/msg/Image",
                                      schema.DEPTH_TOPIC: "sensor_msgs/msg/CompressedImage"})  # fmt: skip
    with pytest.raises(BagError, match="image_raw holds sensor_msgs/msg/CompressedImage, expected"):
        open_bag(bag)


@requires_shared
@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_truncated_bag(tmp_path: Path, clip: Clip, storage: str) -> None:
    bag = write_bag(clip, tmp_path / "bag", storage)
    (data,) = [p for p in bag.iterdir() if p.name != "metadata.yaml"]
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    with pytest.raises(BagError, match="bag"):
        open_bag(bag).read_clip()


@requires_shared
def test_corrupt_message_bytes(tmp_path: Path, clip: Clip) -> None:
    """Damage inside the data (an intact index): found while reading, not scored as frames."""
    bag = write_bag(clip, tmp_path / "bag", "sqlite3")
    import sqlite3

    (db,) = bag.glob("*.db3")
    with sqlite3.connect(db) as con:
        con.execute("UPDATE messages SET data = substr(data, 1, 40) WHERE id = 1")
    with pytest.raises(BagError, match="truncated or corrupt"):
        open_bag(bag).read_clip()


@requires_shared
def test_writer_leaves_nothing_on_error(tmp_path: Path, clip: Clip) -> None:
    bad = dataclasses.replace(clip, frames=list(clip.frames))
    bad.frames[2] = dataclasses.replace(clip.frames[2], depth_lr=clip.frames[2].depth_lr.astype(object))
    with pytest.raises(TypeError):  # fails on the last frame, after the others were written
        write_bag(bad, tmp_path / "bag")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(BagError, match=r"frame 1: RGB \(8, 12, 3\)"):
        write_bag(dataclasses.replace(clip, frames=[clip.frames[0], _tiny(1).frames[0]]), tmp_path / "b")
    (tmp_path / "taken").mkdir()
    with pytest.raises(BagError, match="exists already"):
        write_bag(clip, tmp_path / "taken")
    assert list((tmp_path / "taken").iterdir()) == []


@requires_shared
def test_convert_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dyd"
    assert cli_main(["convert", str(DYDTOF), str(out), "--frames", "2", "--scale", "16",
                     "--depth-encoding", "32FC1", "--format", "sqlite3"]) == 0  # fmt: skip
    assert "wrote" in capsys.readouterr().out
    bag = open_bag(out)
    assert bag.info["depth_encoding"] == "32FC1" and len(bag.read_clip()) == 2
    syn = tmp_path / "syn"
    assert cli_main(["convert", "synthetic", str(syn), "--frames", "3", "--size", "32", "48"]) == 0
    assert open_bag(syn).read_clip().frames[0].rgb.shape == (32, 48, 3)
    assert cli_main(["convert", "synthetic", str(syn), "--frames", "3"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert cli_main(["convert", str(tmp_path / "none"), str(tmp_path / "x")]) == 2
    assert "not found" in capsys.readouterr().err


def test_undecodable_image(tmp_path: Path) -> None:
    """A depth topic carrying colour pixels: named with its stamp, not turned into a wrong depth."""
    from stdnet_ros.bags import messages as m

    with Writer(tmp_path / "bag", version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        for topic in (schema.RGB_TOPIC, schema.DEPTH_TOPIC):
            conn = writer.add_connection(topic, schema.IMAGE, typestore=schema.TYPESTORE)
            msg = m.image(np.zeros((8, 8, 3), np.uint8), "rgb8", 1_000_000_000, "x")
            writer.write(conn, 1_000_000_000, schema.TYPESTORE.serialize_cdr(msg, schema.IMAGE))
    with pytest.raises(BagError, match=r"/tof/depth/image_raw message at 1.000000 s: encoding 'rgb8'"):
        open_bag(tmp_path / "bag").read_clip()
