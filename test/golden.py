"""Access to ../shared/golden: the published network's manifest, weight rule and reference outputs."""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import numpy as np
import torch

GOLDEN = Path(__file__).resolve().parents[2] / "shared" / "golden"
FORWARD_CASES = ("x4_t3_6x7", "x4_t5_8x10", "x8_t5_4x5")


def manifest() -> dict[str, list]:
    return json.loads((GOLDEN / "state_dict_manifest.json").read_text())


def golden_tensor(full_name: str, shape: list[int]) -> torch.Tensor:
    """The golden README's rule: each tensor from its own crc32-seeded generator."""
    g = torch.Generator().manual_seed(zlib.crc32(full_name.encode()))
    std = 1.0 / math.sqrt(math.prod(shape[1:])) if len(shape) >= 2 else 0.05
    return torch.randn(shape, generator=g, dtype=torch.float64) * std


def golden_state(part: str = "video_rec") -> dict[str, torch.Tensor]:
    prefix = {"video_rec": "Video_Rec.", "diff_rec": "Diff_Rec."}[part]
    return {name: golden_tensor(prefix + name, shape) for name, shape in manifest()[part]}


def case(name: str) -> dict[str, np.ndarray]:
    with np.load(GOLDEN / f"{name}.npz") as data:
        return {k: data[k] for k in data.files}


def rel_error(out: torch.Tensor | np.ndarray, ref: np.ndarray) -> float:
    out = out.detach().double().numpy() if isinstance(out, torch.Tensor) else out
    return float(np.linalg.norm(out - ref) / np.linalg.norm(ref))
