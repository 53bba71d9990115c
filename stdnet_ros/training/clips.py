"""Training clips as tensors, drawn on the fly from the synthetic generator.

Each index is its own seed, so a data set of any length costs no disk and two
workers (or DDP ranks) never draw the same clip. Augmentation follows the
published recipe (flips, transpose) plus a random depth scale: a scene scaled
in size looks the same to the RGB camera, and it teaches a model trained on
rooms of a few metres the 3-15 m ranges of real data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from stdnet_ros.data.frames import Clip
from stdnet_ros.data.synthetic import generate_clip
from stdnet_ros.streaming.validity import fill_invalid, valid_mask


def clip_tensors(clip: Clip, max_depth: float) -> dict[str, torch.Tensor]:
    """Clip -> network tensors: lr (T,1,h,w) and gt (T,1,H,W) normalised, guide (T,3,H,W) in [0,1].

    Invalid LR pixels get the engine's nearest-valid fill, so training sees what inference sees.
    """
    lr = np.stack([fill_invalid(f.depth_lr, valid_mask(f.depth_lr)) for f in clip]) / max_depth
    gt = np.stack([f.depth_gt for f in clip]) / max_depth
    rgb = np.stack([f.rgb for f in clip]).transpose(0, 3, 1, 2) / 255.0
    return {
        "lr": torch.from_numpy(np.clip(lr, 0, 1)).float()[:, None],
        "guide": torch.from_numpy(rgb).float(),
        "gt": torch.from_numpy(np.nan_to_num(gt)).float()[:, None],
    }


@dataclass
class SyntheticClips(Dataset):
    """``length`` clips of ``frames`` frames at ``size`` x ``size`` (full resolution).

    Each sample holds ``lr_x<s>`` for every scale in ``scales`` (the same scene
    degraded at each scale), so one model can be trained on several scales.
    """

    length: int
    frames: int = 7
    size: int = 256
    scales: tuple[int, ...] = (4,)
    max_depth: float = 20.0
    seed: int = 0
    augment: bool = True
    depth_scale: tuple[float, float] = (0.6, 2.5)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        seed = self.seed * 1_000_003 + index
        rng = np.random.default_rng([seed, 7])
        factor = float(rng.uniform(*self.depth_scale)) if self.augment else 1.0
        sample = {}
        for scale in self.scales:
            clip = generate_clip(seed, frames=self.frames, height=self.size, width=self.size, scale=scale)
            for frame in clip:
                frame.depth_lr = frame.depth_lr * factor
                frame.depth_gt = frame.depth_gt * factor
            tensors = clip_tensors(clip, self.max_depth)
            sample[f"lr_x{scale}"] = tensors.pop("lr")
            sample.update(tensors)
        if self.augment:
            if rng.random() < 0.5:
                sample = {k: v.flip(-1) for k, v in sample.items()}
            if rng.random() < 0.5:
                sample = {k: v.flip(-2) for k, v in sample.items()}
            if rng.random() < 0.5:
                sample = {k: v.transpose(-1, -2) for k, v in sample.items()}
        return {k: v.contiguous() for k, v in sample.items()}
