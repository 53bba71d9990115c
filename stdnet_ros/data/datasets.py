"""Readers for DyDToF, TartanAir and DynamicReplica in the folder layouts STDNet's loaders expect.

Each data set is a root folder plus index files whose lines read
``scene, shot, frame count[, file prefix]``. Paths, file names and the depth
normalisation (40 m, 30 m, 17700 units) follow the published loaders exactly,
so a folder prepared for the authors' code works here unchanged. Depth comes
out in metres (DynamicReplica's unit is 0.1 mm: the published evaluation
divides it by 100 to get centimetres), with NaN where it is not valid.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from stdnet_ros.data.frames import Clip, Frame
from stdnet_ros.depth import valid_mask


@dataclass(frozen=True)
class Layout:
    """Where one data set keeps its files (templates over root, scene, shot, prefix, index, scale)."""

    name: str
    max_depth: float  # in the data set's own unit: maps to 1.0 in the network
    unit_m: float  # metres per unit of the stored depth
    rgb: str
    depth_hr: str
    depth_lr: str
    clip_gt: bool  # the published loader clips the ground truth to [0, max_depth]
    intrinsics: tuple[float, float, float, float] | None = None

    @property
    def max_depth_m(self) -> float:
        return self.max_depth * self.unit_m


LAYOUTS = {
    "dydtof": Layout(
        "DyDToF", 40.0, 1.0,
        rgb="DyDToF_HR_RGB/{scene}/{shot}/color/{prefix}{index:04d}.jpeg",
        depth_hr="DyDToF_HR_RGB/{scene}/{shot}/depth/{prefix}{index:04d}.npy",
        depth_lr="DyDToF_LR/X{scale}/{scene}/{shot}/depth/{prefix}{index:04d}.npy",
        clip_gt=True,
    ),
    "tartanair": Layout(
        "TartanAir", 30.0, 1.0,
        rgb="HR_RGB/{scene}/{shot}/image_left/{index:06d}_left.png",
        depth_hr="HR_RGB/{scene}/{shot}/depth_left/{index:06d}_left_depth.npy",
        depth_lr="LR/X{scale}/{scene}/{shot}/{index:06d}_left_depth.npy",
        clip_gt=False,
        intrinsics=(320.0, 320.0, 320.0, 240.0),
    ),
    "dynamicreplica": Layout(
        "DynamicReplica", 17700.0, 1e-4,
        rgb="HR_RGB/{scene}/{shot}/color/{shot}-{index:04d}.png",
        depth_hr="HR_RGB/{scene}/{shot}/depth/processed_{shot}_{index:04d}.geometric.npy",
        depth_lr="LR/X{scale}/{scene}/{shot}/processed_{shot}_{index:04d}.geometric.npy",
        clip_gt=False,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Sequence:
    """One index line."""

    scene: str
    shot: str
    count: int
    prefix: str = ""

    @property
    def name(self) -> str:
        return f"{self.scene}_{self.shot}"


def read_index(path: str | Path) -> list[Sequence]:
    """Parse ``scene, shot, frame count[, file prefix]`` lines (blank lines and # comments skipped)."""
    path = Path(path)
    sequences = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) not in (3, 4) or not fields[2].isdigit() or not all(fields[:2]):
            raise ValueError(f"{path}:{number}: expected 'scene, shot, frame count[, prefix]', got {line!r}")
        prefix = fields[3] if len(fields) == 4 else ""
        sequences.append(Sequence(fields[0], fields[1], int(fields[2]), prefix))
    if not sequences:
        raise ValueError(f"{path}: index file lists no sequence")
    return sequences


def detect_layout(root: Path) -> str:
    """Name the layout from the folders under root."""
    if not root.is_dir():
        raise FileNotFoundError(f"data set folder not found: {root}")
    if (root / "DyDToF_HR_RGB").is_dir():
        return "dydtof"
    if (root / "HR_RGB").is_dir():
        has_tartan = any(root.glob("HR_RGB/*/*/depth_left"))
        return "tartanair" if has_tartan else "dynamicreplica"
    raise ValueError(
        f"{root}: not a DyDToF, TartanAir or DynamicReplica folder (no DyDToF_HR_RGB/ or HR_RGB/)"
    )


def _depth(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"{what} missing: {path}")
    array = np.load(path)
    if array.ndim < 2 or any(d != 1 for d in array.shape[:-2]):
        raise ValueError(f"{path}: expected a depth image, got shape {array.shape}")
    return array.reshape(array.shape[-2:]).astype(np.float32)


class DatasetReader:
    """Frames of the sequences an index lists, at one scale, as metric ``Frame``/``Clip`` objects."""

    def __init__(
        self, root: str | Path, layout: str | Layout, scale: int,
        index: str | Path | list[Path] | None = None, fps: float = 30.0,
    ) -> None:  # fmt: skip
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"data set folder not found: {self.root}")
        self.layout = LAYOUTS[layout] if isinstance(layout, str) else layout
        self.scale = scale
        self.fps = fps
        self.index_files = self._index_files(index)
        self.sequences = [seq for path in self.index_files for seq in read_index(path)]
        lr_root = self.root / self.layout.depth_lr.split("{scene}")[0].format(scale=scale)
        if not lr_root.is_dir():
            have = sorted(p.name for p in lr_root.parent.glob("X*")) if lr_root.parent.is_dir() else []
            raise FileNotFoundError(f"{self.layout.name}: no x{scale} LR depth at {lr_root} (have: {have})")

    def _index_files(self, index: str | Path | list[Path] | None) -> list[Path]:
        if isinstance(index, list):
            return [Path(p) for p in index]
        if index is not None:
            return [Path(index)]
        found = sorted((self.root / "lists").glob("*.txt"))
        if not found:
            raise FileNotFoundError(f"{self.root}: no index given and no lists/*.txt inside")
        return found

    def _path(self, template: str, seq: Sequence, index: int) -> Path:
        fields = {"scene": seq.scene, "shot": seq.shot, "prefix": seq.prefix, "index": index}
        return self.root / template.format(scale=self.scale, **fields)

    def frame(self, seq: Sequence, index: int) -> Frame:
        """Frame ``index`` of a sequence: RGB uint8, LR and GT depth in metres (NaN = invalid)."""
        layout = self.layout
        rgb_path = self._path(layout.rgb, seq, index)
        if not rgb_path.is_file():
            raise FileNotFoundError(f"RGB image missing: {rgb_path}")
        with Image.open(rgb_path) as image:
            rgb = np.asarray(image.convert("RGB"))
        gt = _depth(self._path(layout.depth_hr, seq, index), "ground-truth depth")
        lr = _depth(self._path(layout.depth_lr, seq, index), f"x{self.scale} LR depth")
        if layout.clip_gt:
            gt = np.clip(gt, 0.0, layout.max_depth)
        if rgb.shape[:2] != gt.shape or gt.shape != (lr.shape[0] * self.scale, lr.shape[1] * self.scale):
            raise ValueError(
                f"{seq.name} frame {index}: RGB {rgb.shape[:2]}, GT {gt.shape} and "
                f"x{self.scale} LR {lr.shape} do not match"
            )
        return Frame(rgb=rgb, depth_lr=_metric(lr, layout.unit_m), stamp=index / self.fps,
                     depth_gt=_metric(gt, layout.unit_m))  # fmt: skip

    def clip(self, seq: Sequence, start: int = 0, count: int | None = None) -> Clip:
        count = seq.count - start if count is None else count
        if start < 0 or count < 1 or start + count > seq.count:
            raise ValueError(f"{seq.name}: frames {start}..{start + count - 1} outside 0..{seq.count - 1}")
        frames = [self.frame(seq, i) for i in range(start, start + count)]
        return Clip(seq.name, self.scale, self.layout.max_depth_m, frames, self.layout.intrinsics)

    def clips(self) -> Iterator[Clip]:
        for seq in self.sequences:
            yield self.clip(seq)

    def __len__(self) -> int:
        return sum(seq.count for seq in self.sequences)


def _metric(depth: np.ndarray, unit_m: float) -> np.ndarray:
    out = depth * np.float32(unit_m) if unit_m != 1.0 else depth.copy()
    out[~valid_mask(out)] = np.nan
    return out


def open_dataset(
    root: str | Path, scale: int, index: str | Path | None = None, layout: str | None = None
) -> DatasetReader:
    """A reader for a data set folder, its layout detected unless named."""
    root = Path(root)
    name = layout or detect_layout(root)
    if name not in LAYOUTS:
        raise ValueError(f"unknown layout {name!r}; known: {sorted(LAYOUTS)}")
    return DatasetReader(root, name, scale, index)
