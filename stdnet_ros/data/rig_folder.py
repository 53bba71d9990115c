"""A camera pair's recording as a folder: the rig's calibration and, per clip, RGB, ToF depth and truth.

Layout (every image of a clip shares its file name, frames in name order)::

    <folder>/
      rig.yaml                  depth_to_rgb: [x, y, z, qx, qy, qz, qw]   # the ToF's optical frame in
                                depth_is_range: false                     # the RGB's: p_rgb = R p_tof + t
      rgb_camera_info.yaml      the RGB camera, ROS calibration YAML (camera_calibration_parsers)
      depth_camera_info.yaml    the ToF camera, the same format, with its lens distortion
      <clip>/
        rgb/000000.png          8-bit colour, the RGB camera's size
        depth/000000.png        16-bit, ToF depth in millimetres at the ToF's own size, 0 = no return
        gt/000000.png           16-bit, true depth (z in the RGB's optical frame) in millimetres, 0 = unknown
        visible/000000.png      optional 8-bit: 255 where the ToF sees the RGB pixel's surface
        stamps.txt              optional: one stamp in seconds per frame

``depth_to_rgb`` is the node's parameter of the same name (tf2's ``lookup_transform(rgb_frame,
depth_frame)``). Reading registers each ToF frame into the RGB camera's network grid with the
package's :class:`Registration` (the node's), so an evaluation sees what the node sees; the
scored pixels are the ``visible`` ones (all valid truth when the folder has none).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml

from stdnet_ros.data.calibration import camera_info_yaml, read_camera_info
from stdnet_ros.data.frames import Clip, Frame
from stdnet_ros.geometry.camera import CameraModel
from stdnet_ros.geometry.pose import Pose
from stdnet_ros.geometry.registration import Registration
from stdnet_ros.geometry.rig import Rig, xyzquat

RIG_FILE, RGB_INFO, DEPTH_INFO = "rig.yaml", "rgb_camera_info.yaml", "depth_camera_info.yaml"
MM = 1000.0
MAX_DEPTH_M = 20.0  # the clips' normalisation (the evaluator uses each model's own)


def is_rig_folder(root: str | Path) -> bool:
    return (Path(root) / RIG_FILE).is_file()


def _depth_png(depth: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(depth) & (depth > 0), np.rint(depth * MM), 0).clip(0, 65535).astype(np.uint16)


def _read(path: Path, flags: int) -> np.ndarray:
    image = cv2.imread(str(path), flags)
    if image is None:
        raise FileNotFoundError(f"image missing or unreadable: {path}")
    return image


def _metres(path: Path) -> np.ndarray:
    mm = _read(path, cv2.IMREAD_UNCHANGED)
    if mm.dtype != np.uint16 or mm.ndim != 2:
        raise ValueError(f"{path}: expected a 16-bit one-channel PNG (mm), got {mm.dtype} {mm.shape}")
    return np.where(mm > 0, mm / np.float32(MM), np.nan).astype(np.float32)


def write_rig_folder(root: str | Path, clips: list[Clip]) -> Path:
    """Write clips of one rig (their ``rig``, ``depth_tof``, ``depth_gt`` and ``visible``) as a rig folder."""
    root = Path(root)
    rig = clips[0].rig
    def same(other: Rig | None) -> bool:
        return (other is not None and other.tof.matches(rig.tof, 0, 0) and other.rgb.matches(rig.rgb, 0, 0)
                and np.allclose(xyzquat(other.pose), xyzquat(rig.pose)))  # fmt: skip

    if rig is None or not all(same(c.rig) for c in clips):
        raise ValueError("a rig folder holds clips of one camera pair: every clip needs the same rig")
    root.mkdir(parents=True, exist_ok=False)
    (root / RIG_FILE).write_text(yaml.safe_dump({"depth_to_rgb": xyzquat(rig.pose), "depth_is_range": False}))
    (root / RGB_INFO).write_text(camera_info_yaml(rig.rgb, "rgb"))
    (root / DEPTH_INFO).write_text(camera_info_yaml(rig.tof, "tof"))
    for clip in clips:
        folder = root / clip.name
        for sub in ("rgb", "depth", "gt", "visible"):
            (folder / sub).mkdir(parents=True)
        for i, frame in enumerate(clip):
            name = f"{i:06d}.png"
            cv2.imwrite(str(folder / "rgb" / name), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
            cv2.imwrite(str(folder / "depth" / name), _depth_png(frame.depth_tof))
            cv2.imwrite(str(folder / "gt" / name), _depth_png(frame.depth_gt))
            cv2.imwrite(str(folder / "visible" / name), frame.visible.astype(np.uint8) * 255)
        (folder / "stamps.txt").write_text("".join(f"{f.stamp:.6f}\n" for f in clip))
    return root


def read_rig(root: str | Path) -> tuple[Rig, bool]:
    """The folder's camera pair and whether its ToF reports radial distance."""
    root = Path(root)
    data = yaml.safe_load((root / RIG_FILE).read_text()) or {}
    if "depth_to_rgb" not in data:
        raise ValueError(f"{root / RIG_FILE}: no depth_to_rgb: [x, y, z, qx, qy, qz, qw]")
    rgb = CameraModel.from_camera_info(read_camera_info(root / RGB_INFO))
    tof = CameraModel.from_camera_info(read_camera_info(root / DEPTH_INFO))
    return Rig(rgb, tof, Pose.from_xyzquat(data["depth_to_rgb"])), bool(data.get("depth_is_range", False))


def read_rig_clips(root: str | Path, scale: int, frames: int | None = None) -> list[Clip]:
    """Every clip of a rig folder at ``scale``: the ToF registered into the RGB camera's x``scale`` grid."""
    root = Path(root)
    rig, depth_is_range = read_rig(root)
    if rig.rgb.width % scale or rig.rgb.height % scale:
        raise ValueError(f"{root}: the RGB's {rig.rgb.width}x{rig.rgb.height} is not divisible by x{scale}")
    registration = Registration(rig.tof, rig.rgb, scale, rig.pose, depth_is_range)
    clips = []
    for folder in sorted(p for p in root.iterdir() if (p / "rgb").is_dir()):
        names = sorted(p.name for p in (folder / "rgb").glob("*.png"))[:frames]
        stamps_file = folder / "stamps.txt"
        stamps = [float(s) for s in stamps_file.read_text().split()] if stamps_file.is_file() else []
        clip = Clip(folder.name, scale, MAX_DEPTH_M, rig=rig)
        for i, name in enumerate(names):
            rgb = cv2.cvtColor(_read(folder / "rgb" / name, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            tof = _metres(folder / "depth" / name)
            gt = _metres(folder / "gt" / name)
            seen = folder / "visible" / name
            visible = _read(seen, cv2.IMREAD_GRAYSCALE) > 127 if seen.is_file() else None
            if rgb.shape[:2] != (rig.rgb.height, rig.rgb.width) or gt.shape != rgb.shape[:2]:
                raise ValueError(f"{folder.name}/{name}: RGB {rgb.shape[:2]} and truth {gt.shape} are not "
                                 f"the RGB camera's {rig.rgb.height}x{rig.rgb.width}")  # fmt: skip
            stamp = stamps[i] if stamps else i / 30
            clip.frames.append(Frame(rgb=rgb, depth_lr=registration(tof), stamp=stamp, depth_gt=gt,
                                     depth_tof=tof, visible=visible))  # fmt: skip
        if not names:
            raise ValueError(f"{folder}: no frames in rgb/")
        clips.append(clip)
    if not clips:
        raise ValueError(f"{root}: a rig folder but no clip folder (with rgb/, depth/, gt/) inside")
    return clips
