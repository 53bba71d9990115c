"""Temporal difference module (TDM, ``deform_align.<hg>.<branch>``).

Aligns a neighbouring frame's feature to the current one with a modulated
deformable convolution whose offsets come from the current feature and the
temporal difference phi between the two; the neighbour's guide feature is
warped by the same offsets and gated by the SDM's spatial attention.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from stdnet_ros.model.blocks import ResidualGroup, conv, lrelu
from stdnet_ros.model.deform_conv import modulated_deform_conv2d


class TDM(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.empty(ch, ch, 3, 3))
        self.b = nn.Parameter(torch.zeros(ch))
        self.conv_du = conv(2 * ch, ch, 1)
        self.conv_diff = conv(ch, ch)
        self.conv_offset_mask = conv(ch, 27)
        self.conv_outDCN = conv(ch, ch)
        self.rg1 = ResidualGroup(3 * ch, 2)
        self.conv_re = conv(3 * ch, ch, 1)
        self.act = lrelu()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """DCNv2's initialisation: uniform deformable weights, zero offsets and mask logits."""
        bound = 1.0 / math.sqrt(self.w[0].numel())
        nn.init.uniform_(self.w, -bound, bound)
        nn.init.zeros_(self.b)
        nn.init.zeros_(self.conv_offset_mask.weight)
        nn.init.zeros_(self.conv_offset_mask.bias)

    def forward(
        self,
        cur: torch.Tensor,
        ngb: torch.Tensor,
        diff: torch.Tensor,
        ngb_guide: torch.Tensor,
        att: torch.Tensor,
    ) -> torch.Tensor:
        d2 = self.conv_du(torch.cat([cur, self.conv_diff(diff)], dim=1))
        o1, o2, m = torch.chunk(self.conv_offset_mask(d2), 3, dim=1)
        offset = torch.cat([o1, o2], dim=1)
        mask = torch.sigmoid(m)
        aligned = self.conv_outDCN(self.act(modulated_deform_conv2d(ngb, offset, mask, self.w, self.b)))
        guide = modulated_deform_conv2d(ngb_guide, offset, mask, self.w, self.b) * att
        return self.conv_re(self.rg1(torch.cat([cur, aligned, guide], dim=1)))
