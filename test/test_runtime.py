"""precision=auto, the CPU report and the thread default: the choices and the reasons logged for them."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import cv2
import pytest
import torch

from stdnet_ros.model import STDNet
from stdnet_ros.streaming import runtime
from stdnet_ros.streaming.engine import StreamingEngine
from stdnet_ros.streaming.runtime import CpuInfo, choose_precision, cpu_info

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 avx512_vnni
processor\t: 1
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 avx512_vnni
"""
AVX2_ONLY = CpuInfo("Intel Xeon (AVX2 only)", ("avx2", "fma"), 2)
BF16 = CpuInfo("AMD EPYC", ("avx2", "avx512f", "avx512_bf16"), 2)
CPU = torch.device("cpu")


def never(precision: str) -> float:
    raise AssertionError("must not time anything")


def test_cpuinfo_gives_model_and_relevant_flags() -> None:
    info = cpu_info(CPUINFO)
    assert info.model == "AMD EPYC 9R14 96-Core Processor"
    assert info.flags == ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16") and info.native_bf16
    assert "avx512_bf16" in info.describe() and not cpu_info("flags : avx2 amx_tile").native_bf16
    assert cpu_info("flags : avx2 amx_bf16").native_bf16


def test_requested_precisions_pass_through_and_cuda_auto_is_fp16() -> None:
    assert choose_precision("bf16", CPU, measure=never) == runtime.PrecisionChoice("bf16", "requested")
    assert choose_precision("auto", torch.device("cuda"), measure=never).precision == "fp16"


def test_auto_never_picks_bf16_without_native_bf16() -> None:
    """Measured: emulated bf16 on an AVX2 CPU ran about 12x slower than fp32."""
    choice = choose_precision("auto", CPU, info=AVX2_ONLY, measure=never)
    assert choice.precision == "fp32" and "no native bf16" in choice.reason


@pytest.mark.parametrize(("bf16_s", "expected"), [(0.5, "bf16"), (0.95, "fp32"), (2.0, "fp32")])
def test_auto_on_a_bf16_cpu_follows_the_measurement(bf16_s: float, expected: str) -> None:
    times = {"fp32": 1.0, "bf16": bf16_s}
    asked = []

    def measure(precision: str) -> float:
        asked.append(precision)
        return times[precision]

    choice = choose_precision("auto", CPU, info=BF16, measure=measure)
    assert choice.precision == expected
    assert asked == ["fp32", "bf16"] * (1 + runtime.MEASURE_ROUNDS)  # a warm-up each, then interleaved
    assert f"bf16 {1e3 * bf16_s:.1f} ms vs fp32 1000.0 ms" in choice.reason


class _Watched(STDNet):
    """The real network, noting what each forward was given and taking a known 50 ms longer."""

    EXTRA_S = 0.05

    def forward(self, lr: torch.Tensor, guide: torch.Tensor) -> tuple:
        autocast = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None
        weight = next(p for p in self.parameters() if p.dim() == 4)
        self.seen.append((tuple(lr.shape), tuple(guide.shape), autocast,
                          weight.is_contiguous(memory_format=torch.channels_last)))  # fmt: skip
        time.sleep(self.EXTRA_S)
        return super().forward(lr, guide)


def test_forward_seconds_times_one_forward_of_the_clip_it_describes() -> None:
    """One forward of a 2-frame clip at the output size W x H, under the precision's autocast, with
    the weights channels_last as the engine runs them; its time includes all of that forward."""
    torch.manual_seed(0)
    model = _Watched(4, 4, 8).eval()
    for precision, autocast in (("fp32", None), ("bf16", torch.bfloat16)):
        model.seen = []
        seconds = runtime.forward_seconds(model, precision, CPU, size=(32, 24))
        assert model.seen == [((1, 2, 1, 6, 8), (1, 2, 3, 24, 32), autocast, True)]
        assert _Watched.EXTRA_S <= seconds < _Watched.EXTRA_S + 10


def test_engine_resolves_auto_and_says_why() -> None:
    torch.manual_seed(0)
    engine = StreamingEngine(STDNet(4, 4, 8).eval(), max_depth=10.0, window=2, precision="auto")
    assert engine.precision in ("fp32", "bf16") and engine.precision_reason.startswith("auto: ")
    assert engine.precision == "fp32" or cpu_info().native_bf16
    assert any("deformable convolution" in note for note in engine.startup)


def test_thread_default_leaves_the_executor_a_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOMP_SPINCOUNT", "10000")
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert [runtime.default_threads(n) for n in (1, 2, 4, 16)] == [1, 1, 3, 15]
    assert [runtime.default_threads(n, openvino=True) for n in (1, 2, 4)] == [1, 2, 4]
    before = torch.get_num_threads(), cv2.getNumThreads()
    try:
        monkeypatch.setattr(runtime, "usable_cores", lambda: 3)
        message = runtime.apply_threads(0)
        assert message == ("compute threads (torch, OpenCV): 2 (default: 3 usable cores - 1, at least 1); "
                           "OpenMP wait: GOMP_SPINCOUNT=10000")  # fmt: skip
        assert torch.get_num_threads() == 2 and cv2.getNumThreads() == 2
        assert runtime.apply_threads(1).startswith("compute threads (torch, OpenCV): 1 (as requested)")
        assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
        message = runtime.apply_threads(0, openvino=True)
        assert message.startswith("compute threads (torch, OpenCV): 3 (default for OpenVINO: 3 usable cores)")
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])


IDLE_PROBE = """
import os, time
import stdnet_ros, torch
torch.set_num_threads(2)
x = torch.rand(2_000_000)
for _ in range(20):
    x.mul_(1.0000001)  # parallel regions of the two-thread team
began = time.process_time()
time.sleep(0.3)
print(os.environ.get("GOMP_SPINCOUNT", "unset"), time.process_time() - began)
"""


def _idle_probe(**env: str) -> tuple[str, float]:
    """(GOMP_SPINCOUNT as torch saw it, CPU seconds the process spent while its caller slept after
    parallel work): the team's spinning, in a fresh interpreter that imports stdnet_ros first."""
    environ = {k: v for k, v in os.environ.items() if k not in runtime.OPENMP_WAIT} | env
    out = subprocess.run([sys.executable, "-c", IDLE_PROBE], env=environ, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    spincount, idle_cpu_s = out.stdout.split()
    return spincount, float(idle_cpu_s)


def test_openmp_team_spins_briefly_after_an_operation() -> None:
    """Importing stdnet_ros before torch shortens the spinning of torch's OpenMP team after an
    operation (libgomp's default, 300,000 turns, spun ~5-8 ms of CPU, taken from the engine's own
    threads); the least of three runs each, against libgomp's default set explicitly."""
    ours = [_idle_probe() for _ in range(3)]
    default = [_idle_probe(GOMP_SPINCOUNT="300000") for _ in range(3)]
    assert min(cpu for _, cpu in ours) < min(cpu for _, cpu in default) / 2
    assert {spincount for spincount, _ in ours} == {"10000"}


def test_a_wait_policy_the_environment_gives_is_kept() -> None:
    assert _idle_probe(OMP_WAIT_POLICY="ACTIVE")[0] == "unset"
    assert _idle_probe(GOMP_SPINCOUNT="123")[0] == "123"


def test_workers_run_torch_on_one_thread_each_and_leave_the_callers_count() -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        workers = runtime.one_thread_workers(2)
        assert list(workers.map(lambda _: torch.get_num_threads(), range(4))) == [1] * 4
        assert torch.get_num_threads() == 2
        later: list[int] = []  # a thread started afterwards takes the caller's count, not the workers'
        thread = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
        thread.start()
        thread.join()
        assert later == [2]
        workers.shutdown()
    finally:
        torch.set_num_threads(before)


def test_thread_counts_are_put_back_however_a_measurement_ends() -> None:
    before = torch.get_num_threads()
    try:
        runtime.set_threads(1)
        with pytest.raises(RuntimeError), runtime.threads_kept():
            runtime.set_threads(2)
            raise RuntimeError("a measurement that failed half way")
        assert (torch.get_num_threads(), cv2.getNumThreads()) == (1, 1)
    finally:
        runtime.set_threads(before)
