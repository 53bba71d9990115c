"""An exponential moving average of a module's weights (Polyak averaging).

At batch 4 every optimiser step moves the weights by that step's gradient noise; the
average over the last ~1 / (1 - decay) steps keeps the trend and drops most of the noise.
"""

from __future__ import annotations

import torch
from torch import nn


class EMA:
    """``ema = decay * ema + (1 - decay) * weights`` after each step; integer buffers are copied."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = decay
        self.average = {k: v.detach().clone() for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for name, value in module.state_dict().items():
            mean = self.average[name]
            if mean.is_floating_point():
                mean.lerp_(value, 1.0 - self.decay)
            else:
                mean.copy_(value)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.average

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, value in state.items():
            self.average[name].copy_(value)
