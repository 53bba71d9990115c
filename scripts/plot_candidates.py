"""Draw docs/evaluation.md's accuracy-against-speed table as a picture (RMSE against frames/s).

The table stays the one record of the figures; this reads it, so the picture cannot drift from it.
Each candidate is a numbered point (its row in the table); the guided filter's RMSE, the issue's
bar (10 % below it) and the 5 frames/s real-time target are drawn as lines.

    python scripts/plot_candidates.py docs/evaluation.md docs/accuracy-vs-speed.png
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HEADING = "## Accuracy against speed"
NUMBER = re.compile(r"\d+(?:\.\d+)?")
TARGET_FPS = 5.0
FPS_TICKS = (1, 2, 5, 10, 20, 60)
BAR = 0.9  # the accuracy issue: at least 10 % below the best classical baseline


def first_number(cell: str) -> float | None:
    """``11.0 (11.4 bf16); ...`` -> 11.0, ``> 60`` -> 60.0, ``-`` -> None."""
    found = NUMBER.search(cell.replace("*", ""))
    return float(found.group()) if found else None


def read_table(markdown: str) -> list[dict]:
    """The rows of the table under HEADING: candidate, frames/s, x4 and x8 RMSE."""
    section = markdown.split(HEADING, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    out = []
    for line in rows[1:]:
        cells = dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
        out.append({"candidate": cells["candidate"].replace("**", ""), "fps": first_number(cells["frames/s"]),
                    "x4": first_number(cells["x4 RMSE"]), "x8": first_number(cells["x8 RMSE"])})  # fmt: skip
    return out


def plot(rows: list[dict], out: Path) -> Path:
    guided = next(r for r in rows if r["candidate"].startswith("guided filter"))
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, scale in zip(axes, ("x4", "x8"), strict=True):
        for k, row in enumerate(rows, 1):
            if row["fps"] is None or row[scale] is None:
                continue
            ax.scatter(row["fps"], row[scale], color="C1" if row is guided else "C0")
            ax.annotate(str(k), (row["fps"], row[scale]), textcoords="offset points", xytext=(4, 4))
        ax.axhline(guided[scale], color="C1", ls="--", label=f"guided filter {guided[scale]:.2f} cm")
        bar = BAR * guided[scale]
        ax.axhline(bar, color="C2", ls=":", label=f"10 % below it: {bar:.2f} cm")
        ax.axvline(TARGET_FPS, color="grey", ls="-.", label=f"{TARGET_FPS:.0f} frames/s target")
        ax.set_xscale("log")
        ax.set_xticks(FPS_TICKS, [f"{t:g}" for t in FPS_TICKS], minor=False)
        ax.minorticks_off()
        ax.set_xlabel("frames/s, 320x240 x4, 2 CPU threads (log)")
        ax.set_ylabel(f"DyDToF RMSE {scale}, streaming (cm)")
        ax.set_title(f"{scale}: lower and further right is better")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    legend = "\n".join(f"{k}. {r['candidate'][:130]}" for k, r in enumerate(rows, 1))
    fig.text(0.01, 0.0, legend, fontsize=6.5, va="bottom", family="monospace")
    fig.tight_layout(rect=(0, 0.06 + 0.022 * len(rows), 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", type=Path, help="docs/evaluation.md")
    parser.add_argument("out", type=Path, help="PNG to write")
    args = parser.parse_args()
    print(f"wrote {plot(read_table(args.table.read_text()), args.out)}")


if __name__ == "__main__":
    main()
