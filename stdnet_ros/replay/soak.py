"""A soak run over time, ROS-free: the node's resident memory, latency and drops as the passes go by.

``stdnet-ros replay BAG --loop N`` plays a bag N times through one node
process. What a deployment needs to know before running for days is whether
anything creeps: memory after warm-up (the first pass, while the allocator,
the engine's window and the DDS buffers fill), latency from the first tenth of
the run to the last, and whether every depth frame the node received was
published or dropped with a reason (``unaccounted`` must be 0), apart from the
frames lost before the node (``transport_lost``: sent - received).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on robots or CI
import matplotlib.pyplot as plt
import numpy as np

from stdnet_ros.node.params import TOPICS
from stdnet_ros.node.stats import COMPILING, depth_account, status_drops
from stdnet_ros.replay.analysis import Output
from stdnet_ros.replay.record import ReplayRecord, node_statuses

SLICES = 10
_MB = 1024 * 1024


@dataclass
class SoakSlice:
    """One tenth of the run."""

    until_s: float  # end of the slice, seconds since the replay started
    outputs: int
    latency_p50_ms: float
    latency_p95_ms: float
    resident_mb: float  # last sample in the slice (NaN if none)
    node_drops: int  # the node's drops so far


@dataclass
class Soak:
    loops: int
    frames: int  # depth frames published
    outputs: int
    warm_up_s: float  # end of the first pass
    resident_after_warm_up_mb: float
    resident_peak_mb: float  # after warm-up
    resident_final_mb: float
    growth_mb: float  # peak after warm-up - at its end
    # The node's own account of depth frames (None without its counters): received = published +
    # dropped + in flight at the end + unaccounted, where unaccounted must be 0.
    received: int | None
    published: int | None
    dropped: dict[str, int]
    in_flight: int | None
    unaccounted: int | None
    transport_lost: int | None  # sent - received: lost before the node
    slices: list[SoakSlice] = field(default_factory=list)
    memory: list[tuple[float, float]] = field(default_factory=list)  # (s, MB)
    latency: list[tuple[float, float]] = field(default_factory=list)  # (s, ms) per output
    drops: list[tuple[float, dict[str, int]]] = field(default_factory=list)  # (s, node drops so far)

    def as_json(self) -> dict:
        """The figures and the slices (NaN as null); the raw series stay in the plot."""

        def clean(x: object) -> object:
            if isinstance(x, float):
                return None if math.isnan(x) else round(x, 2)
            if isinstance(x, list):
                return [clean(v) for v in x]
            return {k: clean(v) for k, v in x.items()} if isinstance(x, dict) else x

        return {k: clean(v) for k, v in asdict(self).items() if k not in ("memory", "latency", "drops")}


def _warm_up_ns(record: ReplayRecord, statuses: list[tuple[int, dict[str, str]]]) -> int:
    """Replay-clock time the second pass began (a tenth of the run for a single pass), or, if later,
    the node's first report that its backend had stopped compiling in the background (compiled
    models are memory the node keeps, not a leak); a compilation still running at the end of the
    run is not waited for. ``statuses``: the node's, as :func:`node_statuses` gives them."""
    second = [record.depth_clock[stamp] for stamp, n in record.passes.items() if n == 1]
    warm = min(second) if second else record.started_ns + (record.finished_ns - record.started_ns) // SLICES
    compiling = [(ns, status[COMPILING] == "yes") for ns, status in statuses
                 if status.get(COMPILING) in ("yes", "no")]  # fmt: skip
    last_yes = max((k for k, (_, yes) in enumerate(compiling) if yes), default=None)
    if last_yes is not None and last_yes + 1 < len(compiling):
        warm = max(warm, compiling[last_yes + 1][0])
    return warm


def soak(record: ReplayRecord, outputs: list[Output], namespace: str, status: dict[str, str]) -> Soak:
    """The run's figures over time, from what the player recorded."""
    t0 = record.started_ns
    statuses = list(node_statuses(record, namespace))  # every /diagnostics message parsed once
    warm = _warm_up_ns(record, statuses)
    memory = [((ns - t0) / 1e9, rss / _MB) for ns, rss in record.memory]
    after = [rss / _MB for ns, rss in record.memory if ns >= warm]
    at_warm = after[0] if after else float("nan")
    latency = [((o.received_ns - t0) / 1e9, o.latency_s * 1e3) for o in outputs]
    drops = [((ns - t0) / 1e9, status_drops(s)) for ns, s in statuses]
    account = depth_account(status, TOPICS["depth"])
    result = Soak(
        loops=record.loops, frames=len(record.depth_stamps), outputs=len(outputs),
        warm_up_s=(warm - t0) / 1e9,
        resident_after_warm_up_mb=at_warm, resident_peak_mb=max(after, default=float("nan")),
        resident_final_mb=memory[-1][1] if memory else float("nan"),
        growth_mb=max(after, default=float("nan")) - at_warm,
        received=account and account.received, published=account and account.published,
        dropped=account.dropped if account else {}, in_flight=account and account.in_flight,
        unaccounted=account and account.unaccounted,
        transport_lost=account and len(record.depth_stamps) - account.received,
        memory=memory, latency=latency, drops=drops,
    )  # fmt: skip
    end = max([t for t, _ in memory + latency] + [(record.finished_ns - t0) / 1e9])
    for k in range(1, SLICES + 1):
        low, high = end * (k - 1) / SLICES, end * k / SLICES
        lat = np.array([ms for t, ms in latency if low < t <= high or (k == 1 and t == low)])
        mem = [mb for t, mb in memory if t <= high]
        dropped = [sum(d.values()) for t, d in drops if t <= high]
        p50, p95 = (np.percentile(lat, [50, 95]) if lat.size else (float("nan"), float("nan")))
        result.slices.append(SoakSlice(round(high, 2), int(lat.size), float(p50), float(p95),
                                       mem[-1] if mem else float("nan"), dropped[-1] if dropped else 0))
    return result


def soak_lines(soak: Soak) -> list[str]:
    """The Markdown section of the summary."""
    lines = [
        f"## Soak: {soak.loops} passes, {soak.frames} depth frames, {soak.outputs} answered", "",
        "| node resident memory | MB |", "|---|---:|",
        f"| after warm-up (first pass and background compilations, {soak.warm_up_s:.1f} s) | "
        f"{soak.resident_after_warm_up_mb:.1f} |",
        f"| peak after warm-up | {soak.resident_peak_mb:.1f} |",
        f"| at the end | {soak.resident_final_mb:.1f} |",
        f"| growth after warm-up | {soak.growth_mb:.1f} |", "",
        "| depth frames | count |", "|---|---:|",
        f"| sent | {soak.frames} |", f"| lost before the node (sent - received) | {soak.transport_lost} |",
        f"| received by the node | {soak.received} |", f"| published by the node | {soak.published} |",
        *[f"| dropped: {reason} | {n} |" for reason, n in sorted(soak.dropped.items())],
        f"| in the node at the end (pairing queue, lookahead) | {soak.in_flight} |",
        f"| **received but neither published nor dropped with a reason** | **{soak.unaccounted}** |", "",
        "| until (s) | outputs | latency p50 ms | latency p95 ms | resident MB | node drops so far |",
        "|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    lines += [f"| {s.until_s:.1f} | {s.outputs} | {s.latency_p50_ms:.1f} | {s.latency_p95_ms:.1f} | "
              f"{s.resident_mb:.1f} | {s.node_drops} |" for s in soak.slices]  # fmt: skip
    return lines


def plot_soak(soak: Soak, path: Path) -> None:
    """Memory, latency and drops against time since the replay started, one panel each."""
    fig, (mem, lat, drop) = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    if soak.memory:
        mem.plot(*zip(*soak.memory, strict=True), lw=1)
    mem.set(ylabel="resident MB", title="Node process over the soak run")
    if soak.latency:
        lat.plot(*zip(*soak.latency, strict=True), ".", ms=2, alpha=0.4, label="each output")
    edges = [s.until_s for s in soak.slices]
    lat.step(edges, [s.latency_p95_ms for s in soak.slices], where="pre", color="k", label="p95 per tenth")
    lat.set(ylabel="stamp -> output (ms)")
    lat.legend(loc="upper right")
    reasons = sorted({r for _, d in soak.drops for r in d})
    for reason in reasons:
        drop.step([t for t, _ in soak.drops], [d.get(reason, 0) for _, d in soak.drops], where="post",
                  label=reason)
    drop.set(xlabel="time since the replay started (s)", ylabel="node drops so far")
    if reasons:
        drop.legend(loc="upper left", fontsize=8)
    for ax in (mem, lat, drop):
        ax.axvline(soak.warm_up_s, ls="--", color="grey", lw=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
