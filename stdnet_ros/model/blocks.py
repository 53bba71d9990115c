"""Generic building blocks of STDNet, named and laid out as in the published state dict."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

LRELU_SLOPE = 0.1


def conv(in_ch: int, out_ch: int, k: int = 3, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    """k x k convolution with 'same' padding, the only kind the network uses."""
    return nn.Conv2d(in_ch, out_ch, k, stride=stride, padding=k // 2, bias=bias)


def cat_frames(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Frames batched along dim 0; a single frame as it is, without the copy ``torch.cat`` makes (the
    streaming window batches one frame in most of its calls: 11 ms a frame of copies at 640 x 480)."""
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors)


def lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(LRELU_SLOPE, inplace=True)


class ResBlock(nn.Module):
    """x + conv2(ReLU(conv1(x))): BasicVSR's residual block without batch norm."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = conv(ch, ch)
        self.conv2 = conv(ch, ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class RBIC(nn.Module):
    """Residual blocks with an input convolution: conv in->C, LReLU, n ResBlocks."""

    def __init__(self, in_ch: int, ch: int, n_blocks: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            conv(in_ch, ch), lrelu(), nn.Sequential(*[ResBlock(ch) for _ in range(n_blocks)])
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation gate with reduction 16 (at least one hidden channel for tiny models)."""

    def __init__(self, ch: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(ch // reduction, 1)
        self.conv_du = nn.Sequential(
            conv(ch, hidden, 1), nn.ReLU(inplace=True), conv(hidden, ch, 1), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv_du(x.mean(dim=(2, 3), keepdim=True))


class RCAB(nn.Module):
    """Residual channel-attention block: x + CA(conv(LReLU_0.2(conv(x))))."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv(ch, ch), nn.LeakyReLU(0.2, inplace=True), conv(ch, ch), ChannelAttention(ch)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResidualGroup(nn.Module):
    """n RCABs and a closing conv, with a skip over the whole group."""

    def __init__(self, ch: int, n_blocks: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*[RCAB(ch) for _ in range(n_blocks)], conv(ch, ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class PixelShufflePack(nn.Module):
    """conv in -> 4*out, then pixel shuffle by 2: a learned x2 enlargement."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.upsample_conv = conv(in_ch, 4 * out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.upsample_conv(x), 2)
