"""The four propagation branches and their boundary rules (architecture doc, step 7).

Each branch maps features X to Y frame by frame: Y[i] is X[i] at the clip's
edge in the branch's direction, and otherwise the sum of TDM terms that align
the one or two next frames in that direction to frame i. The rule is written
once, as a list of neighbours per frame, so the offline network and the
streaming engine cannot disagree on it.
"""

from __future__ import annotations

from torch import Tensor

BRANCHES = ("backward_1", "forward_1", "backward_2", "forward_2")


def is_backward(branch: str) -> bool:
    return branch.startswith("backward")


def neighbours(branch: str, i: int, start: int, end: int) -> tuple[int, ...]:
    """Frames whose TDM terms sum into Y[i] for a clip spanning frames start..end (inclusive).

    Empty means Y[i] = X[i]. A one-frame clip (T = 1) therefore passes features
    through every branch unchanged: our defined behaviour for a stream's first frame.
    """
    step = 1 if is_backward(branch) else -1
    edge = end if step == 1 else start
    reach = min(2, abs(edge - i))
    return tuple(i + step * k for k in range(1, reach + 1))


def combine(own: Tensor, terms: list[Tensor]) -> Tensor:
    """Y[i] from X[i] and its TDM terms, summed in neighbour order (the order fixes the rounding)."""
    if not terms:
        return own
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]


def diff_key(i: int, j: int) -> tuple[int, int]:
    """Which temporal difference a term (i, j) uses: (first frame, 1 for phi or 2 for phihat)."""
    return min(i, j), abs(i - j)
