"""The training loop: published loss and recipe by default, resumable, DDP-aware.

Run on one device with ``stdnet-ros train``; on several GPUs with
``torchrun --nproc_per_node=N -m stdnet_ros train ...`` (each rank takes its
share of clips through a DistributedSampler and gradients are averaged).

Beyond the published recipe (see ``../shared/docs/training-notes.md`` for the
measurements behind each): the last layer's depth channel starts at zero, so an
untrained model equals its base instead of adding ~27 cm of noise to it; the
"mse+l1" loss optimises what the metric (RMSE, dominated by depth edges)
measures, where the published L1-like loss sits at the base for hundreds of
steps; Adam's eps and a cosine schedule are options; validation scores the
model next to its own base and the guided-filter baseline on the same held-out
clips, and the best checkpoint by RMSE is kept beside the latest.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from stdnet_ros.data.sensors import DEFAULT_SENSOR, sensor
from stdnet_ros.data.synthetic import SCENES, SceneSpec
from stdnet_ros.data.torch_dataset import SyntheticClipDataset
from stdnet_ros.evaluation.baselines import BASELINES
from stdnet_ros.model import STDNet
from stdnet_ros.model.checkpoint import add_head_guide, read_checkpoint, save_checkpoint
from stdnet_ros.model.loss import DiffRec, LossTerms, metric_loss, stdnet_loss
from stdnet_ros.model.views import predict_views
from stdnet_ros.streaming.runtime import set_threads
from stdnet_ros.training.ema import EMA

LOSSES = ("published", "mse+l1", "mse")
SCHEDULES = ("step", "cosine")


@dataclass
class TrainConfig:
    out: str = "runs/stdnet"
    scales: list[int] = field(default_factory=lambda: [4])
    mid_channels: int = 64
    head_channels: int = 64
    base: str = "bilinear"  # what the residual is added to (model.base): bilinear | guided
    guided_radius_x: float = 1.0
    guided_eps: float = 1e-3
    # the head's full-size convolution also sees the guide and the base (model.stdnet.PredictionHead);
    # from an ``init`` without it, the new inputs start at zero weight (the model starts as the init)
    head_guide: bool = False
    sensor: str = DEFAULT_SENSOR  # data.sensors preset that makes the LR depth: dtof | itof
    # data.synthetic.SCENES preset(s): room | indoor | room+indoor (one drawn per clip); a preset may
    # name its own camera size, room@320+indoor@960, instead of ``render``
    scene: str = "room"
    loss: str = "published"  # published | mse+l1 | mse (model.loss.metric_loss)
    frames: int = 7
    # each step trains on a clip's first t frames, t drawn uniformly from 1..frames: the streaming
    # engine runs every window fill from 1 (a stream's first frame, the frame after a reset) to W,
    # and a network trained on full clips only is biased on the shorter ones (model card, stage 4)
    vary_frames: bool = False
    size: int = 256
    render: int = 0  # render scenes this large and crop ``size`` (0 = render at ``size``)
    chroma_420: float = 0.0  # probability that a training clip's guide gets 4:2:0 colour (a camera stream's)
    rig_share: float = 0.0  # share of clips from a separate ToF camera registered into the RGB (data.rig)
    init: str = ""  # start from these weights (fresh optimiser and schedule), e.g. to fine-tune
    batch: int = 3
    epochs: int = 250
    steps_per_epoch: int = 200
    lr: float = 1e-4
    schedule: str = "step"  # step (published: x gamma at the milestone epochs) | cosine (per step, to 0)
    milestones: list[int] = field(default_factory=lambda: [150, 200])
    gamma: float = 0.2
    adam_eps: float = 1e-8
    max_depth: float = 20.0
    depth_scale: list[float] = field(default_factory=lambda: [0.6, 2.5])  # random metres rescaling
    val_clips: int = 8
    workers: int = 0
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # torch intra-op threads; 0 = torch's default (all cores)
    # > 0: validate and save an exponential moving average of the weights (this decay per step)
    # instead of the last step's: at batch 4 each step's weights carry that step's noise
    ema: float = 0.0
    resume: bool = False
    name: str = "stdnet"


def scene_presets(text: str, render: int) -> tuple[tuple[SceneSpec, ...], tuple[int, ...]]:
    """``room+indoor@960`` -> the presets and each one's camera size (``render`` where not named)."""
    specs, renders = [], []
    for item in text.split("+"):
        name, _, size = item.partition("@")
        if name not in SCENES or (size and not size.isdigit()):
            raise ValueError(f"scene {item!r}: must be one of {tuple(SCENES)}, optionally @<render size>, "
                             "several joined by +")  # fmt: skip
        specs.append(SCENES[name])
        renders.append(int(size) if size else render)
    return tuple(specs), tuple(renders)


class TrainNet(nn.Module):
    """Network and difference heads as one module, so DDP syncs both."""

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__()
        self.net = STDNet(cfg.scales[0], cfg.mid_channels, cfg.head_channels, cfg.base, cfg.guided_radius_x,
                          cfg.guided_eps, cfg.head_guide)  # fmt: skip
        for head in self.net.final_pred.values():  # depth residual starts at 0: the model starts at its base
            nn.init.zeros_(head[-1].weight[:1])
            nn.init.zeros_(head[-1].bias[:1])
        self.heads = DiffRec(cfg.mid_channels) if cfg.loss == "published" else None
        self.max_depth = cfg.max_depth
        self.l1_weight = 1.0 if cfg.loss == "mse+l1" else 0.0

    def forward(
        self, lr: torch.Tensor, guide: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[LossTerms, torch.Tensor]:
        self.net.scale = guide.shape[-1] // lr.shape[-1]  # one network serves every scale
        depth, extras = self.net(lr, guide)
        if self.heads is None:
            return metric_loss(depth, gt, self.max_depth, self.l1_weight, mask), depth
        return stdnet_loss(depth, gt, self.heads(extras)), depth


class Trainer:
    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if self.distributed:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            torch.distributed.init_process_group(backend)
            self.rank = torch.distributed.get_rank()
            local = int(os.environ.get("LOCAL_RANK", "0"))
            self.device = torch.device(f"cuda:{local}" if torch.cuda.is_available() else "cpu")
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
        else:
            self.rank = 0
            auto = "cuda" if torch.cuda.is_available() else "cpu"
            self.device = torch.device(auto if cfg.device == "auto" else cfg.device)
        if cfg.loss not in LOSSES or cfg.schedule not in SCHEDULES:
            raise ValueError(f"loss must be one of {LOSSES}, schedule one of {SCHEDULES}")
        if (cfg.vary_frames or cfg.rig_share) and cfg.loss == "published":
            raise ValueError("--vary-frames and --rig-share need a loss without temporal-difference terms "
                             "(mse+l1 or mse)")
        self.scenes, self.renders = scene_presets(cfg.scene, cfg.render)
        if cfg.threads > 0:
            set_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.net = TrainNet(cfg).to(self.device)
        if cfg.init:  # a resumed run overwrites these with its own state below
            self.net.net.load_state_dict(add_head_guide(read_checkpoint(cfg.init)[0], self.net.net))
        self.module: nn.Module = (
            nn.parallel.DistributedDataParallel(self.net) if self.distributed else self.net
        )
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, eps=cfg.adam_eps)
        if cfg.schedule == "cosine":
            total = cfg.epochs * cfg.steps_per_epoch
            self.sched = torch.optim.lr_scheduler.LambdaLR(
                self.opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
            )
        else:
            self.sched = torch.optim.lr_scheduler.MultiStepLR(self.opt, cfg.milestones, cfg.gamma)
        if not 0.0 <= cfg.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {cfg.ema}")
        self.ema = EMA(self.net.net, cfg.ema) if cfg.ema else None
        self.baseline_errors: dict[str, float] | None = None
        self.epoch = 0
        self.history: list[dict] = []
        self.out = Path(cfg.out)
        self.state_path = self.out / "train_state.pth"
        if cfg.resume and self.state_path.is_file():
            self._load_state()

    @property
    def main(self) -> bool:
        return self.rank == 0

    def _load_state(self) -> None:
        state = torch.load(self.state_path, map_location=self.device, weights_only=True)
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])
        self.epoch = int(state["epoch"])
        self.history = json.loads(state["history"])
        if self.ema is not None:  # a state saved without --ema starts the average at its weights
            self.ema.load_state_dict(state.get("ema", self.net.net.state_dict()))

    def _save_state(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        torch.save(
            {
                "net": self.net.state_dict(),
                "opt": self.opt.state_dict(),
                "sched": self.sched.state_dict(),
                "epoch": self.epoch,
                "history": json.dumps(self.history),
                **({"ema": self.ema.state_dict()} if self.ema is not None else {}),
            },
            tmp,
        )
        tmp.replace(self.state_path)

    def _clips(self, length: int, seed: int, augment: bool) -> SyntheticClipDataset:
        """Synthetic clips seen through the configured sensor preset."""
        cfg = self.cfg
        return SyntheticClipDataset(
            length, cfg.frames, cfg.size, tuple(cfg.scales), cfg.max_depth, seed=seed, augment=augment,
            spec=self.scenes, sensor=sensor(cfg.sensor), render=self.renders,
            depth_scale=cfg.depth_scale if augment else None, chroma_420_p=cfg.chroma_420,
            rig_share=cfg.rig_share,
        )  # fmt: skip

    def _lr(self, sample: dict[str, torch.Tensor], scale: int) -> torch.Tensor:
        return sample["lr" if len(self.cfg.scales) == 1 else f"lr_x{scale}"].to(self.device)

    def _loader(self, epoch: int) -> DataLoader:
        cfg = self.cfg
        data = self._clips(
            cfg.steps_per_epoch * cfg.batch, seed=(cfg.seed * 1000 + epoch) * 1_000_003, augment=True
        )
        sampler = DistributedSampler(data, shuffle=False) if self.distributed else None
        return DataLoader(data, batch_size=cfg.batch, sampler=sampler, num_workers=cfg.workers)

    def validate(self, window: int | None = None, views: int = 1) -> dict[str, float]:
        """RMSE (cm, pooled over every pixel) on held-out synthetic clips, per scale, next to the
        model's own base and the guided-filter baseline on the same clips.

        ``val_x<s>_stream_rmse_cm`` scores what the node outputs: frame t predicted from the last
        ``window`` frames up to it (default: the whole clip, so windows fill from 1 to the clip
        length, as after a reset), the figure that exposes a network trained on full clips only
        (model card, stage 4). ``views`` > 1 scores the self-ensemble (``model.views``)."""
        cfg = self.cfg
        self.net.eval()
        net = self.net.net
        sums: dict[str, float] = {}
        count = 0
        with torch.no_grad():
            for sample in DataLoader(self._clips(cfg.val_clips, seed=10**9, augment=False), batch_size=1):
                guide, gt = sample["guide"].to(self.device), sample["gt"].to(self.device)
                mask = sample["mask"].to(self.device)  # a rig clip: the pixels its ToF sees or supports
                count += float(mask.sum())
                frames = gt.shape[1]
                span = min(window or frames, frames)
                for scale in cfg.scales:
                    lr = self._lr(sample, scale)
                    net.scale = scale
                    depth = predict_views(net, lr, guide, views)
                    flat = lr.flatten(0, 1)
                    base = net.base_depth(flat, net.enlarge_depth(flat), guide.flatten(0, 1))
                    base = base.view_as(gt)
                    windows = [slice(max(0, t - span), t) for t in range(1, frames + 1)]
                    stream = torch.cat([depth[:, -1:] if w == slice(0, frames)  # the whole clip: done
                                        else predict_views(net, lr[:, w], guide[:, w], views)[:, -1:]
                                        for w in windows], dim=1)  # fmt: skip
                    for key, pred in ((f"val_x{scale}_rmse_cm", depth), (f"val_x{scale}_base_rmse_cm", base),
                                      (f"val_x{scale}_stream_rmse_cm", stream)):  # fmt: skip
                        sums[key] = sums.get(key, 0.0) + float(((pred - gt) ** 2 * mask).sum())
                    if self.baseline_errors is None:
                        key = f"val_x{scale}_guided_rmse_cm"
                        sums[key] = sums.get(key, 0.0) + self._guided_sq_error(sample, scale)
        self.net.train()
        errors = {k: math.sqrt(v / count) * cfg.max_depth * 100.0 for k, v in sums.items()}
        if self.baseline_errors is None:  # the baseline does not change: computed once
            self.baseline_errors = {k: v for k, v in errors.items() if "_guided_" in k}
        errors.update(self.baseline_errors)
        return errors

    def _guided_sq_error(self, sample: dict[str, torch.Tensor], scale: int) -> float:
        """Summed squared error (normalised units) of the classical guided filter on one clip.

        The sample's LR is already hole-filled, so the filter runs on the network's own input."""
        lr = (self._lr(sample, scale)[0, :, 0] * self.cfg.max_depth).cpu().numpy()
        rgb = (sample["guide"][0] * 255).round().byte().permute(0, 2, 3, 1).numpy()
        gt, mask = sample["gt"][0, :, 0].numpy(), sample["mask"][0, :, 0].numpy()
        total = 0.0
        for k in range(len(lr)):
            pred = BASELINES["guided"](lr[k], scale, rgb[k]) / self.cfg.max_depth
            total += float(((pred - gt[k]) ** 2 * mask[k]).sum())
        return total

    def fit(self) -> Path:
        cfg = self.cfg
        self.net.train()
        final = self.out / f"{cfg.name}.safetensors"
        while self.epoch < cfg.epochs:
            began = time.time()
            losses, lengths_seen = [], [0] * cfg.frames
            bar = tqdm(
                self._loader(self.epoch), desc=f"epoch {self.epoch + 1}/{cfg.epochs}", disable=not self.main
            )
            lengths = torch.Generator().manual_seed(cfg.seed * 1000 + self.epoch)
            for step, sample in enumerate(bar):
                t = cfg.frames
                if cfg.vary_frames:
                    t = int(torch.randint(1, cfg.frames + 1, (1,), generator=lengths))
                lengths_seen[t - 1] += 1
                lr = self._lr(sample, cfg.scales[step % len(cfg.scales)])[:, :t]
                guide, gt = sample["guide"][:, :t].to(self.device), sample["gt"][:, :t].to(self.device)
                terms, _ = self.module(lr, guide, gt, sample["mask"][:, :t].to(self.device))
                self.opt.zero_grad(set_to_none=True)
                terms.total.backward()
                self.opt.step()
                if self.ema is not None:
                    self.ema.update(self.net.net)
                if cfg.schedule == "cosine":
                    self.sched.step()
                losses.append(float(terms.total.detach()))
                bar.set_postfix(loss=f"{losses[-1]:.4f}")
                if not math.isfinite(losses[-1]):
                    raise FloatingPointError(f"loss became {losses[-1]} at epoch {self.epoch + 1}")
            if cfg.schedule == "step":
                self.sched.step()
            self.epoch += 1
            if self.main:
                record = {
                    "epoch": self.epoch,
                    "loss": sum(losses) / len(losses),
                    "seconds": time.time() - began,
                }
                if cfg.vary_frames:  # steps per clip length 1..frames
                    record["clip_lengths"] = lengths_seen
                with self._evaluated_weights():
                    record.update(self.validate())
                    self.history.append(record)
                    tqdm.write(json.dumps(record))
                    self._save(final)
                    score = sum(record[f"val_x{s}_rmse_cm"] for s in cfg.scales)
                    if score <= min(sum(h[f"val_x{s}_rmse_cm"] for s in cfg.scales) for h in self.history):
                        self._save(self.out / f"{cfg.name}-best.safetensors")
                self._save_state()
        if self.distributed:
            torch.distributed.destroy_process_group()
        return final

    @contextmanager
    def _evaluated_weights(self) -> Iterator[None]:
        """The weights that are validated and saved: the moving average where there is one."""
        if self.ema is None:
            yield
            return
        trained = {k: v.clone() for k, v in self.net.net.state_dict().items()}
        self.net.net.load_state_dict(self.ema.state_dict())
        try:
            yield
        finally:
            self.net.net.load_state_dict(trained)

    def _save(self, path: Path) -> None:
        cfg = self.cfg
        self.net.net.scale = cfg.scales[0]
        save_checkpoint(
            self.net.net,
            path,
            window=cfg.frames,
            max_depth=cfg.max_depth,
            name=cfg.name,
            trained_on=f"synthetic (stdnet_ros.data.synthetic, sensor {cfg.sensor}), {self.epoch} epochs "
            f"of {cfg.steps_per_epoch} steps",
            extra={"scales": cfg.scales, "config": asdict(cfg), "history": self.history},
        )
