"""Spatial difference module (SDM, ``feat_extract_f``).

The depth feature's high-frequency residue sigma = |F - up(down(F))| marks
where depth has structure; it steers a per-pixel dynamic filter over the RGB
guide feature and a spatial attention that decides how much RGB to let in.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from stdnet_ros.model.blocks import LRELU_SLOPE, ResidualGroup, cat_frames, conv, lrelu


class KernelGenerator(nn.Module):
    """Per-pixel, per-channel 3x3 kernels from the difference feature (``kg``)."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.rg = ResidualGroup(ch, 1)
        self.conv = conv(ch, 9 * ch, 1)
        self.act = lrelu()

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        n, c, h, w = d.shape
        return self.conv(self.act(self.rg(d))).reshape(n, c, 9, h, w)


def high_frequency(x: torch.Tensor) -> torch.Tensor:
    """|x - up(down(x))| with bilinear halving and restoring (align_corners=False)."""
    h, w = x.shape[-2:]
    down = F.interpolate(x, size=(h // 2, w // 2), mode="bilinear", align_corners=False)
    return (x - F.interpolate(down, size=(h, w), mode="bilinear", align_corners=False)).abs()


def dynamic_filter(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Apply per-pixel kernels (N, C, 9, H, W) to x's zero-padded 3x3 neighbourhoods."""
    n, c, h, w = x.shape
    patches = F.unfold(x, 3, padding=1).view(n, c, 9, h, w)
    return (patches * kernels).sum(dim=2)


@dataclass
class Steering:
    """The half of the SDM that depends on the depth feature alone (cacheable per frame)."""

    feat: torch.Tensor  # depth feature F
    att: torch.Tensor  # spatial attention A
    sigma: torch.Tensor  # high-frequency residue of F
    kernels: torch.Tensor  # per-pixel dynamic filters (N, C, 9, h, w)

    @classmethod
    def cat(cls, items: list[Steering]) -> Steering:
        """Batch several frames' steerings into one."""
        return cls(
            *(cat_frames([getattr(s, name) for s in items]) for name in ("feat", "att", "sigma", "kernels"))
        )


class SDM(nn.Module):
    """Fuses depth feature F and guide feature R, steered by F's spatial differences."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.full((1,), 0.1))
        self.conv_diff = conv(ch, ch)
        self.conv_du = conv(2, ch)
        self.kg = KernelGenerator(ch)
        self.rg = ResidualGroup(2 * ch, 1)
        self.conv_re = conv(2 * ch, ch, 1)

    def steer(self, feat: torch.Tensor) -> Steering:
        sigma = high_frequency(feat)
        kernels = self.kg(self.conv_diff(F.leaky_relu(sigma, LRELU_SLOPE)))
        stats = torch.cat([sigma.mean(dim=1, keepdim=True), sigma.amax(dim=1, keepdim=True)], dim=1)
        return Steering(feat, torch.sigmoid(self.conv_du(stats)), sigma, kernels)

    def fuse(self, steering: Steering, guide: torch.Tensor) -> torch.Tensor:
        guide = steering.att * guide + self.beta * dynamic_filter(guide, steering.kernels)
        return self.conv_re(self.rg(torch.cat([steering.feat, guide], dim=1)))
