"""How a low-resolution ToF frame is made from the true depth: two sensor presets.

``DirectToF`` (the training default) is the direct time-of-flight model that made
DyDToF's low-resolution depth (see ``../shared/docs/dtof-sensor.md``): each LR
pixel is the peak of a histogram of the HR depths under its block, each HR
pixel weighted by the signal it returns (albedo over distance squared), on a
1024-bin grid over 0-20 m, plus a uniform integer jitter of a few bins. At an
edge it picks one side, never a mix. ``IndirectToF`` is a phase-based camera:
area mean, noise growing with distance squared, flying pixels between surfaces,
no return from dark or far surfaces. A preset is chosen by name (``SENSORS``).

Both degrade metres *after* any rescaling of the scene, so the noise stays in
metres, as a sensor's does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

HIST_CHUNK = 4096  # LR pixels per histogram chunk: bounds memory to HIST_CHUNK x bins floats


class Sensor(Protocol):
    def degrade(
        self, depth: np.ndarray, rgb: np.ndarray, albedo: np.ndarray, scale: int, rng: np.random.Generator
    ) -> np.ndarray:
        """LR depth (h, w) float32 metres, NaN for no return, from HR depth (H, W) metres."""
        ...


def _blocks(image: np.ndarray, scale: int) -> np.ndarray:
    """(H, W) -> (h * w, scale * scale): the HR pixels under each LR pixel, row-major."""
    hh, ww = image.shape[:2]
    if hh % scale or ww % scale:
        raise ValueError(f"depth {image.shape[:2]} is not divisible by the scale {scale}")
    h, w = hh // scale, ww // scale
    return image.reshape(h, scale, w, scale).transpose(0, 2, 1, 3).reshape(h * w, scale * scale)


@dataclass(frozen=True)
class DirectToF:
    """Histogram-peak direct ToF, the published simulator's convention (DVSR ``DToFSimulator``, peak mode)."""

    range_m: float = 20.0  # depth that maps to the last bin
    bins: int = 1024  # bin k holds depth k / (bins - 1) * range_m
    jitter_bins: int = 2  # uniform integer shift in [-jitter_bins, jitter_bins]
    falloff_eps: float = 1e-3  # weight = albedo / (falloff_eps + (d / range_m) ** 2)

    @property
    def step_m(self) -> float:
        return self.range_m / (self.bins - 1)

    def peak_bins(self, depth: np.ndarray, rgb: np.ndarray, scale: int) -> np.ndarray:
        """(h, w) peak bin per block; -1 where nothing under the block returned light."""
        d = _blocks(np.nan_to_num(depth.astype(np.float64), nan=0.0), scale) / self.range_m
        albedo = _blocks(rgb.astype(np.float64).mean(axis=-1) / 255.0, scale)
        weight = np.where(d > 0, albedo / (self.falloff_eps + d**2), 0.0)
        index = np.clip(np.rint(d * (self.bins - 1)), 0, self.bins - 1).astype(np.int64)
        peaks = np.empty(len(d), dtype=np.int64)
        for start in range(0, len(d), HIST_CHUNK):
            stop = min(start + HIST_CHUNK, len(d))
            rows = np.arange(stop - start)[:, None] * self.bins
            hist = np.bincount((rows + index[start:stop]).ravel(), weight[start:stop].ravel(),
                               minlength=(stop - start) * self.bins).reshape(-1, self.bins)  # fmt: skip
            # argmax takes the first maximum: a tie goes to the nearer bin, as the published argmax does
            peaks[start:stop] = np.where(hist.max(axis=1) > 0, hist.argmax(axis=1), -1)
        h, w = depth.shape[0] // scale, depth.shape[1] // scale
        return peaks.reshape(h, w)

    def degrade(
        self, depth: np.ndarray, rgb: np.ndarray, albedo: np.ndarray, scale: int, rng: np.random.Generator
    ) -> np.ndarray:
        """The guide's RGB mean stands in for albedo, as in the published simulator; ``albedo`` is unused."""
        peaks = self.peak_bins(depth, rgb, scale)
        shifted = peaks + rng.integers(-self.jitter_bins, self.jitter_bins + 1, peaks.shape)
        lr = np.clip(shifted, 0, self.bins - 1) * self.step_m
        return np.where((peaks >= 0) & (lr > 0), lr, np.nan).astype(np.float32)


@dataclass(frozen=True)
class IndirectToF:
    """A phase-based ToF camera (metres)."""

    noise_base: float = 0.02  # noise std at 0 m
    noise_quad: float = 0.0008  # grows with distance squared (signal falls as 1/d^2)
    flying_prob: float = 0.3  # chance that a mixed edge pixel lands anywhere between its surfaces
    edge_jump: float = 0.05  # relative depth range inside one LR pixel that makes it an edge
    max_range: float = 20.0  # no return beyond this
    min_signal: float = 0.0005  # albedo / d^2 below this gives no return
    dropout: float = 0.002  # random missing returns
    # Width of the patch one LR pixel integrates, as a fraction of the scale: 1 = the whole
    # scale x scale area (a real ToF pixel); small = nearly a point sample.
    footprint: float = 1.0

    def degrade(
        self, depth: np.ndarray, rgb: np.ndarray, albedo: np.ndarray, scale: int, rng: np.random.Generator
    ) -> np.ndarray:
        """Area mean over the pixel's footprint, flying pixels, distance-squared noise, missing returns."""
        if not 0 < self.footprint <= 1:
            raise ValueError(f"footprint must be in (0, 1], got {self.footprint}")
        k = max(1, round(self.footprint * scale))
        first = (scale - k) // 2
        h, w = depth.shape[0] // scale, depth.shape[1] // scale

        def patches(image: np.ndarray) -> np.ndarray:
            """(h*w, k*k): the central k x k HR pixels each LR pixel sees."""
            return _blocks(image, scale).reshape(h * w, scale, scale)[:, first : first + k, first : first + k]

        blocks = patches(depth).reshape(h, w, -1)
        lr = blocks.mean(axis=-1)
        lo, hi = blocks.min(axis=-1), blocks.max(axis=-1)
        edge = (hi - lo) > self.edge_jump * lr
        flying = edge & (rng.random(lr.shape) < self.flying_prob)
        lr[flying] = lo[flying] + rng.random(int(flying.sum())) * (hi - lo)[flying]
        lr = lr + rng.standard_normal(lr.shape) * (self.noise_base + self.noise_quad * lr**2)
        reflect = patches(albedo).reshape(h, w, -1).mean(axis=-1)
        signal = reflect / np.maximum(lr, 0.1) ** 2
        missing = (lr > self.max_range) | (lr <= 0) | (signal < self.min_signal)
        missing |= rng.random(lr.shape) < self.dropout
        return np.where(missing, np.nan, lr).astype(np.float32)


SENSORS: dict[str, Sensor] = {"dtof": DirectToF(), "itof": IndirectToF()}
DEFAULT_SENSOR = "dtof"


def sensor(name: str) -> Sensor:
    if name not in SENSORS:
        raise ValueError(f"unknown sensor preset {name!r}; known: {sorted(SENSORS)}")
    return SENSORS[name]
