"""Spatial difference module (SDM, ``feat_extract_f``).

The depth feature's high-frequency residue sigma = |F - up(down(F))| marks
where depth has structure; it steers a per-pixel dynamic filter over the RGB
guide feature and a spatial attention that decides how much RGB to let in.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from stdnet_ros.model.blocks import LRELU_SLOPE, ResidualGroup, conv, lrelu


class KernelGenerator(nn.Module):
    """Per-pixel, per-channel 3x3 kernels from the difference feature (``kg``)."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.rg = ResidualGroup(ch, 1)
        self.conv = conv(ch, 9 * ch, 1)
        self.act = lrelu()

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        n, c, h, w = d.shape
        return self.conv(self.act(self.rg(d))).view(n, c, 9, h, w)


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

    def forward(
        self, feat: torch.Tensor, guide: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (fused feature, spatial attention A, difference sigma)."""
        sigma = high_frequency(feat)
        kernels = self.kg(self.conv_diff(F.leaky_relu(sigma, LRELU_SLOPE)))
        stats = torch.cat([sigma.mean(dim=1, keepdim=True), sigma.amax(dim=1, keepdim=True)], dim=1)
        att = torch.sigmoid(self.conv_du(stats))
        guide = att * guide + self.beta * dynamic_filter(guide, kernels)
        return self.conv_re(self.rg(torch.cat([feat, guide], dim=1))), att, sigma
