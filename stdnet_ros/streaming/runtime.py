"""Where and how the network runs: the CPU's capabilities, what ``precision=auto`` picks, torch's threads.

On a 2-core machine these settings move the frame rate more than any model change:
two torch threads beside a busy process ran 3x slower than one, and bf16 without
bf16 hardware (AVX2 only) ran 12x slower than fp32 while with it (AVX-512 bf16) it
ran 1.7x faster. So ``auto`` trusts bf16 only where the CPU has native bf16 and a
short measurement at start-up confirms it, and every choice is returned with its
reason for the start-up log.
"""

from __future__ import annotations

import os
import platform
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import torch

# Flags worth showing beside a timing: what the matmul and convolution kernels can use.
SHOWN_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16")
NATIVE_BF16 = ("avx512_bf16", "amx_bf16")
BF16_MARGIN = 0.9  # bf16 must be at least 10% faster: fp32 is more accurate, so ties go to it
MEASURE_ROUNDS = 3  # about 2 s at start for the embedded model on 2 AVX-512 cores
AUTOCAST = {"fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class CpuInfo:
    model: str
    flags: tuple[str, ...]  # those of SHOWN_FLAGS the CPU has
    cores: int  # usable by this process (affinity), not installed

    @property
    def native_bf16(self) -> bool:
        return any(flag in self.flags for flag in NATIVE_BF16)

    def describe(self) -> str:
        return f"{self.model}, {self.cores} cores, flags: {' '.join(self.flags) or 'none of the shown'}"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_info(cpuinfo: str | None = None) -> CpuInfo:
    """The CPU's model and relevant flags, from /proc/cpuinfo (or the text given, for tests)."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text() if path.exists() else ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    present = set(fields.get("flags", "").split())
    model = fields.get("model name") or platform.processor() or platform.machine()
    return CpuInfo(model, tuple(f for f in SHOWN_FLAGS if f in present), usable_cores())


def default_threads(cores: int | None = None, openvino: bool = False) -> int:
    """All cores but one, at least one, so that the ROS executor and DDS threads keep a core: torch
    at two threads beside a process holding one of two cores ran 17 % slower than at one. OpenVINO
    gets every core: its views run side by side on single-threaded pieces, and there two threads ran
    16 % faster than one even beside that process (1.5-1.8x on a quiet machine); the camera-pair
    demo at 5 Hz answered 96 % of its frames at two threads, 76-84 % at one (2026-12-06)."""
    cores = cores or usable_cores()
    return cores if openvino else max(1, cores - 1)


def set_threads(threads: int) -> None:
    """torch's intra-op threads and OpenCV's (the guided base's box filter) alike: a thread count
    that leaves a core free must hold for both."""
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)


@contextmanager
def threads_kept() -> Iterator[None]:
    """Torch's thread count, and OpenCV's with it (:func:`set_threads`), put back as they were
    however the block leaves: a measurement's thread settings must not outlive it."""
    before = torch.get_num_threads()
    try:
        yield
    finally:
        set_threads(before)


def apply_threads(requested: int, openvino: bool = False) -> str:
    """Set the compute thread count (0 = :func:`default_threads` for the backend that will run) and
    say what was set and why."""
    threads = requested or default_threads(openvino=openvino)
    set_threads(threads)
    why = ("as requested" if requested else f"default for OpenVINO: {usable_cores()} usable cores" if openvino
           else f"default: {usable_cores()} usable cores - 1, at least 1")  # fmt: skip
    return (f"compute threads (torch, OpenCV): {torch.get_num_threads()} ({why}); "
            f"OpenMP wait: {openmp_wait()}")  # fmt: skip


OPENMP_WAIT = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def openmp_wait() -> str:
    """How torch's OpenMP team waits between operations, as the environment told it (stdnet_ros sets
    GOMP_SPINCOUNT when imported unless either is given)."""
    given = [f"{name}={os.environ[name]}" for name in OPENMP_WAIT if name in os.environ]
    return " ".join(given) or "OpenMP's default"


def one_thread_workers(count: int) -> ThreadPoolExecutor:
    """``count`` worker threads whose torch operations use one intra-op thread each, so ``count``
    independent jobs side by side use ``count`` cores without each spawning a team of its own.

    torch's thread count (OpenMP's) belongs to each thread once set, but a thread's first use of
    torch sets it to the count new threads start with, which setting it changes: so each worker
    uses torch once before setting its own, and the count new threads take is put back after.
    """
    before = torch.get_num_threads()
    ready = threading.Barrier(count + 1)

    def one_thread() -> None:
        torch.get_num_threads()  # the first use, which would undo a count set before it
        torch.set_num_threads(1)
        ready.wait()

    workers = ThreadPoolExecutor(count, thread_name_prefix="stdnet-worker", initializer=one_thread)
    for _ in range(count):  # each blocked worker makes the next submission start a new one
        workers.submit(int)
    ready.wait()
    torch.set_num_threads(before)
    return workers


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """The autocast context of a precision (disabled for fp32)."""
    dtype = AUTOCAST.get(precision, torch.bfloat16)
    return torch.autocast(device.type, dtype=dtype, enabled=precision != "fp32")


def forward_seconds(
    model: torch.nn.Module, precision: str, device: torch.device, size: tuple[int, int] = (320, 240)
) -> float:
    """Time of one forward of the network on a 2-frame clip of ``size`` (output W x H) at ``precision``.

    At the usual ToF size rather than a tiny one: bf16's fixed costs (weight casts, layout
    reorders) made it lose on a 96 x 64 clip where it won at 320 x 240. The model is put
    in channels_last, as the streaming engine runs it.
    """
    model = model.to(device, memory_format=torch.channels_last)
    width, height = size
    g = torch.Generator().manual_seed(0)
    lr = torch.rand(1, 2, 1, height // model.scale, width // model.scale, generator=g).to(device)
    guide = torch.rand(1, 2, 3, height, width, generator=g).to(device)
    with torch.inference_mode(), autocast(device, precision):
        began = time.perf_counter()
        model(lr, guide)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - began


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str
    reason: str


def choose_precision(
    requested: str,
    device: torch.device,
    model: torch.nn.Module | None = None,
    info: CpuInfo | None = None,
    measure: Callable[[str], float] | None = None,
) -> PrecisionChoice:
    """Resolve ``auto``: fp16 on CUDA; on a CPU bf16 only with native bf16 and measured faster.

    ``measure(precision) -> seconds`` defaults to :func:`forward_seconds` on ``model``.
    """
    if requested != "auto":
        return PrecisionChoice(requested, "requested")
    if device.type == "cuda":
        return PrecisionChoice("fp16", "auto: CUDA, half precision on tensor cores")
    if device.type != "cpu":
        return PrecisionChoice("fp32", f"auto: {device.type} device, fp32 (nothing else tested there)")
    info = info or cpu_info()
    if not info.native_bf16:
        return PrecisionChoice(
            "fp32", f"auto: this CPU has no native bf16 ({' or '.join(NATIVE_BF16)}), where bf16 is emulated "
            "and many times slower"
        )
    if measure is None:
        if model is None:
            raise ValueError("precision auto on a bf16 CPU needs the model (or a measure) to time both")
        measure = lambda precision: forward_seconds(model, precision, device)  # noqa: E731
    for precision in ("fp32", "bf16"):
        measure(precision)  # first calls pay one-off allocations and kernel choices
    samples: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(MEASURE_ROUNDS):  # interleaved: a change of load hits both alike
        for precision in samples:
            samples[precision].append(measure(precision))
    fp32, bf16 = (statistics.median(samples[p]) for p in ("fp32", "bf16"))
    rounds = MEASURE_ROUNDS
    timing = f"bf16 {1e3 * bf16:.1f} ms vs fp32 {1e3 * fp32:.1f} ms a 2-frame forward (median of {rounds})"
    if bf16 < BF16_MARGIN * fp32:
        native = ", ".join(f for f in info.flags if f in NATIVE_BF16)
        return PrecisionChoice("bf16", f"auto: native bf16 ({native}) and faster here: {timing}")
    return PrecisionChoice("fp32", f"auto: native bf16, but not {1 / BF16_MARGIN:.2f}x faster here: {timing}")
