"""Two ways to get STDNet's output for frame t of the window [start, end].

``NaiveWindow`` runs the whole network on the window, as offline code would.
``IncrementalWindow`` gives the same numbers while computing only what the new
window changes. Every intermediate value v at frame f depends on the window
only through its *effective window* (max(start, f - left), min(end, f + right)),
where (left, right) is v's temporal reach (architecture doc, "temporal reach"):
a branch term reaches at most two frames, and the boundary rule depends only
on the distance to the edge clipped at two. Keying a memo by (value, frame,
effective window) is therefore exact, and entries whose effective window can
no longer occur are evicted, so memory stays bounded on any stream.

Memo entries are one-frame views of batched outputs. That is right for eager
code (and for Inductor-compiled code, which also returns fresh tensors), but a
function replayed from CUDA graphs writes every replay into the same output
buffers: such a path must clone the views it keeps, and expect one graph per
batch size, which varies (W = 7: TDM batches of 2, 3, 6, 7 or 10 pairs in the
steady state, 1 to 10 while the window fills; encoder and decoder 1 or 5 frames).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import torch

from stdnet_ros.model.blocks import cat_frames
from stdnet_ros.model.propagation import BRANCHES, combine, diff_key, neighbours
from stdnet_ros.model.sdm import Steering
from stdnet_ros.model.stdnet import STDNet, fuse, temporal_difference
from stdnet_ros.model.views import turned_back_mean, views

if TYPE_CHECKING:
    from stdnet_ros.streaming.backends import Backend

# Reach (left, right) accumulated over an hourglass after each branch, and at its decoder.
BRANCH_REACH = ((0, 2), (2, 2), (2, 4), (4, 4))
DECODE_REACH = (4, 4)
HG_OFFSET = {"hg_1": (0, 0), "hg_2": DECODE_REACH}  # hg_2 starts from hg_1's decoded frames


@dataclass
class FrameInputs:
    """Network inputs of one frame, already on the device: (1, C, h, w) / (1, C, H, W)."""

    lr: torch.Tensor  # normalised depth as measured
    lr_up: torch.Tensor  # enlarged to the working size
    guide: torch.Tensor
    base: torch.Tensor


@dataclass
class Prediction:
    """Normalised outputs for one frame: fused depth and both hourglasses' depths."""

    depth: torch.Tensor  # (1, 1, H, W)
    rgb_depth: torch.Tensor
    d_depth: torch.Tensor


class NaiveWindow:
    """Recomputes the full network on the window for every output: the reference and baseline."""

    def __init__(self, model: STDNet) -> None:
        self.model = model
        self.frames: dict[int, FrameInputs] = {}

    def add(self, f: int, inputs: FrameInputs) -> None:
        self.frames[f] = inputs

    def predict(self, t: int, start: int, end: int) -> Prediction:
        ids = range(start, end + 1)
        lr = torch.stack([self.frames[f].lr for f in ids], 1)
        guide = torch.stack([self.frames[f].guide for f in ids], 1)
        depth, extras = self.model(lr, guide)
        k = t - start
        return Prediction(depth[:, k], extras["rgb_depth"][:, k], extras["d_depth"][:, k])

    def evict(self, start: int, end: int) -> None:
        for f in [f for f in self.frames if f < start]:
            del self.frames[f]

    def clear(self) -> None:
        self.frames.clear()


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return a[0] + b[0], a[1] + b[1]


@dataclass
class IncrementalWindow:
    """Exactly NaiveWindow's outputs, reusing every value whose effective window is unchanged.

    The network's pieces are evaluated by ``backend`` (streaming.backends): the bookkeeping here is
    the same whatever computes them."""

    backend: Backend
    frames: dict[int, FrameInputs] = field(default_factory=dict)
    static: dict[tuple, object] = field(default_factory=dict)  # per-frame, window-free values
    memo: dict[tuple, torch.Tensor | tuple] = field(default_factory=dict)  # window-dependent values
    computed: int = 0  # TDM terms evaluated, for tests and benchmarks

    def add(self, f: int, inputs: FrameInputs) -> None:
        self.frames[f] = inputs

    # ---- keys -----------------------------------------------------------------------------------
    def reach(self, hg: str, level: int | str) -> tuple[int, int]:
        """Reach of a level: 'S' (spatial feature), branch index 0..3, or 'dec'."""
        own = {"S": (0, 0), "dec": DECODE_REACH}.get(level) if isinstance(level, str) else BRANCH_REACH[level]
        return _add(HG_OFFSET[hg], own)

    def key(self, hg: str, level: int | str, f: int, start: int, end: int) -> tuple:
        left, right = self.reach(hg, level)
        return hg, level, f, max(start, f - left), min(end, f + right)

    # ---- evaluation ------------------------------------------------------------------------------
    def predict(self, t: int, start: int, end: int) -> Prediction:
        need = self._needed(t, start, end)
        for hg in ("hg_1", "hg_2"):
            self._spatial(hg, sorted(need[hg, "S"]), start, end)
            for b in range(len(BRANCHES)):
                self._branch(hg, b, sorted(need[hg, b]), start, end)
            self._decode(hg, sorted(need[hg, "dec"]), start, end)
        _, d1, c1 = self.memo[self.key("hg_1", "dec", t, start, end)]
        _, d2, c2 = self.memo[self.key("hg_2", "dec", t, start, end)]
        return Prediction(fuse(d1, c1, d2, c2)[0], d1, d2)

    def _needed(self, t: int, start: int, end: int) -> dict[tuple, set[int]]:
        """Frames each level must provide for frame t's output, walking the dependencies back."""
        need: dict[tuple, set[int]] = {("hg_2", "dec"): {t}}
        for hg in ("hg_2", "hg_1"):
            frames = need[hg, "dec"]
            for b in reversed(range(len(BRANCHES))):
                need[hg, b] = set(frames)
                frames = frames | {j for f in frames for j in neighbours(BRANCHES[b], f, start, end)}
            need[hg, "S"] = frames
            if hg == "hg_2":
                need["hg_1", "dec"] = set(frames)
        return need

    def _spatial(self, hg: str, frames: list[int], start: int, end: int) -> None:
        """S, R, A per frame. hg_1's are window-free; hg_2's follow hg_1's decoded frame."""
        todo = [f for f in frames if self.key(hg, "S", f, start, end) not in self.memo]
        if not todo:
            return
        lr_up = cat_frames([self.frames[f].lr_up for f in todo])
        if hg == "hg_1":
            enc = self.backend.encode(hg, lr_up, cat_frames([self.frames[f].guide for f in todo]))
        else:
            steering = Steering.cat([self._steering(f) for f in todo])
            decoded = [self.memo[self.key("hg_1", "dec", f, start, end)] for f in todo]
            guide = cat_frames([torch.cat([d, c], 1) for _, d, c in decoded])
            extra = cat_frames([fused for fused, _, _ in decoded])
            enc = self.backend.encode(hg, lr_up, guide, extra, steering)
        for k, f in enumerate(todo):
            self.memo[self.key(hg, "S", f, start, end)] = tuple(v[k : k + 1] for v in enc)  # S, R, A

    def _steering(self, f: int) -> Steering:
        if ("steer", f) not in self.static:
            self.static["steer", f] = self.backend.steer("hg_2", self.frames[f].lr_up)
        return self.static["steer", f]

    def _value(self, hg: str, level: int | str, f: int, start: int, end: int) -> torch.Tensor:
        """Feature at a level: a branch output, or S itself for level 'S'."""
        value = self.memo[self.key(hg, level, f, start, end)]
        return value[0] if isinstance(value, tuple) else value

    def _term_key(self, hg: str, b: int, f: int, j: int, start: int, end: int) -> tuple:
        """A TDM term depends on the previous level's features at f and j (and nothing window-wide)."""
        prev = "S" if b == 0 else b - 1
        return ("term", hg, b, f, j, self.key(hg, prev, f, start, end), self.key(hg, prev, j, start, end))

    def _branch(self, hg: str, b: int, frames: list[int], start: int, end: int) -> None:
        branch, prev = BRANCHES[b], "S" if b == 0 else b - 1
        todo = [f for f in frames if self.key(hg, b, f, start, end) not in self.memo]
        terms = {
            self._term_key(hg, b, f, j, start, end): (f, j)
            for f in todo
            for j in neighbours(branch, f, start, end)
        }
        pairs = [pair for tkey, pair in terms.items() if tkey not in self.memo]
        if pairs:
            s = {f: self.memo[self.key(hg, "S", f, start, end)] for pair in pairs for f in pair}
            keys = [diff_key(i, j) for i, j in pairs]
            out = self.backend.tdm(
                hg,
                branch,
                cat_frames([self._value(hg, prev, i, start, end) for i, _ in pairs]),
                cat_frames([self._value(hg, prev, j, start, end) for _, j in pairs]),
                cat_frames([temporal_difference(s[k][0], s[k + gap][0]) for k, gap in keys]),
                cat_frames([s[j][1] for _, j in pairs]),
                cat_frames([s[i][2] for i, _ in pairs]),
            )
            self.computed += len(pairs)
            for k, (i, j) in enumerate(pairs):
                self.memo[self._term_key(hg, b, i, j, start, end)] = out[k : k + 1]
        for f in todo:
            parts = [
                self.memo[self._term_key(hg, b, f, j, start, end)] for j in neighbours(branch, f, start, end)
            ]
            self.memo[self.key(hg, b, f, start, end)] = combine(self._value(hg, prev, f, start, end), parts)

    def _decode(self, hg: str, frames: list[int], start: int, end: int) -> None:
        todo = [f for f in frames if self.key(hg, "dec", f, start, end) not in self.memo]
        if not todo:
            return
        levels = ("S", 0, 1, 2, 3)
        feats = [cat_frames([self._value(hg, level, f, start, end) for f in todo]) for level in levels]
        base = cat_frames([self.frames[f].base for f in todo])
        rgb = cat_frames([self.frames[f].guide for f in todo])
        fused, depth, conf = self.backend.decode(hg, feats, base, rgb)
        for k, f in enumerate(todo):
            self.memo[self.key(hg, "dec", f, start, end)] = (
                fused[k : k + 1],
                depth[k : k + 1],
                conf[k : k + 1],
            )

    # ---- bounded memory --------------------------------------------------------------------------
    def evict(self, start: int, end: int) -> None:
        """Drop what no window from (start, end) onwards can ask for again.

        Windows only move forward, so a value whose stored effective window differs
        from the one (start, end) gives it is behind for good.
        """

        def live(key: tuple) -> bool:
            return key == self.key(*key[:3], start, end)

        for key in [k for k in self.memo if not (live(k[5]) and live(k[6]) if k[0] == "term" else live(k))]:
            del self.memo[key]
        for key in [k for k in self.static if k[1] < start]:
            del self.static[key]
        for f in [f for f in self.frames if f < start]:
            del self.frames[f]

    def clear(self) -> None:
        self.frames.clear()
        self.static.clear()
        self.memo.clear()


class ViewEnsemble:
    """One window per self-ensemble view (``model.views``): each frame enters every window turned,
    and the prediction is the views' outputs turned back and averaged; each window keeps its own
    memo, so every view stays exact and incremental.

    Each frame is turned once, into ``memory_format`` (the backend's: a turned tensor is strided).
    The views are independent, so with ``workers`` (threads of one intra-op thread each,
    ``runtime.one_thread_workers``) each window predicts on a thread of its own, inside
    ``context()`` (torch's inference mode and autocast are per thread); the windows must then
    not share state that one call changes (an OpenVINO infer request: ``Backend.concurrent``).
    Without, they run one after the other on the caller's threads."""

    def __init__(self, windows: Sequence[NaiveWindow | IncrementalWindow],
                 memory_format: torch.memory_format = torch.contiguous_format,
                 workers: Executor | None = None,
                 context: Callable[[], AbstractContextManager] = nullcontext) -> None:  # fmt: skip
        self.views = views(len(windows))
        self.windows = list(windows)
        self.memory_format = memory_format
        self.workers, self.context = workers, context

    def add(self, f: int, inputs: FrameInputs) -> None:
        for view, window in zip(self.views, self.windows, strict=True):
            turned = (view.apply(getattr(inputs, k.name)).contiguous(memory_format=self.memory_format)
                      for k in fields(inputs))  # fmt: skip
            window.add(f, FrameInputs(*turned))

    def predict(self, t: int, start: int, end: int) -> Prediction:
        if self.workers is None:
            preds = [window.predict(t, start, end) for window in self.windows]
        else:
            preds = list(self.workers.map(lambda window: self._predict(window, t, start, end), self.windows))
        return Prediction(*turned_back_mean(self.views, [(p.depth, p.rgb_depth, p.d_depth) for p in preds]))

    def _predict(self, window: NaiveWindow | IncrementalWindow, t: int, start: int, end: int) -> Prediction:
        with self.context():
            return window.predict(t, start, end)

    def evict(self, start: int, end: int) -> None:
        for window in self.windows:
            window.evict(start, end)

    def clear(self) -> None:
        for window in self.windows:
            window.clear()
