"""The network's pieces run by eager PyTorch: the reference every other backend is checked against."""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch

from stdnet_ros.model.sdm import Steering
from stdnet_ros.model.stdnet import STDNet
from stdnet_ros.streaming.runtime import autocast

Features = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # what encode and decode return


class TorchBackend:
    """Calls the model's own ``steer``/``encode``/``tdm``/``decode``; autocast gives bf16 and fp16."""

    name = "torch"
    memory_format = torch.channels_last  # the model's: 1.3-2x faster convolutions (StreamingEngine)

    def __init__(self, model: STDNet, device: torch.device, precision: str, precision_reason: str) -> None:
        self.model, self.device = model, device
        self.precision, self.precision_reason = precision, precision_reason
        self.threads = torch.get_num_threads()
        self.notes: list[str] = []

    def context(self) -> AbstractContextManager:
        return autocast(self.device, self.precision)

    def concurrent(self, count: int) -> list[TorchBackend]:
        return [self] * count  # no state of its own: one serves every thread

    def settle(self) -> None:
        pass  # nothing runs in the background

    def warming(self) -> bool:
        return False  # nothing runs in the background

    def warm_up(self) -> str | None:
        return None  # eager: nothing is compiled per shape

    def steer(self, hg: str, lr_up: torch.Tensor) -> Steering:
        return self.model.steer(hg, lr_up)

    def encode(self, hg: str, lr_up: torch.Tensor, guide: torch.Tensor, extra: torch.Tensor | None = None,
               steering: Steering | None = None) -> Features:  # fmt: skip
        enc = self.model.encode(hg, lr_up, guide, extra, steering)
        return enc.spatial, enc.guide, enc.att

    def tdm(self, hg: str, branch: str, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model.tdm(hg, branch)(*inputs)

    def decode(self, hg: str, feats: list[torch.Tensor], base: torch.Tensor,
               rgb: torch.Tensor) -> Features:  # fmt: skip
        return self.model.decode(hg, feats, base, rgb)
