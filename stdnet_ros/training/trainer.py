"""The training loop: published loss and recipe by default, resumable, DDP-aware.

Run on one device with ``stdnet-ros train``; on several GPUs with
``torchrun --nproc_per_node=N -m stdnet_ros train ...`` (each rank takes its
share of clips through a DistributedSampler and gradients are averaged).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from stdnet_ros.data.synthetic import DYDTOF_LIKE, ToFModel
from stdnet_ros.data.torch_dataset import SyntheticClipDataset
from stdnet_ros.model import STDNet
from stdnet_ros.model.checkpoint import save_checkpoint
from stdnet_ros.model.loss import DiffRec, stdnet_loss


@dataclass
class TrainConfig:
    out: str = "runs/stdnet"
    scales: list[int] = field(default_factory=lambda: [4])
    mid_channels: int = 64
    head_channels: int = 64
    frames: int = 7
    size: int = 256
    batch: int = 3
    epochs: int = 250
    steps_per_epoch: int = 200
    lr: float = 1e-4
    milestones: list[int] = field(default_factory=lambda: [150, 200])
    gamma: float = 0.2
    max_depth: float = 20.0
    depth_scale: list[float] = field(default_factory=lambda: [0.6, 2.5])  # random metres rescaling
    val_clips: int = 8
    workers: int = 0
    seed: int = 0
    device: str = "auto"
    resume: bool = False
    name: str = "stdnet"


class TrainNet(nn.Module):
    """Network and difference heads as one module, so DDP syncs both."""

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__()
        self.net = STDNet(cfg.scales[0], cfg.mid_channels, cfg.head_channels)
        self.heads = DiffRec(cfg.mid_channels)

    def forward(self, lr: torch.Tensor, guide: torch.Tensor, gt: torch.Tensor):
        self.net.scale = guide.shape[-1] // lr.shape[-1]  # one network serves every scale
        depth, extras = self.net(lr, guide)
        return stdnet_loss(depth, gt, self.heads(extras)), depth


def rmse_cm(depth: torch.Tensor, gt: torch.Tensor, max_depth: float) -> float:
    return float(((depth - gt) ** 2).mean().sqrt()) * max_depth * 100.0


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
        torch.manual_seed(cfg.seed)
        self.net = TrainNet(cfg).to(self.device)
        self.module: nn.Module = (
            nn.parallel.DistributedDataParallel(self.net) if self.distributed else self.net
        )
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.sched = torch.optim.lr_scheduler.MultiStepLR(self.opt, cfg.milestones, cfg.gamma)
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
            },
            tmp,
        )
        tmp.replace(self.state_path)

    def _clips(self, length: int, seed: int, augment: bool) -> SyntheticClipDataset:
        """Synthetic clips from two sensor models (a real ToF pixel, a point-sampling renderer)."""
        cfg = self.cfg
        return SyntheticClipDataset(
            length, cfg.frames, cfg.size, tuple(cfg.scales), cfg.max_depth, seed=seed, augment=augment,
            tof=(ToFModel(), DYDTOF_LIKE), depth_scale=cfg.depth_scale if augment else None,
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

    def validate(self) -> dict[str, float]:
        """RMSE (cm) on held-out synthetic clips, per scale, next to the bilinear input it refines."""
        cfg = self.cfg
        self.net.eval()
        errors: dict[str, list[float]] = {}
        with torch.no_grad():
            for sample in DataLoader(self._clips(cfg.val_clips, seed=10**9, augment=False), batch_size=1):
                guide, gt = sample["guide"].to(self.device), sample["gt"].to(self.device)
                for scale in cfg.scales:
                    lr = self._lr(sample, scale)
                    _, depth = self.net(lr, guide, gt)
                    up = self.net.net.base_depth(self.net.net.enlarge_depth(lr.flatten(0, 1))).view_as(gt)
                    errors.setdefault(f"val_x{scale}_rmse_cm", []).append(rmse_cm(depth, gt, cfg.max_depth))
                    errors.setdefault(f"val_x{scale}_bilinear_rmse_cm", []).append(
                        rmse_cm(up, gt, cfg.max_depth)
                    )
        self.net.train()
        return {k: sum(v) / len(v) for k, v in errors.items()}

    def fit(self) -> Path:
        cfg = self.cfg
        self.net.train()
        final = self.out / f"{cfg.name}.safetensors"
        while self.epoch < cfg.epochs:
            began = time.time()
            losses = []
            bar = tqdm(
                self._loader(self.epoch), desc=f"epoch {self.epoch + 1}/{cfg.epochs}", disable=not self.main
            )
            for step, sample in enumerate(bar):
                lr = self._lr(sample, cfg.scales[step % len(cfg.scales)])
                terms, _ = self.module(lr, sample["guide"].to(self.device), sample["gt"].to(self.device))
                self.opt.zero_grad(set_to_none=True)
                terms.total.backward()
                self.opt.step()
                losses.append(float(terms.total))
                bar.set_postfix(loss=f"{losses[-1]:.4f}")
                if not math.isfinite(losses[-1]):
                    raise FloatingPointError(f"loss became {losses[-1]} at epoch {self.epoch + 1}")
            self.sched.step()
            self.epoch += 1
            if self.main:
                record = {
                    "epoch": self.epoch,
                    "loss": sum(losses) / len(losses),
                    "seconds": time.time() - began,
                }
                record.update(self.validate())
                self.history.append(record)
                tqdm.write(json.dumps(record))
                self._save_state()
                self.net.net.scale = cfg.scales[0]
                save_checkpoint(
                    self.net.net,
                    final,
                    max_depth=cfg.max_depth,
                    name=cfg.name,
                    trained_on=f"synthetic (stdnet_ros.data.synthetic), {self.epoch} epochs",
                    extra={"scales": cfg.scales, "config": asdict(cfg), "history": self.history},
                )
        if self.distributed:
            torch.distributed.destroy_process_group()
        return final
