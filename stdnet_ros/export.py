"""ONNX export of the window network, checked against PyTorch with onnxruntime.

The published network's mmcv deformable convolution has no ONNX form; ours is
grid_sample plus a matrix product, which exports as standard operators
(GridSample needs opset 16+). The graph is the offline window network: W
frames in, W depths out, at a fixed size.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stdnet_ros.model import STDNet

OPSET = 17


class DepthOnly(nn.Module):
    """The network with its extras dropped: (lr, guide) -> depth, the deployable graph."""

    def __init__(self, model: STDNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, lr: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        return self.model(lr, guide)[0]


def example_inputs(
    model: STDNet, frames: int, width: int, height: int, seed: int = 0
) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    h, w = height // model.scale, width // model.scale
    return torch.rand(1, frames, 1, h, w, generator=g), torch.rand(1, frames, 3, height, width, generator=g)


def export_onnx(model: STDNet, path: str | Path, frames: int, width: int, height: int) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            DepthOnly(model.eval()),
            example_inputs(model, frames, width, height),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=["lr", "guide"],
            output_names=["depth"],
        )
    return path


def check_onnx(model: STDNet, path: str | Path, frames: int, width: int, height: int) -> float:
    """Relative error of onnxruntime's output against PyTorch's on fresh random inputs."""
    import onnxruntime

    lr, guide = example_inputs(model, frames, width, height, seed=1)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(None, {"lr": lr.numpy(), "guide": guide.numpy()})[0]
    with torch.inference_mode():
        ref = DepthOnly(model)(lr, guide).numpy()
    return float(np.linalg.norm(out - ref) / np.linalg.norm(ref))
