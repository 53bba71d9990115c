"""The replay report folder: summary.md and .json, plots, side-by-side frames, a GIF, the output bag."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import imageio.v2 as imageio
import matplotlib

matplotlib.use("Agg")  # files only; no display on robots or CI
import matplotlib.pyplot as plt
import numpy as np

from stdnet_ros.bags import BagClip
from stdnet_ros.bags.schema import CAMERA_INFO, IMAGE, TYPESTORE
from stdnet_ros.bags.writer import staged_bag
from stdnet_ros.evaluation.baselines import upsample
from stdnet_ros.node.params import TOPICS
from stdnet_ros.node.stats import PERCENTILES
from stdnet_ros.replay.analysis import STDNET, ReplayResult, scored_frames
from stdnet_ros.replay.record import DIAGNOSTICS, ReplayRecord
from stdnet_ros.replay.soak import plot_soak, soak, soak_lines

SIDE_BY_SIDE = 4  # frames saved as PNG panels
GIF_PANEL_WIDTH = 240
COLORMAP = "turbo"


def summary_rows(result: ReplayResult) -> list[tuple[str, str, str, str, str]]:
    """(method, RMSE cm, MAE cm, tRMSE cm, coverage) lines of the accuracy table."""
    return [(m, f"{s.rmse_cm:.2f}", f"{s.mae_cm:.2f}", f"{s.trmse_cm:.2f}", f"{s.coverage:.3f}")
            for m, s in result.scores.items()]  # fmt: skip


def summary_text(result: ReplayResult, bag: BagClip, rate: float) -> str:
    """The Markdown summary (also what the CLI prints)."""
    lat = result.latency_ms()
    lines = [f"# Replay of `{bag.path.name}` at x{rate:g}", ""]
    answered = len(result.outputs) / result.inputs if result.inputs else 0.0
    lines += [f"**Answered {len(result.outputs)} of {result.inputs} depth frames ({100 * answered:.0f}%) "
              f"arriving at {result.input_hz:.1f} Hz; latency p50 {lat[50]:.0f} ms, p95 {lat[95]:.0f} ms.**",
              ""]  # fmt: skip
    if result.scores:
        frames = next(iter(result.scores.values())).frames
        lines += [f"Accuracy against ground truth over the {frames} frames the node answered "
                  f"(baselines on the same frames; best baseline: {result.best_baseline}):", "",
                  "| method | RMSE cm | MAE cm | tRMSE cm | coverage |",
                  "|---|---:|---:|---:|---:|"]  # fmt: skip
        lines += ["| " + " | ".join(row) + " |" for row in summary_rows(result)]
    else:
        lines.append("No accuracy figures: the bag has no ground truth or the node gave no output.")
    lines += ["", "| timing | value |", "|---|---:|",
              *[f"| latency p{p} (stamp -> output received) | {lat[p]:.1f} ms |" for p in PERCENTILES],
              f"| input depth rate | {result.input_hz:.2f} Hz |",
              f"| output rate | {result.output_hz:.2f} Hz |",
              f"| depth frames in / outputs | {result.inputs} / {len(result.outputs)} |", "",
              "| depth frames without output, by reason | count |", "|---|---:|",
              *[f"| {reason} | {n} |" for reason, n in result.drops.items()]]  # fmt: skip
    if result.rgb:
        lines += ["", "RGB frames only guide the depth: one without a depth partner costs no output.", "",
                  "| RGB frames not used | count |", "|---|---:|",
                  *[f"| {reason} | {n} |" for reason, n in result.rgb.items()]]  # fmt: skip
    node = {k: result.node_status.get(k, "?") for k in ("model", "device", "window", "views", "lookahead")}
    lines += ["", "Node: " + ", ".join(f"{k} {v}" for k, v in node.items()) + "."]
    return "\n".join(lines) + "\n"


def _json(result: ReplayResult, rate: float) -> dict:
    def num(x: float) -> float | int | None:
        if isinstance(x, int):
            return x
        return None if math.isnan(x) else round(x, 4)

    return {
        "rate": rate, "inputs": result.inputs, "outputs": len(result.outputs),
        "latency_ms": {f"p{p}": num(v) for p, v in result.latency_ms().items()},
        "input_hz": num(result.input_hz), "output_hz": num(result.output_hz), "drops": result.drops,
        "rgb": result.rgb, "best_baseline": result.best_baseline,
        "scores": {m: {k: num(v) for k, v in vars(s).items()} for m, s in result.scores.items()},
        "node_status": result.node_status,
    }  # fmt: skip


def _plots(result: ReplayResult, folder: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4))
    for method, values in result.per_frame_rmse.items():
        ax.plot(result.frame_times_s, values, label=method, lw=2 if method == STDNET else 1)
    ax.set(xlabel="time in bag (s)", ylabel="RMSE (cm)", title="Error over time")
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "error_over_time.png", dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist([o.latency_s * 1e3 for o in result.outputs], bins=30)
    for p, v in result.latency_ms().items():
        ax.axvline(v, ls="--", color="k", lw=0.8)
        ax.text(v, ax.get_ylim()[1] * 0.95, f"p{p}", rotation=90, va="top")
    ax.set(xlabel="stamp -> output (ms)", ylabel="frames", title="Latency")
    fig.tight_layout()
    fig.savefig(folder / "latency_hist.png", dpi=100)
    plt.close(fig)


def _colour(depth: np.ndarray, low: float, high: float) -> np.ndarray:
    """Depth -> RGB uint8 on one fixed scale; invalid pixels black."""
    norm = np.clip((np.nan_to_num(depth, nan=low) - low) / max(high - low, 1e-6), 0, 1)
    rgb = (matplotlib.colormaps[COLORMAP](norm)[..., :3] * 255).astype(np.uint8)
    rgb[~np.isfinite(depth)] = 0
    return rgb


def _panels(bag: BagClip, result: ReplayResult, folder: Path) -> None:
    """Side-by-side PNGs (LR | best baseline | STDNet | GT) and the GIF, on the GT's colour scale."""
    pairs = list(scored_frames(bag, result.outputs))
    gts = np.stack([f.depth_gt for f, _ in pairs])
    low, high = (float(v) for v in np.nanpercentile(gts, [1, 99]))
    keep = set(np.linspace(0, len(pairs) - 1, min(SIDE_BY_SIDE, len(pairs))).astype(int).tolist())
    names = ["LR depth", f"best baseline ({result.best_baseline})", "STDNet (node)", "ground truth"]
    gif = []
    for i, (frame, out) in enumerate(pairs):
        scale = frame.rgb.shape[0] // frame.depth_lr.shape[0]
        lr = np.repeat(np.repeat(frame.depth_lr, scale, axis=0), scale, axis=1)
        base = upsample(result.best_baseline, frame.depth_lr, scale, frame.rgb)
        images = [lr, base, out.depth, frame.depth_gt]
        if i in keep:
            fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
            for ax, img, name in zip(axes, images, names, strict=True):
                shown = ax.imshow(np.ma.masked_invalid(img), cmap=COLORMAP, vmin=low, vmax=high)
                ax.set_title(name)
                ax.axis("off")
            fig.colorbar(shown, ax=axes, label="depth (m)", fraction=0.015)
            fig.savefig(folder / "frames" / f"frame_{i:04d}.png", dpi=80)
            plt.close(fig)
        h = round(GIF_PANEL_WIDTH * frame.rgb.shape[0] / frame.rgb.shape[1])
        row = [cv2.resize(_colour(img, low, high), (GIF_PANEL_WIDTH, h), interpolation=cv2.INTER_NEAREST)
               for img in images]  # fmt: skip
        for panel, name in zip(row, names, strict=True):
            label = name.split(" (")[0]
            cv2.putText(panel, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
        gif.append(np.concatenate(row, axis=1))
    imageio.mimsave(folder / "sequence.gif", gif, duration=100, loop=0)


def _output_bag(record: ReplayRecord, namespace: str, folder: Path) -> None:
    """What the node published, as DDS delivered it, logged at arrival time."""
    types = {f"{namespace}/{TOPICS['output']}": IMAGE, f"{namespace}/{TOPICS['confidence']}": IMAGE,
             f"{namespace}/{TOPICS['output_info']}": CAMERA_INFO,
             DIAGNOSTICS: "diagnostic_msgs/msg/DiagnosticArray"}
    with staged_bag(folder / "node_output_bag") as writer:
        conns = {}
        for received in record.received:
            if received.raw is None:
                continue
            topic = received.topic
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, types[topic], typestore=TYPESTORE)
            writer.write(conns[topic], received.recv_ns, received.raw)


def write_report(folder: Path, bag: BagClip, record: ReplayRecord, result: ReplayResult,
                 namespace: str) -> str:
    """Fill ``folder`` (existing, empty but for the node log) and return the Markdown summary."""
    text = summary_text(result, bag, record.rate)
    summary = _json(result, record.rate)
    if record.loops > 1:
        run = soak(record, result.outputs, namespace, result.node_status)
        text += "\n" + "\n".join(soak_lines(run)) + "\n"
        summary["soak"] = run.as_json()
        plot_soak(run, folder / "soak.png")
    (folder / "summary.md").write_text(text)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    _output_bag(record, namespace, folder)
    if result.outputs:
        _plots(result, folder)
    if result.scores:
        (folder / "frames").mkdir()
        _panels(bag, result, folder)
    return text
