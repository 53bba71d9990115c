"""Self-ensemble views: the network run on turned copies of its input, each output turned back, averaged.

The network is not exactly equivariant to a quarter turn (its learned filters are not), so the
errors of a view and of its turned twin are partly independent and their mean is better: on the
generated validation clips one extra view turned by 90 degrees gains about what all eight flips
and turns give, while a flip or a half turn (no transpose) gains little (model card, stage 7).
Views are taken in ``ORDER``: 2 = identity + quarter turn, 4 = the four turns, 8 = with the
transposes. Every view costs one network evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

VIEW_COUNTS = (1, 2, 4, 8)


@dataclass(frozen=True)
class View:
    """Quarter turns (``torch.rot90`` over the last two dims), after an optional transpose."""

    turns: int = 0
    transpose: bool = False

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if self.transpose:
            x = x.transpose(-1, -2)
        return torch.rot90(x, self.turns, (-2, -1)) if self.turns else x

    def undo(self, x: torch.Tensor) -> torch.Tensor:
        if self.turns:
            x = torch.rot90(x, -self.turns, (-2, -1))
        return x.transpose(-1, -2) if self.transpose else x


ORDER = tuple(View(turns, transpose) for transpose in (False, True) for turns in range(4))


def views(count: int) -> tuple[View, ...]:
    """The first ``count`` views of ORDER (1 = the network alone)."""
    if count not in VIEW_COUNTS:
        raise ValueError(f"views must be one of {VIEW_COUNTS}, got {count}")
    return ORDER[:count]


def turned_back_mean(chosen: Sequence[View], outputs: Sequence[Sequence[torch.Tensor]]) -> list[torch.Tensor]:
    """``outputs[k]``: what the network gave on view ``chosen[k]``; each turned back, averaged over
    the views. One view returns its outputs unchanged."""
    back = [[view.undo(y) for y in outs] for view, outs in zip(chosen, outputs, strict=True)]
    if len(back) == 1:
        return back[0]
    return [torch.stack(ys).mean(0) for ys in zip(*back, strict=True)]


def predict_views(
    model: Callable[..., tuple], lr: torch.Tensor, guide: torch.Tensor, count: int
) -> torch.Tensor:
    """The network's depth for a clip (``model(lr, guide)[0]``, (N, T, 1, H, W)), averaged over
    ``count`` views: each view of the clip in, its depth turned back."""
    chosen = views(count)
    return turned_back_mean(chosen, [model(view.apply(lr), view.apply(guide))[:1] for view in chosen])[0]
