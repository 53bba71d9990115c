"""Open a rosbag2 bag (MCAP or sqlite3), check it is an RGB-D recording, and read it as ``Frame`` objects.

Every way a bag can be unusable (missing, not a bag, lacking a topic, a topic
of the wrong type, truncated or corrupt) raises :class:`BagError` naming the
file and the problem, so a replay never scores a partial or misread sequence.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import Reader

from stdnet_ros.bags.schema import (
    CLIP_METADATA_KEY,
    DEPTH_INFO_TOPIC,
    DEPTH_TOPIC,
    GT_TOPIC,
    REQUIRED_TOPICS,
    RGB_INFO_TOPIC,
    RGB_TOPIC,
    TF_STATIC_TOPIC,
    TOPIC_TYPES,
    TYPESTORE,
    BagError,
)
from stdnet_ros.conversion import ImageFormatError, header_ns, image_to_depth, image_to_rgb
from stdnet_ros.data.frames import Clip, Frame
from stdnet_ros.geometry.camera import CameraModel
from stdnet_ros.geometry.pose import Pose
from stdnet_ros.geometry.registration import Registration
from stdnet_ros.geometry.rig import Rig

log = logging.getLogger(__name__)
DEFAULT_SLOP_S = 0.02  # the node's default pairing tolerance


@dataclass
class _Rgb:
    ns: int
    rgb: np.ndarray
    gt: np.ndarray | None = None


class BagClip:
    """A validated RGB-D bag; iterate it for frames, or read it whole with :meth:`read_clip`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f"bag not found: {self.path}")
        try:
            with Reader(self.path) as reader:
                self.topics = {c.topic: c.msgtype for c in reader.connections}
                self.counts = {c.topic: c.msgcount for c in reader.connections}
                metadata = getattr(reader.storage, "metadata", None)
                custom = (metadata.custom if metadata else None) or {}
        except Exception as err:  # rosbags raises several types for unreadable storage
            raise BagError(f"cannot open bag {self.path}: {type(err).__name__}: {err}") from err
        missing = [t for t in REQUIRED_TOPICS if t not in self.topics]
        if missing:
            raise BagError(f"bag {self.path} lacks topic(s) {missing}; it has {sorted(self.topics)}")
        for topic, msgtype in self.topics.items():
            expected = TOPIC_TYPES.get(topic)
            if expected and msgtype != expected:
                raise BagError(f"bag {self.path}: topic {topic} holds {msgtype}, expected {expected}")
        self.info: dict[str, Any] = json.loads(custom.get(CLIP_METADATA_KEY, "{}"))

    @property
    def has_gt(self) -> bool:
        return GT_TOPIC in self.topics

    def messages(self, topics: tuple[str, ...] = ()) -> Iterator[tuple[str, int, Any]]:
        """(topic, log time ns, deserialised message) in log order, of ``topics`` (default: all)."""
        try:
            with Reader(self.path) as reader:
                conns = [c for c in reader.connections if not topics or c.topic in topics]
                for conn, ns, raw in reader.messages(connections=conns):
                    yield conn.topic, ns, TYPESTORE.deserialize_cdr(raw, conn.msgtype)
        except BagError:
            raise
        except Exception as err:
            raise BagError(f"bag {self.path} is truncated or corrupt: {type(err).__name__}: {err}") from err

    def _decode(self, topic: str, ns: int, msg: Any) -> np.ndarray:
        try:
            image = image_to_rgb(msg) if topic == RGB_TOPIC else image_to_depth(msg)
        except ImageFormatError as err:
            raise BagError(f"bag {self.path}: {topic} message at {ns / 1e9:.6f} s: {err}") from err
        return image if image.flags.writeable else image.copy()  # frames are the caller's to modify

    def frames(self, slop_s: float = DEFAULT_SLOP_S) -> Iterator[Frame]:
        """One Frame per depth message, with the RGB (and GT) nearest in stamp within ``slop_s``.

        ``Frame.stamp`` is the depth message's stamp: the node stamps its output
        with it, so it is the key that matches an output to its ground truth.
        """
        for _, frame in self.stamped_frames(slop_s):
            yield frame

    def _first(self, topic: str) -> Any | None:
        for _, _, msg in self.messages((topic,)):
            return msg
        return None

    def rig(self) -> Rig | None:
        """The camera pair of a rig bag (its ``/tf_static`` and both camera_infos), None for a bag whose
        depth is registered to the RGB already."""
        if TF_STATIC_TOPIC not in self.topics:
            return None
        infos = {t: self._first(t) for t in (RGB_INFO_TOPIC, DEPTH_INFO_TOPIC)}
        tf = self._first(TF_STATIC_TOPIC)
        if any(v is None for v in infos.values()) or tf is None or not tf.transforms:
            raise BagError(f"bag {self.path}: a rig bag needs both camera_infos and a /tf_static transform")
        t = tf.transforms[0].transform
        pose = Pose.from_xyzquat([t.translation.x, t.translation.y, t.translation.z,
                                  t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w])  # fmt: skip
        return Rig(CameraModel.from_camera_info(infos[RGB_INFO_TOPIC]),
                   CameraModel.from_camera_info(infos[DEPTH_INFO_TOPIC]), pose)  # fmt: skip

    def _registration(self) -> Registration | None:
        """How a rig bag's ToF depth becomes the network grid's (the node's own registration)."""
        rig = self.rig()
        if rig is None:
            return None
        if "scale" not in self.info:
            raise BagError(f"bag {self.path}: a rig bag without stdnet_ros metadata names no scale")
        return Registration(rig.tof, rig.rgb, int(self.info["scale"]), rig.pose)

    def stamped_frames(self, slop_s: float = DEFAULT_SLOP_S) -> Iterator[tuple[int, Frame]]:
        """(exact depth stamp in ns, Frame): float seconds cannot hold wall-clock nanoseconds.

        In a rig bag ``depth_tof`` is the ToF's image and ``depth_lr`` that image registered into the
        RGB camera's grid at the bag's scale, as the node registers it."""
        slop = round(slop_s * 1e9)
        registration = self._registration()
        rgbs: list[_Rgb] = []
        pending: list[tuple[int, np.ndarray]] = []
        unpaired = 0

        def resolve(final: bool) -> Iterator[tuple[int, Frame]]:
            nonlocal unpaired
            latest = rgbs[-1].ns if rgbs else None
            while pending and (final or (latest is not None and latest > pending[0][0] + slop)):
                ns, depth = pending.pop(0)
                best = min(rgbs, key=lambda r: abs(r.ns - ns), default=None)
                if best is None or abs(best.ns - ns) > slop:
                    unpaired += 1
                    continue
                if registration is None:
                    yield ns, Frame(rgb=best.rgb, depth_lr=depth, stamp=ns / 1e9, depth_gt=best.gt)
                else:
                    yield ns, Frame(rgb=best.rgb, depth_lr=registration(depth), stamp=ns / 1e9,
                                    depth_gt=best.gt, depth_tof=depth)  # fmt: skip

        for topic, _, msg in self.messages((RGB_TOPIC, DEPTH_TOPIC, GT_TOPIC)):
            ns = header_ns(msg)
            if topic == DEPTH_TOPIC:
                pending.append((ns, self._decode(topic, ns, msg)))
            elif topic == RGB_TOPIC:
                rgbs = [*rgbs[-15:], _Rgb(ns, self._decode(topic, ns, msg))]
            else:
                for r in rgbs:
                    if r.ns == ns:
                        r.gt = self._decode(topic, ns, msg)
            yield from resolve(final=False)
        yield from resolve(final=True)
        if unpaired:
            log.warning("%s: %d depth message(s) had no RGB within %.3f s", self.path, unpaired, slop_s)

    def intrinsics(self) -> tuple[float, float, float, float] | None:
        """fx, fy, cx, cy of the RGB camera from its first camera_info, if the bag has one."""
        if RGB_INFO_TOPIC not in self.topics:
            return None
        for _, _, msg in self.messages((RGB_INFO_TOPIC,)):
            k = msg.k
            return float(k[0]), float(k[4]), float(k[2]), float(k[5])
        return None

    def read_clip(self, limit: int | None = None) -> Clip:
        """The first ``limit`` frames (default all) as a Clip; scale from the image sizes."""
        frames: list[Frame] = []
        for frame in self.frames():
            frames.append(frame)
            if limit is not None and len(frames) >= limit:
                break
        if not frames:
            raise BagError(f"bag {self.path} has no depth message with a matching RGB image")
        scale = frames[0].rgb.shape[1] // frames[0].depth_lr.shape[1]
        name = self.info.get("name", self.path.name)
        max_depth = float(self.info.get("max_depth", float("nan")))  # unknown for foreign bags
        return Clip(name, scale, max_depth, frames, self.intrinsics(), self.rig())


def open_bag(path: str | Path) -> BagClip:
    """Open and validate an RGB-D bag (raises BagError)."""
    return BagClip(path)
