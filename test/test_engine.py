"""The streaming engine equals the offline network on each window, and survives real streams."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stdnet_ros.model import STDNet
from stdnet_ros.model.blocks import cat_frames
from stdnet_ros.model.views import View, predict_views, views
from stdnet_ros.streaming.engine import StreamingEngine

MAX_DEPTH = 10.0
H, W = 4, 5  # low-resolution size; RGB is 4x


def small_model(seed: int = 0, scale: int = 4, head_guide: bool = False) -> STDNet:
    """A tiny network whose depth residual is small, so outputs stay positive (valid)."""
    torch.manual_seed(seed)
    model = STDNet(scale=scale, mid_channels=4, head_channels=4, head_guide=head_guide).eval()
    with torch.no_grad():
        for hg in ("hg_1", "hg_2"):
            model.final_pred[hg][6].weight.mul_(0.01)
            model.final_pred[hg][6].bias.zero_()
    return model


def stream(n: int, seed: int = 0, scale: int = 4, h: int = H, w: int = W):
    rng = np.random.default_rng(seed)
    for k in range(n):
        rgb = rng.integers(0, 256, (scale * h, scale * w, 3), dtype=np.uint8)
        depth = rng.uniform(0.5, 9.0, (h, w)).astype(np.float32)
        yield rgb, depth, 0.1 * k


def offline(model: STDNet, frames: list, lo: int, hi: int) -> torch.Tensor:
    """The network on frames lo..hi (inclusive), as offline code would run it: depth in metres."""
    lr = torch.from_numpy(np.stack([d for _, d, _ in frames[lo : hi + 1]]))[None, :, None] / MAX_DEPTH
    guide = (
        torch.from_numpy(np.stack([r for r, _, _ in frames[lo : hi + 1]])).permute(0, 3, 1, 2)[None] / 255.0
    )
    with torch.no_grad():
        return model(lr.clamp(0, 1), guide.float())[0][0, :, 0] * MAX_DEPTH


def rel(a: np.ndarray, b: torch.Tensor) -> float:
    b = b.numpy()
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize(
    ("window", "lookahead", "head_guide"),
    [(3, 0, False), (3, 1, False), (7, 0, False), (7, 1, False), (7, 3, False), (9, 0, False), (9, 1, False),
     (9, 3, False), (3, 1, True)],
)  # fmt: skip
def test_each_output_equals_offline_on_its_window(window: int, lookahead: int, head_guide: bool) -> None:
    model = small_model(head_guide=head_guide)
    engine = StreamingEngine(model, max_depth=MAX_DEPTH, window=window, lookahead=lookahead)
    frames = list(stream(window + 4))
    outputs = []
    for n, (rgb, depth, stamp) in enumerate(frames):
        out = engine.push(rgb, depth, stamp)
        assert (out is None) == (n < lookahead)
        if out is not None:
            outputs.append((n - lookahead, n, out))
    last = len(frames) - 1
    outputs += [
        (t, last, out) for t, out in zip(range(last - lookahead + 1, last + 1), engine.flush(), strict=True)
    ]
    assert [t for t, _, _ in outputs] == list(range(len(frames)))
    for t, end, out in outputs:
        start = max(0, end - window + 1)
        assert out.stamp == frames[t][2]
        assert out.window_fill == end - start + 1  # start-up: every frame seen so far
        assert np.isfinite(out.depth).all()
        assert rel(out.depth, offline(model, frames, start, end)[t - start]) < 1e-5, (t, start, end)


ENSEMBLES = [
    (2, "incremental", "bilinear", False), (2, "naive", "guided", False), (8, "incremental", "guided", False),
    (2, "incremental", "guided", True),
]  # fmt: skip


@pytest.mark.parametrize(("views", "strategy", "base", "head_guide"), ENSEMBLES)
def test_a_self_ensemble_is_the_mean_of_turned_windows(
    views: int, strategy: str, base: str, head_guide: bool
) -> None:
    """Frames of 16 x 20 pixels, so a quarter turn changes the shape the network sees."""
    model = small_model(head_guide=head_guide)
    model.base = base
    engine = StreamingEngine(model, max_depth=MAX_DEPTH, window=3, views=views, strategy=strategy)
    frames = list(stream(5))
    for n, (rgb, depth, stamp) in enumerate(frames):
        out = engine.push(rgb, depth, stamp)
        start = max(0, n - 2)
        lr = torch.from_numpy(np.stack([d for _, d, _ in frames[start : n + 1]]))[None, :, None] / MAX_DEPTH
        guide = torch.from_numpy(np.stack([r for r, _, _ in frames[start : n + 1]])).permute(0, 3, 1, 2)[None]
        with torch.no_grad():
            want = predict_views(model, lr, guide.float() / 255.0, views)
            alone = offline(model, frames, start, n)[-1]
        assert rel(out.depth, want[0, -1, 0] * MAX_DEPTH) < 1e-5, n
        assert rel(out.depth, alone) > 1e-4  # the views do change the output


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_views_side_by_side_equal_views_one_after_the_other(precision: str) -> None:
    """Two threads run the views on two worker threads, each in the engine's precision (autocast
    is per thread); one thread runs them in turn. The outputs must be the same numbers."""
    model, outputs = small_model(), {}
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            engine = StreamingEngine(model, max_depth=MAX_DEPTH, window=3, views=2, precision=precision)
            assert (engine.windowed.workers is None) == (threads == 1)
            outputs[threads] = [engine.push(*frame).depth for frame in stream(5)]
    finally:
        torch.set_num_threads(before)
    for alone, side_by_side in zip(outputs[1], outputs[2], strict=True):
        assert rel(side_by_side, torch.from_numpy(alone)) < 1e-6


@pytest.mark.parametrize("backend", ["torch", "openvino"])
def test_each_view_holds_its_frames_in_the_layout_its_backend_reads(backend: str) -> None:
    """Turned once when a frame enters, into the backend's layout (torch: channels_last; OpenVINO:
    NCHW): a strided turn would be copied again by every piece that reads it."""
    if backend == "openvino":
        pytest.importorskip("openvino")
    engine = StreamingEngine(small_model(), max_depth=MAX_DEPTH, window=2, views=2, backend=backend)
    engine.push(*next(stream(1)))
    fmt = engine.backend.memory_format
    assert fmt == {"torch": torch.channels_last, "openvino": torch.contiguous_format}[backend]
    for window in engine.windowed.windows:
        guide = window.frames[0].guide
        assert guide.is_contiguous(memory_format=fmt), (window, guide.stride())


def test_one_frame_is_batched_without_a_copy() -> None:
    x, y = torch.rand(1, 2, 3, 4), torch.rand(1, 2, 3, 4)
    assert cat_frames([x]) is x
    assert torch.equal(cat_frames([x, y]), torch.cat([x, y]))


def test_a_view_count_outside_the_group_is_refused() -> None:
    with pytest.raises(ValueError, match="views must be one of"):
        StreamingEngine(small_model(), max_depth=MAX_DEPTH, window=3, views=3)


def test_lookahead_must_fit_in_the_window() -> None:
    with pytest.raises(ValueError, match="lookahead"):
        StreamingEngine(small_model(), max_depth=MAX_DEPTH, window=3, lookahead=3)
    with pytest.raises(ValueError, match="window"):
        StreamingEngine(small_model(), max_depth=MAX_DEPTH, window=0)
    with pytest.raises(ValueError, match="precision"):
        StreamingEngine(small_model(), max_depth=MAX_DEPTH, precision="fp8")
    with pytest.raises(ValueError, match="fp16 needs a CUDA"):
        StreamingEngine(small_model(), max_depth=MAX_DEPTH, precision="fp16", device="cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            StreamingEngine(small_model(), max_depth=MAX_DEPTH, device="cuda")


def test_steady_state_computes_half_the_terms_of_naive_recomputation() -> None:
    """At W = 7, L = 0 the naive window evaluates 4 branches x 11 terms x 2 hourglasses = 88 TDM terms.

    Exactness forces 46 of them to be recomputed per frame: both window edges move, and
    every value within reach of an edge changes with it (see streaming/windows.py).
    """
    engine = StreamingEngine(small_model(), max_depth=MAX_DEPTH, window=7)
    counts = []
    for rgb, depth, stamp in stream(14):
        before = engine.windowed.computed
        engine.push(rgb, depth, stamp)
        counts.append(engine.windowed.computed - before)
    assert max(counts[8:]) <= 46
    assert len(set(counts[8:])) == 1  # steady


def test_invalid_pixels_are_filled_then_marked_invalid_again() -> None:
    engine = StreamingEngine(small_model(), max_depth=MAX_DEPTH, window=3)
    frames = list(stream(3, h=8, w=8))
    holes = frames[2][1].copy()
    holes[:4, :4] = np.nan  # a 4x4 hole: its inner 2x2 pixels have no valid neighbour
    holes[6, 6] = 0.0
    holes[7, 7] = -1.0
    engine.push(*frames[0])
    engine.push(*frames[1])
    out = engine.push(frames[2][0], holes, frames[2][2])
    assert np.isnan(out.depth[:12, :12]).all() and (out.confidence[:12, :12] == 0).all()
    assert np.isfinite(out.depth[16:24, :]).all()  # isolated bad pixels keep support from neighbours
    assert np.isfinite(out.depth[24:, 24:]).all()
    empty = np.full((8, 8), np.nan, np.float32)
    assert np.isnan(engine.push(frames[0][0], empty, 1.0).depth).all()
    assert np.isfinite(engine.push(*frames[1][:2], 1.1).depth).all()  # recovers with good data


def test_resets_name_their_reason_and_start_a_fresh_window() -> None:
    model = small_model()
    engine = StreamingEngine(model, max_depth=MAX_DEPTH, window=3, max_gap_s=0.5)
    frames = list(stream(4))
    for frame in frames[:3]:
        assert engine.push(*frame).reset_reason is None
    out = engine.push(frames[3][0], frames[3][1], 0.05)  # earlier than the last stamp
    assert "backwards" in out.reset_reason and out.window_fill == 1
    fresh = StreamingEngine(model, max_depth=MAX_DEPTH, window=3).push(frames[3][0], frames[3][1], 0.05)
    np.testing.assert_array_equal(out.depth, fresh.depth)
    assert "gap" in engine.push(frames[0][0], frames[0][1], 5.0).reset_reason
    big = next(stream(1, h=6, w=6))
    assert "size changed" in engine.push(big[0], big[1], 5.1).reset_reason
    assert engine.resets == 3
    with pytest.raises(ValueError, match="not 4x"):
        engine.push(big[0][:20], big[1], 5.2)


@pytest.mark.timeout(900)  # ~20 ms a push of the tiny network on an AVX2 core: 200-420 s
def test_memory_stays_bounded_over_10000_frames() -> None:
    """Cached values and frames stay at a constant count however long the stream runs."""
    engine = StreamingEngine(small_model(), max_depth=MAX_DEPTH, window=2, lookahead=1)
    rgb, depth, _ = next(stream(1, h=2, w=2))
    sizes = set()
    for n in range(10_000):
        engine.push(rgb, depth, 0.01 * n)
        if n >= 10:
            sizes.add((len(engine.windowed.memo), len(engine.windowed.frames), len(engine.pending)))
    assert len(sizes) == 1, sizes


def test_bfloat16_on_cpu_is_close_to_float32() -> None:
    model = small_model()
    frames = list(stream(3))
    outs = {}
    for precision in ("fp32", "bf16"):
        engine = StreamingEngine(model, max_depth=MAX_DEPTH, window=3, precision=precision)
        outs[precision] = [engine.push(*f) for f in frames][-1].depth
    assert np.nanmax(np.abs(outs["bf16"] - outs["fp32"]) / outs["fp32"]) < 0.05


def _np_view(x: np.ndarray, turns: int, transpose: bool) -> np.ndarray:
    """A view drawn with numpy: transpose the last two axes, then ``turns`` counter-clockwise turns."""
    x = np.swapaxes(x, -1, -2) if transpose else x
    return np.rot90(x, turns, axes=(-2, -1))


def test_views_turn_the_image_as_drawn_and_back() -> None:
    """Checked against arrays turned by hand, not against the engine's own views()/turned_back_mean:
    a wrong quarter turn or a wrong way back must fail here."""
    image = np.array([[1, 2, 3], [4, 5, 6]])
    turned = {  # (turns, transpose) -> the image as drawn
        (1, False): [[3, 6], [2, 5], [1, 4]], (2, False): [[6, 5, 4], [3, 2, 1]],
        (3, False): [[4, 1], [5, 2], [6, 3]], (0, True): [[1, 4], [2, 5], [3, 6]],
        (1, True): [[4, 5, 6], [1, 2, 3]],
    }  # fmt: skip
    x = torch.from_numpy(image)[None, None]
    for (turns, transpose), want in turned.items():
        view = View(turns, transpose)
        assert view.apply(x)[0, 0].tolist() == want, view
        assert torch.equal(view.undo(view.apply(x)), x), view
    assert views(2) == (View(0), View(1))  # identity and a quarter turn, as the model card chose
    assert set(views(8)) == {View(t, tr) for t in range(4) for tr in (False, True)}
    # The ensemble of a model that is not turn-equivariant (it weighs pixels by their column):
    rng = np.random.default_rng(0)
    lr, guide = rng.random((1, 2, 1, 4, 6)), rng.random((1, 2, 3, 16, 24))

    def columns(lr: torch.Tensor, guide: torch.Tensor) -> tuple[torch.Tensor]:
        return (lr * torch.arange(lr.shape[-1]) + guide.mean(2, keepdim=True)[..., ::4, ::4],)

    for count in (2, 4, 8):
        outs = []
        for view in views(count):
            y, g = _np_view(lr, view.turns, view.transpose), _np_view(guide, view.turns, view.transpose)
            out = y * np.arange(y.shape[-1]) + g.mean(2, keepdims=True)[..., ::4, ::4]
            back = np.rot90(out, -view.turns, axes=(-2, -1))
            outs.append(np.swapaxes(back, -1, -2) if view.transpose else back)
        got = predict_views(columns, torch.from_numpy(lr), torch.from_numpy(guide), count)
        np.testing.assert_allclose(got.numpy(), np.mean(outs, axis=0), rtol=1e-12)
