"""The learning curve of a training run, drawn from the history its checkpoint carries.

Held-out synthetic RMSE per scale for the model, its own base and the guided-filter
baseline on the same clips, against optimisation steps: the evidence that the model
learns, and by how much it ends below what it started from.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

SERIES = (("rmse_cm", "model", "-"), ("stream_rmse_cm", "model, streaming (windows filling 1..T)", "-."),
          ("base_rmse_cm", "its base (input + guided filter)", ":"),
          ("guided_rmse_cm", "guided filter baseline", "--"))  # fmt: skip


def plot_history(history: list[dict], scales: list[int], steps_per_epoch: int, out: Path, title: str) -> Path:
    """One panel per scale; writes ``out`` (PNG) and returns it."""
    fig, axes = plt.subplots(1, len(scales), figsize=(5.5 * len(scales), 4), squeeze=False)
    steps = [h["epoch"] * steps_per_epoch for h in history]
    for ax, scale in zip(axes[0], scales, strict=True):
        for key, label, style in SERIES:
            values = [h.get(f"val_x{scale}_{key}") for h in history]
            if any(v is not None for v in values):
                ax.plot(steps, values, style, label=label)
        ax.set_title(f"x{scale}: held-out synthetic clips")
        ax.set_xlabel("optimisation steps")
        ax.set_ylabel("RMSE (cm)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
