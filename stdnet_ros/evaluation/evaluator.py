"""Score STDNet (offline and streaming) and the baselines on the same frames, per scale.

Offline runs the network over the clip in consecutive chunks of T frames (or
the whole clip at once, as the published test scripts do), as a batch job
would. Streaming pushes frames one by one through the very
``StreamingEngine`` the node uses, with its window W and lookahead L, so the
figure is what a robot gets live. Both normalise depth by the model's own
``max_depth`` (what it was trained with), fill and re-mark invalid pixels the
engine's way, and are scored with the published centimetre metrics. A camera
pair's clips (a rig folder) are scored on the pixels the ToF sees.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm import tqdm

from stdnet_ros.data.frames import Clip, scored_truth
from stdnet_ros.data.torch_dataset import network_inputs
from stdnet_ros.depth import invalid_output, output_support, valid_mask
from stdnet_ros.evaluation.baselines import BASELINES, upsample
from stdnet_ros.evaluation.metrics import ClipMetrics, ClipScore, mean_scores
from stdnet_ros.model import STDNet
from stdnet_ros.model.views import predict_views
from stdnet_ros.streaming.backends import load_backend
from stdnet_ros.streaming.engine import StreamingEngine

log = logging.getLogger(__name__)


@dataclass
class Row:
    scale: int
    method: str
    mode: str  # "offline", "streaming W=7 L=0", or "-" for single-frame baselines
    rmse_cm: float
    mae_cm: float
    trmse_cm: float
    coverage: float
    frames: int
    ms_per_frame: float

    def as_dict(self) -> dict:
        """JSON-ready: floats rounded, NaN (no temporal figure for a one-frame clip) as None."""

        def clean(v: object) -> object:
            return (None if np.isnan(v) else round(v, 4)) if isinstance(v, float) else v

        return {k: clean(v) for k, v in asdict(self).items()}


def predict_offline(
    model: STDNet, clip: Clip, max_depth: float, chunk: int, device: str | torch.device = "cpu",
    views: int = 1,
) -> list[np.ndarray]:
    """HR depth (metres, NaN where unsupported) per frame, running ``chunk`` frames at a time,
    averaged over ``views`` self-ensemble views (model.views)."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1 frame, got {chunk}")
    outputs = []
    for start in range(0, len(clip), chunk):
        frames = clip.frames[start : start + chunk]
        lr, guide = network_inputs(frames, max_depth)
        with torch.no_grad():
            depth = predict_views(model, lr[None].to(device), guide[None].to(device), views)
        depth = depth[0, :, 0].float().cpu().numpy() * max_depth
        for out, frame in zip(depth, frames, strict=True):
            out[invalid_output(out, output_support(valid_mask(frame.depth_lr), clip.scale))] = np.nan
            outputs.append(out)
    return outputs


def predict_streaming(engine: StreamingEngine, clip: Clip) -> list[np.ndarray]:
    """Push every frame through the engine (then flush); outputs in frame order."""
    outputs = []
    for frame in clip:
        out = engine.push(frame.rgb, frame.depth_lr, frame.stamp)
        if out is not None:
            outputs.append(out.depth)
    outputs.extend(out.depth for out in engine.flush())
    if len(outputs) != len(clip):
        raise RuntimeError(f"{clip.name}: engine gave {len(outputs)} outputs for {len(clip)} frames")
    return outputs


@dataclass
class ModelSpec:
    model: STDNet
    max_depth: float
    name: str
    window: int = 7  # the window the model was trained for (its checkpoint's), used unless one is asked for
    views: int = 1  # its self-ensemble views (its checkpoint's), used unless a count is asked for


class Evaluator:
    """Runs every method over the clips of each scale and returns one table."""

    def __init__(
        self,
        clips: Callable[[int], Iterable[Clip]],
        models: dict[int, ModelSpec],
        *,
        window: int | None = None,  # streaming W; None = each model's own
        views: int | None = None,  # self-ensemble views, offline and streaming; None = each model's own
        lookahead: int = 0,
        chunk: int | None = None,  # offline T; None = the window, 0 = the whole clip
        baselines: Iterable[str] = tuple(BASELINES),
        device: str = "cpu",
        progress: bool = True,
        backend: str = "torch",  # streaming only (streaming.backends); offline is torch's
        precision: str = "fp32",  # streaming only
    ) -> None:
        self.clips = clips
        self.models = models
        self.window, self.lookahead, self.chunk, self.views = window, lookahead, chunk, views
        self.baselines = list(baselines)
        self.device = device
        self.progress = progress
        self.backend, self.precision = backend, precision

    def _methods(self, scale: int) -> list[tuple[str, str, Callable[[Clip], list[np.ndarray]]]]:
        """(method, mode, clip -> per-frame predictions) for one scale."""
        methods = [
            (name, "-", lambda clip, name=name: [upsample(name, f.depth_lr, clip.scale, f.rgb) for f in clip])
            for name in self.baselines
        ]
        spec = self.models.get(scale)
        if spec is not None:
            model = spec.model.to(self.device).eval()
            window = self.window or spec.window
            chunk = window if self.chunk is None else self.chunk
            views = self.views or spec.views
            tag = f" V={views}" if views > 1 else ""
            # Loaded (compiled) once for all clips; named in the mode unless it is torch in fp32.
            backend = load_backend(self.backend, model, torch.device(self.device), self.precision)
            runs = "" if (backend.name, backend.precision) == ("torch", "fp32") else \
                f" {backend.name} {backend.precision}"  # fmt: skip

            def offline(clip: Clip) -> list[np.ndarray]:
                return predict_offline(model, clip, spec.max_depth, chunk or len(clip), self.device, views)

            def streaming(clip: Clip) -> list[np.ndarray]:
                engine = StreamingEngine(model, max_depth=spec.max_depth, window=window, views=views,
                                         lookahead=self.lookahead, device=self.device, backend=backend)
                return predict_streaming(engine, clip)

            methods.append((spec.name, f"offline T={chunk or 'all'}{tag}", offline))
            methods.append((spec.name, f"streaming W={window} L={self.lookahead}{tag}{runs}", streaming))
        return methods  # fmt: skip

    def run(self, scales: Iterable[int]) -> list[Row]:
        rows = []
        for scale in scales:
            clips = list(self.clips(scale))
            if not clips:
                raise ValueError(f"no clips to evaluate at x{scale}")
            if scale not in self.models:
                log.warning("x%d: no model, scoring the baselines only", scale)
            total = sum(len(c) for c in clips)
            for method, mode, predict in self._methods(scale):
                scores: list[ClipScore] = []
                elapsed = 0.0
                label = f"x{scale} {method} {mode if mode != '-' else ''}".strip()
                bar = tqdm(total=total, desc=label, unit="frame", disable=not self.progress, leave=False)
                with bar:
                    for clip in clips:
                        began = time.perf_counter()
                        preds = predict(clip)
                        elapsed += time.perf_counter() - began
                        metrics = ClipMetrics()
                        for pred, frame in zip(preds, clip, strict=True):
                            metrics.add(pred, scored_truth(frame))
                        scores.append(metrics.score())
                        bar.update(len(clip))
                mean = mean_scores(scores)
                rows.append(Row(scale, method, mode, mean.rmse_cm, mean.mae_cm, mean.trmse_cm, mean.coverage,
                                mean.frames, 1000 * elapsed / total))  # fmt: skip
                log.info("%s: RMSE %.2f cm, MAE %.2f cm", label, mean.rmse_cm, mean.mae_cm)
        return rows


def format_table(rows: list[Row]) -> str:
    """A fixed-width table, one line per (scale, method, mode)."""
    head = f"{'scale':>5}  {'method':<16} {'mode':<22} {'RMSE cm':>8} {'MAE cm':>8} {'tRMSE cm':>9} " \
           f"{'cover':>6} {'frames':>6} {'ms/frame':>9}"  # fmt: skip
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{'x' + str(r.scale):>5}  {r.method:<16} {r.mode:<22} {r.rmse_cm:8.2f} {r.mae_cm:8.2f} "
            f"{r.trmse_cm:9.2f} {r.coverage:6.3f} {r.frames:6d} {r.ms_per_frame:9.1f}"
        )
    return "\n".join(lines)
