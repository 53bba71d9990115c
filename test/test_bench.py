"""``stdnet-ros bench``: FLOPs with any precision row, a peak per precision, the machine in the report."""

from __future__ import annotations

import argparse
import json
import os

import pytest
import torch

from stdnet_ros.bench import engine_bench
from stdnet_ros.bench.engine_bench import Case, flops_per_frame
from stdnet_ros.cli import bench
from stdnet_ros.model import STDNet
from stdnet_ros.streaming.runtime import cpu_info, openmp_wait


def tiny() -> STDNet:
    torch.manual_seed(0)
    return STDNet(4, 4, 8).eval()


def test_flops_are_counted_for_an_fp16_row_on_a_cpu() -> None:
    """They used to be counted by running the row's precision on the CPU: fp16 raised after all the timing."""
    case = Case(32, 24, 4, 2, 0, "fp16")
    assert flops_per_frame(tiny(), case) == flops_per_frame(tiny(), Case(32, 24, 4, 2, 0, "fp32")) > 0


def test_each_row_is_compared_with_its_own_precisions_peak(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = []

    def peak(device: str, precision: str) -> float:
        asked.append(precision)
        return {"fp32": 100.0, "fp16": 1000.0}[precision]

    monkeypatch.setattr(bench, "device_peak_gflops", peak)
    base = {**Case(32, 24, 4, 2).__dict__, "fps": 10.0}
    rows = [{**base, "precision": "fp32"}, {**base, "precision": "fp16", "threads": 2}]
    assert bench.add_flops(tiny(), rows, torch.device("cpu")) == {"fp32": 100.0, "fp16": 1000.0}
    assert asked == ["fp32", "fp16"] and rows[0]["gflops_per_frame"] == rows[1]["gflops_per_frame"]
    assert rows[0]["fraction_of_peak"] == pytest.approx(10 * rows[1]["fraction_of_peak"])


def test_peak_gflops_is_two_operations_per_multiply_add_over_the_median_rep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A clock on which the three timed products take 0.5, 0.1 and 0.2 s: 2 x 64^3 over 0.2 s."""
    ticks = iter([0.0, 0.5, 1.0, 1.1, 2.0, 2.2])
    monkeypatch.setattr(engine_bench.time, "perf_counter", lambda: next(ticks))
    gflops = engine_bench.device_peak_gflops("cpu", "fp32", size=64, reps=3)
    assert gflops == pytest.approx(2 * 64**3 / 0.2 / 1e9)


def test_bench_reports_machine_threads_and_each_precision(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An instruction-set limit in the environment (an AVX2 estimate on an AVX-512 CPU) is named
    with the machine; ALL (oneDNN's "no limit") keeps this process's kernels as they are."""
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "ALL")
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    parser = argparse.ArgumentParser()
    bench.register(parser.add_subparsers())
    args = parser.parse_args([
        "bench", "--mid-channels", "4", "--head-channels", "8", "--sizes", "32x24", "--window", "2",
        "--precisions", "fp32", "bf16", "--strategies", "incremental", "--threads", "1", "--timed", "3",
        "--flops", "--json",
    ])  # fmt: skip
    before, affinity = torch.get_num_threads(), os.sched_getaffinity(0)
    assert args.func(args) == 0
    assert torch.get_num_threads() == before  # the bench's thread settings do not leak
    assert os.sched_getaffinity(0) == affinity  # nor its pinning to each core in turn
    out = capsys.readouterr().out.splitlines()
    summary = json.loads(out[-1])
    info = cpu_info()
    assert summary["cpu"] == info.model and summary["cpu_flags"] == list(info.flags)
    assert info.model in out[0] and summary["model"] == "random C=4 head=8"
    assert summary["isa_limit"] == {"ONEDNN_MAX_CPU_ISA": "ALL"}
    assert "limited by ONEDNN_MAX_CPU_ISA=ALL" in out[0]
    assert summary["openmp_wait"] == openmp_wait()  # what torch's OpenMP was given
    assert out[0].endswith(f"OpenMP wait: {summary['openmp_wait']}")
    assert all(len(summary["host_reference_s"][k]) == len(affinity) for k in ("before", "after"))
    assert out[1].startswith("host speed: ")  # beside the machine, before the rows
    assert [(r["precision"], r["threads"], r["timed_frames"]) for r in summary["rows"]] == [
        ("fp32", 1, 3),
        ("bf16", 1, 3),
    ]
    assert set(summary["peak_gflops"]) == {"fp32", "bf16"}
    assert all(r["ms_p90"] >= r["ms_per_frame"] > 0 and r["fraction_of_peak"] > 0 for r in summary["rows"])


def test_each_view_costs_one_network_and_the_ensemble_stays_exact() -> None:
    """Counted at two threads too, where the views run on threads of their own; the count sets
    nothing it does not restore."""
    one, two = (flops_per_frame(tiny(), Case(32, 24, 4, 2, 0, "fp32", views=v)) for v in (1, 2))
    assert two == pytest.approx(2 * one, rel=0.02)  # the base and input copies are counted once per view too
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert flops_per_frame(tiny(), Case(32, 24, 4, 2, 0, "fp32", views=2)) == two
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert engine_bench.max_rel_error_vs_offline(tiny(), Case(32, 24, 4, 3, 1, views=2), frames=5) < 1e-5


def test_cases_of_a_size_and_thread_count_are_timed_a_frame_each_in_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A host's speed moves by the minute: the rows compared must share the minutes. Each case sharing
    a size and a thread count takes one timed frame in turn, the order rotated every frame; another
    size or thread count is timed after; the rows come back in the order asked."""
    pushed: list[tuple[int, int]] = []  # (case, timed) per push, in the order they ran
    push = engine_bench._Timed.push

    def spy(self: engine_bench._Timed) -> None:
        pushed.append((cases.index(self.case), len(self.times)))
        push(self)

    monkeypatch.setattr(engine_bench._Timed, "push", spy)
    cases = [Case(32, 24, 4, 2, threads=1), Case(32, 24, 4, 2, precision="bf16", threads=1),
             Case(48, 32, 4, 2, threads=2), Case(32, 24, 4, 2, strategy="naive", threads=1),
             Case(48, 32, 4, 2, threads=1)]  # fmt: skip
    rows = engine_bench.time_cases(tiny(), cases, timed=3)
    assert pushed == [(0, 0), (1, 0), (3, 0), (1, 1), (3, 1), (0, 1), (3, 2), (0, 2), (1, 2),
                      (2, 0), (2, 1), (2, 2), (4, 0), (4, 1), (4, 2)]  # fmt: skip
    assert [(r["width"], r["precision"], r["threads"], r["timed_frames"]) for r in rows] == [
        (32, "fp32", 1, 3), (32, "bf16", 1, 3), (48, "fp32", 2, 3), (32, "fp32", 1, 3), (48, "fp32", 1, 3),
    ]  # fmt: skip
