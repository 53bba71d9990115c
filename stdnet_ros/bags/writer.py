"""Write a ``Clip`` as a rosbag2 bag (MCAP or sqlite3) a recorded RGB-D rig could have produced.

The bag is written into a hidden folder beside the target and renamed into
place only when complete, so an error or an interrupt never leaves a
half-written bag where a later replay would find it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rosbags.rosbag2 import StoragePlugin, Writer
from tqdm import tqdm

from stdnet_ros.bags import messages as m
from stdnet_ros.bags.schema import (
    CLIP_METADATA_KEY,
    DEPTH_FRAME_ID,
    DEPTH_INFO_TOPIC,
    DEPTH_TOPIC,
    GT_TOPIC,
    RGB_FRAME_ID,
    RGB_INFO_TOPIC,
    RGB_TOPIC,
    STORAGE_FORMATS,
    TF_STATIC_TOPIC,
    TOPIC_TYPES,
    TYPESTORE,
    BagError,
)
from stdnet_ros.bags.timing import Schedule, Timing, schedule
from stdnet_ros.conversion import DEPTH_ENCODINGS, encode_depth
from stdnet_ros.data.frames import Clip, scored_truth

log = logging.getLogger(__name__)
_PLUGINS = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}


@contextmanager
def staged_folder(out: Path, create: bool = True) -> Iterator[Path]:
    """A folder named like ``out`` inside a hidden one beside it, moved to ``out`` only if the block
    completes (same name, so files named after their folder, like a bag's, stay right)."""
    check_target(out)
    root = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    inner = root / out.name
    if create:
        inner.mkdir()
    try:
        yield inner
        inner.rename(out)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def staged_bag(out: Path, storage: str = "mcap") -> Iterator[Writer]:
    """An open rosbags Writer whose bag appears at ``out`` only if the block completes."""
    if storage not in STORAGE_FORMATS:
        raise BagError(f"storage format {storage!r} not in {STORAGE_FORMATS}")
    with staged_folder(out, create=False) as staging,  \
            Writer(staging, version=9, storage_plugin=_PLUGINS[storage]) as writer:  # fmt: skip
        yield writer


def check_target(out: Path) -> None:
    """Refuse to overwrite anything, and a folder with nowhere to go."""
    if out.exists():
        raise BagError(f"{out} exists already; not overwriting it")
    if not out.parent.is_dir():
        raise BagError(f"folder {out.parent} does not exist")


def check_clip(clip: Clip) -> tuple[int, int]:
    """(H, W) of the clip's RGB; raises BagError naming the first frame that does not fit."""
    if not clip.frames:
        raise BagError(f"clip {clip.name!r} has no frames")
    height, width = clip.frames[0].rgb.shape[:2]
    lr = (height // clip.scale, width // clip.scale)
    for i, frame in enumerate(clip.frames):
        problem = None
        if frame.rgb.shape != (height, width, 3) or frame.rgb.dtype.name != "uint8":
            problem = f"RGB {frame.rgb.shape} {frame.rgb.dtype}, expected ({height}, {width}, 3) uint8"
        elif frame.depth_lr.shape != lr or height % clip.scale or width % clip.scale:
            problem = f"LR depth {frame.depth_lr.shape} is not RGB ({height}, {width}) / scale {clip.scale}"
        elif frame.depth_gt is not None and frame.depth_gt.shape != (height, width):
            problem = f"GT depth {frame.depth_gt.shape} is not the RGB size ({height}, {width})"
        elif clip.rig is not None and (frame.depth_tof is None or frame.visible is None
                                       or frame.depth_tof.shape != (clip.rig.tof.height, clip.rig.tof.width)):
            problem = f"a rig clip's frame needs the ToF's own {clip.rig.tof.width}x{clip.rig.tof.height} " \
                      "image and the visible mask"  # fmt: skip
        if problem:
            raise BagError(f"clip {clip.name!r} frame {i}: {problem}")
    return height, width


def _events(plan: Schedule, has_gt: bool, has_info: bool, has_tf: bool) -> list[tuple[int, int, str, int]]:
    """(stamp ns, tie order, topic, index) of every message, in the order a recorder would log them."""
    events = []
    if has_tf:  # the mount, once, before the first image (latched: a late subscriber still gets it)
        events.append((m.seconds_to_ns(float(min(plan.rgb_stamps[0], plan.depth_stamps[0]))), -1,
                       TF_STATIC_TOPIC, 0))  # fmt: skip
    for i, t in enumerate(plan.rgb_stamps):
        ns = m.seconds_to_ns(float(t))
        events.append((ns, 1, RGB_TOPIC, i))
        if has_info:  # before its image, so a node has the geometry when the image arrives
            events.append((ns, 0, RGB_INFO_TOPIC, i))
        if has_gt:
            events.append((ns, 2, GT_TOPIC, i))
    for j, t in enumerate(plan.depth_stamps):
        ns = m.seconds_to_ns(float(t))
        events.append((ns, 4, DEPTH_TOPIC, j))
        if has_info:
            events.append((ns, 3, DEPTH_INFO_TOPIC, j))
    return sorted(events)


def write_bag(
    clip: Clip,
    out: str | Path,
    storage: str = "mcap",
    depth_encoding: str = "16UC1",
    timing: Timing | None = None,
    progress: bool = False,
) -> Path:
    """Write ``clip`` to the rosbag2 folder ``out`` (which must not exist) and return its path.

    Topics and frame ids are in ``schema``; camera_info is written only when
    the clip knows its intrinsics (a guessed focal length would be silently
    wrong downstream), ground truth only when every frame has it. A clip with a
    ``rig`` (a separate ToF camera) is written as that camera pair records it: the
    ToF's own image and camera_info, and ``/tf_static`` with its optical frame in
    the RGB's; its ground truth only where the ToF sees.
    """
    out = Path(out)
    if depth_encoding not in DEPTH_ENCODINGS:
        raise BagError(f"depth encoding {depth_encoding!r} not in {DEPTH_ENCODINGS}")
    check_target(out)
    height, width = check_clip(clip)
    timing = timing or Timing()
    try:
        plan = schedule([f.stamp for f in clip.frames], timing)
    except ValueError as err:
        raise BagError(f"clip {clip.name!r}: {err}") from None
    has_gt = all(f.depth_gt is not None for f in clip.frames)
    rig = clip.rig
    has_info = clip.intrinsics is not None or rig is not None
    if not has_info:
        log.warning("clip %r has no intrinsics: writing no camera_info topics", clip.name)
    infos: dict[str, Any] = {}
    if rig is not None:
        infos[RGB_INFO_TOPIC] = m.camera_info_of(rig.rgb, 0, RGB_FRAME_ID)
        infos[DEPTH_INFO_TOPIC] = m.camera_info_of(rig.tof, 0, DEPTH_FRAME_ID)
    elif has_info:
        infos[RGB_INFO_TOPIC] = m.camera_info(clip.intrinsics, width, height, 0, RGB_FRAME_ID)
        infos[DEPTH_INFO_TOPIC] = m.scaled_camera_info(
            infos[RGB_INFO_TOPIC], width // clip.scale, height // clip.scale, DEPTH_FRAME_ID)

    def message(topic: str, index: int, ns: int) -> Any:
        if topic in infos:
            return m.restamped(infos[topic], ns)
        if topic == RGB_TOPIC:
            return m.image(clip.frames[index].rgb, "rgb8", ns, RGB_FRAME_ID)
        if topic == TF_STATIC_TOPIC:
            return m.static_transform(rig.pose, RGB_FRAME_ID, DEPTH_FRAME_ID, ns)
        if topic == GT_TOPIC:
            gt = scored_truth(clip.frames[index])
            return m.image(encode_depth(gt, "32FC1"), "32FC1", ns, RGB_FRAME_ID)
        frame = clip.frames[int(plan.depth_frames[index])]
        depth = frame.depth_lr if rig is None else frame.depth_tof
        return m.image(encode_depth(depth, depth_encoding), depth_encoding, ns, DEPTH_FRAME_ID)

    events = _events(plan, has_gt, has_info, rig is not None)
    with staged_bag(out, storage) as writer:
        meta = {"name": clip.name, "scale": clip.scale, "max_depth": clip.max_depth, "rig": rig is not None,
                "depth_encoding": depth_encoding, "timing": asdict(timing)}  # fmt: skip
        writer.set_custom_data(CLIP_METADATA_KEY, json.dumps(meta))
        topics = {topic for _, _, topic, _ in events}
        conns = {t: writer.add_connection(t, TOPIC_TYPES[t], typestore=TYPESTORE)
                 for t in TOPIC_TYPES if t in topics}  # fmt: skip
        for ns, _, topic, index in tqdm(events, desc=f"writing {out.name}", unit="msg",
                                        disable=not progress, leave=False):  # fmt: skip
            msg = message(topic, index, ns)
            writer.write(conns[topic], ns, TYPESTORE.serialize_cdr(msg, TOPIC_TYPES[topic]))
    log.info("wrote %s: %d frames, %d depth messages, %s, depth %s%s", out, len(clip.frames),
             len(plan.depth_stamps), storage, depth_encoding, ", with ground truth" if has_gt else "")
    return out
