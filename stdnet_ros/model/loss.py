"""Training-only difference heads (``Diff_Rec``) and the published STDNet loss.

The heads reconstruct the ground truth's spatial and temporal differences from
sigma, phi and phihat, which pushes those features to mean what their names
say; the intra term weights the depth error by where sigma sees structure.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

CHARBONNIER_EPS = 1e-12


class DiffHead(nn.Module):
    """conv(1) C->1, bicubic x4, conv(1) 1->1, all without bias."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv2 = nn.Conv2d(ch, 1, 1, bias=False)
        self.con1x1 = nn.Conv2d(1, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, C, h, w) -> (N, T, 1, 4h, 4w)."""
        y = F.interpolate(self.conv2(x.flatten(0, 1)), scale_factor=4, mode="bicubic", align_corners=False)
        return self.con1x1(y).view(*x.shape[:2], 1, *y.shape[-2:])


class DiffRec(nn.Module):
    def __init__(self, mid_channels: int = 64) -> None:
        super().__init__()
        self.upD_Intra = DiffHead(mid_channels)
        self.upD_Inter = DiffHead(mid_channels)
        self.upD_Inter_cross = DiffHead(mid_channels)

    def forward(self, extras: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Reconstructions named as in the published code: diff_{Intra,Inter}_diff{k}[_cross]_rec."""
        out = {}
        for k in (1, 2):
            out[f"diff_Intra_diff{k}_rec"] = self.upD_Intra(extras[f"sigma_{k}"])
            out[f"diff_Inter_diff{k}_rec"] = self.upD_Inter(extras[f"phi_{k}"])
            out[f"diff_Inter_diff{k}_cross_rec"] = self.upD_Inter_cross(extras[f"phihat_{k}"])
        return out


@dataclass
class LossTerms:
    total: torch.Tensor
    rec: torch.Tensor
    intra: torch.Tensor
    inter: torch.Tensor


def charbonnier(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.sqrt((pred - target) ** 2 + CHARBONNIER_EPS).mean()


def intra_loss(rec: torch.Tensor, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """mean over n, i, j, pixels of |(q_i - min q_j + 1) * (D_i - G_i)|, q = elu(rec)."""
    n, t = rec.shape[:2]
    q = F.elu(rec)
    q_min = q.view(n, t, -1).amin(dim=-1)
    weight = q.unsqueeze(2) - q_min.view(n, 1, t, 1, 1, 1) + 1  # (N, T_i, T_j, 1, H, W)
    return (weight * (pred - gt).unsqueeze(2)).abs().mean()


def stdnet_loss(
    pred: torch.Tensor, gt: torch.Tensor, recs: dict[str, torch.Tensor],
    intra_weight: float = 0.2, aux_weight: float = 0.01,
) -> LossTerms:  # fmt: skip
    """L = L_rec + aux * (0.5 * L_intra + 0.5 * L_inter), all on normalised depth (N, T, 1, H, W)."""
    rec = charbonnier(pred, gt)
    intra = intra_weight * sum(intra_loss(recs[f"diff_Intra_diff{k}_rec"], pred, gt) for k in (1, 2))
    gt_diff = (gt[:, 1:] - gt[:, :-1]).abs()
    gt_cross = (gt[:, 2:] - gt[:, :-2]).abs()
    inter = sum(
        F.l1_loss(recs[f"diff_Inter_diff{k}_rec"], gt_diff)
        + F.l1_loss(recs[f"diff_Inter_diff{k}_cross_rec"], gt_cross)
        for k in (1, 2)
    )
    total = rec + aux_weight * (0.5 * intra + 0.5 * inter)
    return LossTerms(total, rec, intra, inter)


def metric_loss(
    pred: torch.Tensor, gt: torch.Tensor, max_depth: float, l1_weight: float = 1.0,
    mask: torch.Tensor | None = None,
) -> LossTerms:  # fmt: skip
    """MSE + ``l1_weight`` x L1 in metres: RMSE is what is scored and edges dominate it; the L1 term
    keeps flat regions exact, but below 0.5 m of error its pull (toward the median, a hard choice of
    side at an ambiguous edge) outweighs the MSE's (toward the mean, which is what minimises RMSE):
    ``l1_weight`` 0 is pure MSE. The published loss is L1-like and stays at the base for hundreds of steps.
    ``mask`` (1 = learn from this pixel) averages over its pixels only."""
    err = (pred - gt) * max_depth
    if mask is None or bool(mask.all()):
        mse, l1 = (err**2).mean(), err.abs().mean()
    else:
        count = mask.sum().clamp(min=1)
        mse, l1 = (err**2 * mask).sum() / count, (err.abs() * mask).sum() / count
    zero = torch.zeros((), device=pred.device)
    return LossTerms(mse + l1_weight * l1, mse, zero, zero)
