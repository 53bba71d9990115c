"""The ONNX graph runs in onnxruntime and equals PyTorch."""

from __future__ import annotations

import pathlib

import pytest
import torch

from stdnet_ros.export import check_onnx, export_onnx
from stdnet_ros.model import STDNet


@pytest.mark.parametrize("head_guide", [False, True])
def test_onnx_export_runs_in_onnxruntime_and_matches(tmp_path: pathlib.Path, head_guide: bool) -> None:
    torch.manual_seed(0)
    model = STDNet(scale=8, mid_channels=4, head_channels=4, head_guide=head_guide)
    path = export_onnx(model, tmp_path / "m.onnx", frames=3, width=40, height=32)
    assert path.stat().st_size > 0
    assert check_onnx(model, path, frames=3, width=40, height=32) < 1e-5
