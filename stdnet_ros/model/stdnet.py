"""STDNet: two hourglasses (RGB-guided, then depth-guided) fused by confidence.

Module and parameter names follow the published ``Video_Rec`` state dict:
every block exists once per hourglass under ``<block>.hg_1`` / ``<block>.hg_2``.
The forward pass is split into per-frame ``encode``, per-term ``tdm`` and
per-frame ``decode`` so that the streaming engine reuses exactly these pieces.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from stdnet_ros.model.base import BASES, bicubic, bilinear_x4, guided_filter, guided_radius
from stdnet_ros.model.blocks import RBIC, PixelShufflePack, conv, lrelu
from stdnet_ros.model.propagation import BRANCHES, combine, diff_key, neighbours
from stdnet_ros.model.sdm import SDM, Steering
from stdnet_ros.model.tdm import TDM

HOURGLASSES = ("hg_1", "hg_2")
SCALES = (4, 8, 16)


def feature_encoder(in_ch: int, ch: int, stride: int) -> nn.Sequential:
    """``conv_guide_init`` (stride 2, full size -> working size) / ``conv_dep_init`` (stride 1)."""
    return nn.Sequential(
        conv(in_ch, ch), lrelu(),
        conv(ch, ch, stride=stride), lrelu(), RBIC(ch, ch, 1),
        conv(ch, ch, stride=stride), lrelu(), RBIC(ch, ch, 2),
    )  # fmt: skip


HEAD_GUIDE_CHANNELS = 4  # RGB guide and base depth, at full size


class PredictionHead(nn.Sequential):
    """``final_pred``: x4 enlargement to full size, then depth residual and confidence channels.

    With ``guide_ch`` > 0 (an option of the embedded x4 file, not the published network) the
    full-size convolution also sees the RGB guide and the base depth: everything before it works
    at a quarter of the size, so without them the head must place depth edges from ``ch``
    feature channels enlarged 4x.
    """

    def __init__(self, ch: int, head_ch: int, guide_ch: int = 0) -> None:
        super().__init__(
            PixelShufflePack(ch, ch), lrelu(),
            PixelShufflePack(ch, head_ch), lrelu(),
            conv(head_ch + guide_ch, head_ch), lrelu(),
            conv(head_ch, 2),
        )  # fmt: skip
        self.guide_ch = guide_ch

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = self[3](self[2](self[1](self[0](x))))
        if self.guide_ch:
            x = torch.cat([x, skip.to(x.dtype)], dim=1)
        return self[6](self[5](self[4](x)))


@dataclass
class Encoded:
    """Per-frame results of one hourglass's encoders and SDM, batched over frames."""

    spatial: torch.Tensor  # S_t, (B, C, h', w')
    guide: torch.Tensor  # R_t
    att: torch.Tensor  # A_t
    sigma: torch.Tensor  # SDM spatial difference


def temporal_difference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (b - a).abs()


def fuse(d1: torch.Tensor, c1: torch.Tensor, d2: torch.Tensor, c2: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per-pixel softmax over the two confidences; returns (depth, w1, w2)."""
    w = torch.softmax(torch.cat([c1, c2], dim=-3), dim=-3)
    w1, w2 = w.narrow(-3, 0, 1), w.narrow(-3, 1, 1)
    return w2 * d2 + w1 * d1, w1, w2


class STDNet(nn.Module):
    """``STDNet(scale, mid_channels)``; ``model(lr, guide) -> (depth, extras)``.

    lr: (N, T, 1, h, w) depth / max_depth in [0, 1]; guide: (N, T, 3, s*h, s*w)
    RGB in [0, 1]. depth: (N, T, 1, s*h, s*w), normalised like lr. ``head_channels``
    is 64 in the published network; smaller models may shrink it to save the
    full-resolution convolutions. ``base`` is what the residual is added to:
    "bilinear" (published) or "guided" (see ``model.base``), with its constants. ``head_guide``
    feeds the full-size guide and base into the head (``PredictionHead``).
    """

    def __init__(
        self, scale: int = 4, mid_channels: int = 64, head_channels: int = 64, base: str = "bilinear",
        guided_radius_x: float = 1.0, guided_eps: float = 1e-3, head_guide: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale}")
        if base not in BASES:
            raise ValueError(f"base must be one of {BASES}, got {base!r}")
        self.scale = scale
        self.mid_channels = mid_channels
        self.head_channels = head_channels
        self.base = base
        self.guided_radius_x = guided_radius_x
        self.guided_eps = guided_eps
        self.head_guide = head_guide
        ch = mid_channels
        guide_in = {"hg_1": 3, "hg_2": 2}
        extra_in = {"hg_1": ch, "hg_2": 2 * ch}
        self.conv_guide_init = nn.ModuleDict({hg: feature_encoder(guide_in[hg], ch, 2) for hg in HOURGLASSES})
        self.conv_dep_init = nn.ModuleDict({hg: feature_encoder(1, ch, 1) for hg in HOURGLASSES})
        self.feat_extract_f = nn.ModuleDict({hg: SDM(ch) for hg in HOURGLASSES})
        self.feat_extract = nn.ModuleDict({hg: RBIC(extra_in[hg], ch, 5) for hg in HOURGLASSES})
        self.deform_align = nn.ModuleDict(
            {hg: nn.ModuleDict({b: TDM(ch) for b in BRANCHES}) for hg in HOURGLASSES}
        )
        self.reconstruction = nn.ModuleDict({hg: RBIC(5 * ch, ch, 5) for hg in HOURGLASSES})
        skip = HEAD_GUIDE_CHANNELS if head_guide else 0
        self.final_pred = nn.ModuleDict({hg: PredictionHead(ch, head_channels, skip) for hg in HOURGLASSES})

    # ---- input preparation -------------------------------------------------------------------
    def check_inputs(self, lr: torch.Tensor, guide: torch.Tensor) -> None:
        """Raise a ValueError that names the problem instead of failing deep inside a conv."""
        if lr.dim() != 5 or lr.shape[2] != 1:
            raise ValueError(f"lr must be (N, T, 1, h, w), got {tuple(lr.shape)}")
        if guide.dim() != 5 or guide.shape[2] != 3:
            raise ValueError(f"guide must be (N, T, 3, H, W), got {tuple(guide.shape)}")
        if lr.shape[:2] != guide.shape[:2]:
            raise ValueError(
                f"lr and guide disagree on (N, T): {tuple(lr.shape[:2])} vs {tuple(guide.shape[:2])}"
            )
        h, w = lr.shape[-2:]
        big_h, big_w = guide.shape[-2:]
        if (big_h, big_w) != (self.scale * h, self.scale * w):
            raise ValueError(
                f"guide {big_h}x{big_w} is not {self.scale}x the depth {h}x{w} (this model is x{self.scale})"
            )

    def enlarge_depth(self, lr: torch.Tensor) -> torch.Tensor:
        """(B, 1, h, w) -> working size by nearest repetition s/4 (identity at x4)."""
        rep = self.scale // 4
        return lr if rep == 1 else F.interpolate(lr, scale_factor=rep, mode="nearest")  # exports as Resize

    def base_depth(self, lr: torch.Tensor, lr_up: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        """What the residual is added to: bilinear x4 of the enlarged depth (published), or the
        guided filter of the LR depth's bicubic upsample."""
        if self.base == "bilinear":
            return bilinear_x4(lr_up)
        radius = guided_radius(self.scale, self.guided_radius_x)
        return guided_filter(guide, bicubic(lr, self.scale), radius, self.guided_eps)

    # ---- the pieces, shared with the streaming engine ----------------------------------------
    def steer(self, hg: str, lr_up: torch.Tensor) -> Steering:
        """Depth encoder and the depth-only half of the SDM: per frame, independent of the guide."""
        return self.feat_extract_f[hg].steer(self.conv_dep_init[hg](lr_up))

    def encode(
        self,
        hg: str,
        lr_up: torch.Tensor,
        guide: torch.Tensor,
        extra: torch.Tensor | None = None,
        steering: Steering | None = None,
    ) -> Encoded:
        """Steps 1-4 for a batch of frames: guide and depth encoders, SDM, spatial feature."""
        steering = steering or self.steer(hg, lr_up)
        guide_feat = self.conv_guide_init[hg](guide)
        sdm_out = self.feat_extract_f[hg].fuse(steering, guide_feat)
        if extra is not None:
            sdm_out = torch.cat([sdm_out, extra], dim=1)
        return Encoded(self.feat_extract[hg](sdm_out), guide_feat, steering.att, steering.sigma)

    def tdm(self, hg: str, branch: str) -> TDM:
        return self.deform_align[hg][branch]

    def decode(
        self, hg: str, feats: list[torch.Tensor], base: torch.Tensor, rgb: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """Step 8: [S, B1, F1, B2, F2] -> (fused feature, depth, confidence); ``rgb``, the frames'
        full-size guide, is read only by a ``head_guide`` model."""
        fused = self.reconstruction[hg](torch.cat(feats, dim=1))
        out = self.final_pred[hg](fused, torch.cat([rgb, base], dim=1) if self.head_guide else None)
        residual, confidence = out.split(1, dim=1)
        return fused, residual + base, confidence

    # ---- offline forward over whole clips ----------------------------------------------------
    @staticmethod
    def temporal_differences(spatial: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Step 5 on (N, T, C, h, w): phi_t = |S_t+1 - S_t| and phihat_t = |S_t+2 - S_t|."""
        return (
            temporal_difference(spatial[:, :-1], spatial[:, 1:]),
            temporal_difference(spatial[:, :-2], spatial[:, 2:]),
        )

    def propagate(self, hg: str, enc: Encoded, phi: torch.Tensor, phihat: torch.Tensor) -> list[torch.Tensor]:
        """Step 7 on a clip: all four branches, each branch's TDM terms batched into one call."""
        n, t = phi.shape[0], phi.shape[1] + 1
        spatial, guide, att = (v.reshape(n, t, *v.shape[1:]) for v in (enc.spatial, enc.guide, enc.att))
        diffs = {1: phi, 2: phihat}
        x = spatial
        outs = []
        for branch in BRANCHES:
            terms = [(i, j) for i in range(t) for j in neighbours(branch, i, 0, t - 1)]
            y = list(x.unbind(1))
            if terms:
                cur = [i for i, _ in terms]
                ngb = [j for _, j in terms]
                keys = [diff_key(i, j) for i, j in terms]
                res = self.tdm(hg, branch)(
                    x[:, cur].flatten(0, 1), x[:, ngb].flatten(0, 1),
                    torch.stack([diffs[gap][:, k] for k, gap in keys], 1).flatten(0, 1),
                    guide[:, ngb].flatten(0, 1), att[:, cur].flatten(0, 1),
                ).reshape(n, len(terms), *x.shape[2:])  # fmt: skip
                for i in range(t):
                    y[i] = combine(y[i], [res[:, k] for k, (ti, _) in enumerate(terms) if ti == i])
            x = torch.stack(y, 1)
            outs.append(x.flatten(0, 1))
        return outs

    def hourglass(
        self,
        hg: str,
        lr_up: torch.Tensor,
        guide: torch.Tensor,
        extra: torch.Tensor | None,
        base: torch.Tensor,
        rgb: torch.Tensor,
        n: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """One hourglass on a clip flattened to (N*T, ...): (fused, depth, confidence, differences)."""
        enc = self.encode(hg, lr_up, guide, extra)
        spatial = enc.spatial.reshape(n, -1, *enc.spatial.shape[1:])
        phi, phihat = self.temporal_differences(spatial)
        fused, depth, conf = self.decode(hg, [enc.spatial, *self.propagate(hg, enc, phi, phihat)], base, rgb)
        sigma = enc.sigma.reshape(n, -1, *enc.sigma.shape[1:])
        return fused, depth, conf, {"sigma": sigma, "phi": phi, "phihat": phihat}

    def forward(self, lr: torch.Tensor, guide: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        self.check_inputs(lr, guide)
        n, t = lr.shape[:2]
        lr_up = self.enlarge_depth(lr.flatten(0, 1))
        rgb = guide.flatten(0, 1)
        base = self.base_depth(lr.flatten(0, 1), lr_up, rgb)
        fused1, d1, c1, diffs1 = self.hourglass("hg_1", lr_up, rgb, None, base, rgb, n)
        _, d2, c2, diffs2 = self.hourglass("hg_2", lr_up, torch.cat([d1, c1], 1), fused1, base, rgb, n)
        depth, w1, w2 = fuse(d1, c1, d2, c2)

        def clip(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(n, t, *x.shape[1:])

        extras = {"rgb_depth": clip(d1), "d_depth": clip(d2), "rgb_conf": clip(w1), "d_conf": clip(w2)}
        for k, diffs in ((1, diffs1), (2, diffs2)):
            extras.update({f"{name}_{k}": value for name, value in diffs.items()})
        return clip(depth), extras
