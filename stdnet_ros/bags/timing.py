"""When each message of a converted clip is stamped: two sensors with their own clocks.

A real RGB camera and ToF sensor are not triggered together: each runs at its
own rate, the depth lags the colour by a small fixed offset, and both stamps
jitter. Bags made with perfectly equal stamps would hide pairing problems a
replay is meant to reveal, so the schedule reproduces them, deterministically
from a seed so a converted bag is the same file every time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_START_S = 1.7e9  # stamps look like wall-clock ROS time when the clip has none


@dataclass(frozen=True)
class Timing:
    """Rates, offset and jitter of the two sensors (seconds, Hz); ``None`` rates come from the clip."""

    rgb_hz: float | None = None
    depth_hz: float | None = None  # at most rgb_hz: a slower ToF gets the nearest colour frame's depth
    depth_offset_s: float = 0.004
    jitter_s: float = 0.001  # standard deviation of each stamp, clipped at 3 sigma
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("rgb_hz", "depth_hz"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.jitter_s < 0:
            raise ValueError(f"jitter_s must be >= 0, got {self.jitter_s}")


@dataclass(frozen=True)
class Schedule:
    """Stamps (seconds) of every RGB frame and every depth message, and which frame each depth shows."""

    rgb_stamps: np.ndarray  # (n_frames,)
    depth_stamps: np.ndarray  # (n_depth,)
    depth_frames: np.ndarray  # (n_depth,) int: clip frame whose LR depth the message carries


def clip_rate(stamps: list[float], default: float = 30.0) -> float:
    """Frame rate from a clip's stamps (median spacing), ``default`` if they carry none."""
    steps = np.diff(np.asarray(stamps, dtype=np.float64))
    steps = steps[steps > 0]
    return float(1.0 / np.median(steps)) if steps.size else default


def schedule(stamps: list[float], timing: Timing) -> Schedule:
    """Stamps for a clip whose frames were captured at ``stamps`` (only their rate and start are used)."""
    count = len(stamps)
    if count == 0:
        raise ValueError("cannot schedule an empty clip")
    rgb_hz = timing.rgb_hz or clip_rate(stamps)
    depth_hz = timing.depth_hz or rgb_hz
    if depth_hz > rgb_hz * (1 + 1e-9):
        raise ValueError(f"depth rate {depth_hz} Hz above the RGB rate {rgb_hz} Hz: each depth needs a frame")
    start = stamps[0] if stamps[0] > 1e6 else DEFAULT_START_S
    rng = np.random.default_rng(timing.seed)
    # Jitter must never reorder a stream: keep it under a quarter of the shorter period.
    bound = min(3 * timing.jitter_s, 0.25 / rgb_hz)

    def jitter(n: int) -> np.ndarray:
        return np.clip(rng.normal(0.0, timing.jitter_s, n), -bound, bound) if timing.jitter_s else np.zeros(n)

    rgb = start + np.arange(count) / rgb_hz + jitter(count)
    n_depth = int(np.floor((count - 1) * depth_hz / rgb_hz + 1e-9)) + 1
    frames = np.minimum(np.rint(np.arange(n_depth) * rgb_hz / depth_hz).astype(int), count - 1)
    depth = start + timing.depth_offset_s + np.arange(n_depth) / depth_hz + jitter(n_depth)
    return Schedule(rgb, depth, frames)
