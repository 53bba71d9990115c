"""T-frame training clips as the network's tensors, from the generator or a data set reader.

A sample is ``lr`` (T,1,h,w) and ``gt`` (T,1,H,W) divided by ``max_depth`` and
clipped to [0, 1], ``guide`` (T,3,H,W) in [0, 1], and ``mask`` (T,1,H,W), 1
where the ground truth is valid. Invalid LR pixels get the engine's
nearest-valid fill, so training sees what inference sees. Augmentation is the
published one: random full-size crop, horizontal and vertical flips and a
transpose, each with probability 1/2. Unlike the published loader, crop
offsets are multiples of the scale, so the LR crop covers exactly the HR crop.
Randomness comes from (seed, index, epoch): runs repeat, and DDP ranks or
loader workers never need a shared generator.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import Dataset

from stdnet_ros.data.datasets import DatasetReader
from stdnet_ros.data.frames import Clip, Frame
from stdnet_ros.data.sensors import Sensor
from stdnet_ros.data.synthetic import SceneSpec, generate_clips
from stdnet_ros.depth import network_depth, network_guide, output_support, valid_mask

Sample = dict[str, torch.Tensor]


def network_inputs(frames: list[Frame], max_depth: float) -> tuple[torch.Tensor, torch.Tensor]:
    """lr (T, 1, h, w) and guide (T, 3, H, W) as the network takes them, with the engine's hole filling.

    Training, offline evaluation and the streaming engine must prepare inputs alike,
    or a model is scored on inputs it never saw.
    """
    lr = np.stack([network_depth(f.depth_lr, max_depth) for f in frames])
    guide = network_guide(np.stack([f.rgb for f in frames])).transpose(0, 3, 1, 2)
    return torch.from_numpy(lr)[:, None], torch.from_numpy(guide)


EXPOSURE_GAIN = (0.6, 1.1)  # guide brightness factor range
EXPOSURE_GAMMA = (0.75, 1.33)  # guide gamma range, drawn log-uniform
LUMA = torch.tensor([0.299, 0.587, 0.114])  # BT.601 luma weights (JPEG's YCbCr)


def clip_to_tensors(clip: Clip, max_depth: float) -> Sample:
    """A clip with ground truth as normalised network tensors plus the mask of pixels to learn from.

    The mask is the GT's validity; for a camera pair (frames with a ``visible`` mask) also only
    where the ToF sees the surface or the output would be published (``output_support``): beside
    that, in a field of view the ToF does not share, there is nothing to learn but a guess.
    """
    if any(f.depth_gt is None for f in clip):
        raise ValueError(f"{clip.name}: training needs ground-truth depth in every frame")
    lr, guide = network_inputs(clip.frames, max_depth)
    gt = np.stack([f.depth_gt for f in clip])
    mask = valid_mask(gt)
    if clip.frames[0].visible is not None:
        mask &= np.stack([f.visible | output_support(valid_mask(f.depth_lr), clip.scale) for f in clip])
    return {
        "lr": lr,
        "guide": guide,
        "gt": torch.from_numpy(np.clip(np.where(mask, gt / max_depth, 0), 0, 1).astype(np.float32))[:, None],
        "mask": torch.from_numpy(mask.astype(np.float32))[:, None],
    }


def crop_clip(clip: Clip, size: int, rng: np.random.Generator) -> Clip:
    """A random size x size HR crop, the same for every frame, with offsets on the LR grid."""
    s = clip.scale
    height, width = clip.frames[0].rgb.shape[:2]
    if size % s or size > height or size > width:
        raise ValueError(f"crop {size} must be a multiple of x{s} and fit in {height}x{width}")
    y = int(rng.integers(0, (height - size) // s + 1)) * s
    x = int(rng.integers(0, (width - size) // s + 1)) * s
    frames = [
        type(f)(rgb=f.rgb[y : y + size, x : x + size], stamp=f.stamp,
                depth_lr=f.depth_lr[y // s : (y + size) // s, x // s : (x + size) // s],
                depth_gt=None if f.depth_gt is None else f.depth_gt[y : y + size, x : x + size])
        for f in clip
    ]  # fmt: skip
    return Clip(clip.name, s, clip.max_depth, frames, clip.intrinsics)


def chroma_420(guide: torch.Tensor) -> torch.Tensor:
    """The guide (..., 3, H, W) as a 4:2:0 camera or JPEG stream delivers it: full-resolution luma,
    colour difference (BT.601 Cb, Cr) averaged over 2 x 2 pixels and interpolated back.

    Most RGB streams arrive so (a YUV 4:2:0 encoder, or JPEG with its default subsampling, as the
    DyDToF colour files are, by their headers); a network trained on full-resolution colour learns
    pixel-exact hue edges that such a camera does not have.
    """
    shape = guide.shape
    rgb = guide.reshape(-1, 3, *shape[-2:])
    luma = (rgb * LUMA.view(1, 3, 1, 1)).sum(1, keepdim=True)
    colour = F.interpolate(F.avg_pool2d(rgb - luma, 2), size=shape[-2:], mode="bilinear", align_corners=False)
    return (luma + colour).clamp(0, 1).reshape(shape)


def augment(sample: Sample, rng: np.random.Generator, chroma_420_p: float = 0.0) -> Sample:
    """Horizontal flip, vertical flip, transpose of H and W: each with probability 1/2, on all tensors.

    Then a camera exposure the depth sensor never sees: the guide (only) gets a gain and a gamma
    drawn per clip (``EXPOSURE_GAIN``, ``EXPOSURE_GAMMA``), so the network does not learn one
    brightness and contrast of the renderer as the look of every RGB camera; and, with probability
    ``chroma_420_p``, 4:2:0 colour (``chroma_420``).
    """
    if rng.random() < 0.5:
        sample = {k: v.flip(-1) for k, v in sample.items()}
    if rng.random() < 0.5:
        sample = {k: v.flip(-2) for k, v in sample.items()}
    if rng.random() < 0.5:
        sample = {k: v.transpose(-1, -2) for k, v in sample.items()}
    gain, gamma = rng.uniform(*EXPOSURE_GAIN), float(np.exp(rng.uniform(*np.log(EXPOSURE_GAMMA))))
    guide = (sample["guide"] ** gamma * gain).clamp(0, 1)
    if chroma_420_p > 0 and rng.random() < chroma_420_p:  # no draw at 0: old runs repeat exactly
        guide = chroma_420(guide)
    sample = {**sample, "guide": guide}
    return {k: v.contiguous() for k, v in sample.items()}


class _Epoched(Dataset):
    """Shared (seed, index, epoch) randomness."""

    def __init__(self, seed: int, augment: bool, chroma_420_p: float = 0.0) -> None:
        self.seed = seed
        self.augment = augment
        self.chroma_420_p = chroma_420_p
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """New crops and flips each epoch (call it like DistributedSampler.set_epoch)."""
        self.epoch = epoch

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, index, self.epoch])


class SyntheticClipDataset(_Epoched):
    """``length`` generated clips; index i is scene seed + i, so no two items share a scene.

    With several ``scales`` one render serves all: the sample holds ``lr_x<s>``
    per scale instead of ``lr``. ``sensor`` may list sensor models (one is drawn
    per clip), and ``depth_scale`` rescales each scene's metres by a random factor
    before the sensor sees them (the RGB is unchanged by a uniform scaling of the
    world), widening the depth range seen in training. ``spec`` may likewise list scene presets,
    one drawn per clip (after the depth factor, so one preset draws what it always drew).
    ``render`` > ``size`` renders the scene larger and keeps a ``size`` window of it (only the
    window's rays are cast): objects then span as many pixels as in a real 640-960 pixel wide
    camera, instead of a whole room squeezed into the crop. With several presets ``render`` may
    list one camera size per preset. ``rig_share`` of the clips (drawn per clip) come from a
    separate ToF camera registered into the RGB's grid (``data.rig``, a random rig per clip), so the
    network learns the holes and resampling registration leaves; the others are registered as a
    data set's are.
    """

    def __init__(
        self, length: int, frames: int = 7, size: int = 256, scales: int | tuple[int, ...] = 4,
        max_depth: float = 40.0, seed: int = 0, augment: bool = True,
        spec: SceneSpec | tuple[SceneSpec, ...] | None = None,
        sensor: Sensor | tuple[Sensor, ...] | None = None, depth_scale: tuple[float, float] | None = None,
        render: int | tuple[int, ...] | None = None, chroma_420_p: float = 0.0, rig_share: float = 0.0,
    ) -> None:  # fmt: skip
        super().__init__(seed, augment, chroma_420_p)
        self.rig_share = rig_share
        self.length, self.frames, self.size = length, frames, size
        self.specs = spec if isinstance(spec, tuple) else (spec,)
        renders = render if isinstance(render, tuple) else (render,) * len(self.specs)
        if len(renders) != len(self.specs):
            raise ValueError(f"{len(renders)} render sizes for {len(self.specs)} scene presets")
        self.renders = tuple(r or size for r in renders)
        self.scales = (scales,) if isinstance(scales, int) else tuple(scales)
        self.max_depth, self.depth_scale = max_depth, depth_scale
        self.sensors = sensor if isinstance(sensor, tuple) else (sensor,)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Sample:
        if not 0 <= index < self.length:
            raise IndexError(index)
        scene_rng = np.random.default_rng([self.seed, index])  # per scene, the same every epoch
        sensor = self.sensors[int(scene_rng.integers(len(self.sensors)))]
        factor = float(scene_rng.uniform(*self.depth_scale)) if self.depth_scale else 1.0
        k = int(scene_rng.integers(len(self.specs))) if len(self.specs) > 1 else 0
        render = self.renders[k]
        window = None
        if render != self.size:  # one HR window for every scale, on the coarsest scale's grid
            window_rng, grid = np.random.default_rng([self.seed, index, 7]), max(self.scales)
            y, x = (int(window_rng.integers(0, (render - self.size) // grid + 1)) * grid for _ in "yx")
            window = (y, x, self.size, self.size)
        # its own stream, drawn only when asked: clips without rigs repeat the draws of older runs
        rig_rng = np.random.default_rng([self.seed, index, 11])
        rig = "random" if self.rig_share and rig_rng.random() < self.rig_share else None
        clips = generate_clips(self.seed + index, self.frames, render, render, self.scales,
                               self.max_depth, self.specs[k], sensor, factor, window, rig)  # fmt: skip
        sample: Sample = {}
        for scale, clip in clips.items():
            tensors = clip_to_tensors(clip, self.max_depth)
            sample["lr" if len(self.scales) == 1 else f"lr_x{scale}"] = tensors.pop("lr")
            sample.update(tensors)
        return augment(sample, self._rng(index), self.chroma_420_p) if self.augment else sample


class ReaderClipDataset(_Epoched):
    """Every run of ``frames`` consecutive frames (stride 1) of a reader's sequences, randomly cropped.

    Like the published training mode, a sequence's first and last frames are left out.
    """

    def __init__(
        self, reader: DatasetReader, frames: int = 7, size: int | None = 256, seed: int = 0,
        augment: bool = True,
    ) -> None:  # fmt: skip
        super().__init__(seed, augment)
        self.reader, self.frames, self.size = reader, frames, size
        self.items = [
            (seq, start) for seq in reader.sequences for start in range(1, seq.count - 1 - frames + 1)
        ]
        if not self.items:
            raise ValueError(f"no sequence of {reader.root} has {frames + 2} frames")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Sample:
        seq, start = self.items[index]
        clip = self.reader.clip(seq, start, self.frames)
        rng = self._rng(index)
        if self.size is not None:
            clip = crop_clip(clip, self.size, rng)
        sample = clip_to_tensors(clip, self.reader.layout.max_depth_m)
        return augment(sample, rng, self.chroma_420_p) if self.augment else sample
