"""The node's frame pipeline without ROS: parameter values to an engine, RGB fitting, lookahead matching.

Until now these ran only inside the DDS node tests; here they run on a real
tiny STDNet, a real StreamingEngine and plain header objects.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from stdnet_ros.conversion import ImageFormatError
from stdnet_ros.node.camera_pair import CameraPair, fit_rgb
from stdnet_ros.node.params import defaults
from stdnet_ros.node.pipeline import (
    FrameBudget,
    FramePipeline,
    FrameResult,
    PairedInput,
    build_pipeline,
    load_network,
    next_fallback,
)

H, W, SCALE = 4, 5, 4  # depth size; RGB is SCALE x


def _pair(k: int, rgb_shape: tuple[int, int] = (H * SCALE, W * SCALE)) -> PairedInput:
    """Frame ``k`` of a 10 Hz stream starting at 100 s; its header is just what the pipeline reads."""
    ns = 100_000_000_000 + k * 100_000_000
    rng = np.random.default_rng(k)
    depth = (1.0 + rng.random((H, W))).astype(np.float32)
    header = SimpleNamespace(stamp=SimpleNamespace(sec=ns // 10**9, nanosec=ns % 10**9), frame_id="depth")
    return PairedInput(
        rgb=rng.integers(0, 256, (*rgb_shape, 3), dtype=np.uint8), depth=depth, depth_header=header,
        stamp_ns=ns, rgb_frame_id="rgb", depth_encoding="32FC1", camera_info=None, depth_info=None,
        depth_frame_id="depth", received=float(k), paired_at=float(k), skew_s=0.0,
    )


def _push(pipeline: FramePipeline, pair: PairedInput, wait: float = 0.0, **values: object
          ) -> FrameResult | None:
    """One pair through the node's two steps: the camera pair (registered input here), then the engine."""
    camera_pair = CameraPair({**defaults(), "registration": "off", **values})
    return pipeline.process(pair, camera_pair.prepare(pair, pipeline.engine.scale, pair.received), wait)


def _pipeline(checkpoint: Path, **values: object) -> FramePipeline:
    values = {**defaults(), "checkpoint": str(checkpoint), "device": "cpu", "precision": "fp32", **values}
    return build_pipeline(load_network(values), values)


def test_parameter_values_build_the_model_and_engine_they_name(tiny_checkpoint: Path) -> None:
    values = {**defaults(), "checkpoint": str(tiny_checkpoint), "device": "cpu", "precision": "fp32",
              "window": 4, "lookahead": 2}
    model = load_network(values)
    assert (model.meta.name, model.meta.scale) == ("tiny-test", 4)
    assert (model.device, model.precision) == ("cpu", "fp32")
    engine = build_pipeline(model, values).engine
    assert (engine.window, engine.lookahead, engine.max_depth) == (4, 2, model.meta.max_depth)
    assert build_pipeline(model, {**values, "max_depth": 3.0}).engine.max_depth == 3.0
    assert build_pipeline(model, {**values, "window": 0}).engine.window == model.meta.window  # its own
    assert build_pipeline(model, {**values, "views": 0}).engine.views == model.meta.views == 1  # its own
    assert build_pipeline(model, {**values, "views": 2}).engine.views == 2


def test_a_checkpoint_selected_with_views_runs_with_them_unless_a_count_is_set(tmp_path: Path) -> None:
    import torch

    from stdnet_ros.model import STDNet
    from stdnet_ros.model.checkpoint import CheckpointError, load_model, save_checkpoint

    torch.manual_seed(0)
    path = save_checkpoint(STDNet(4, 4, 8), tmp_path / "v2.safetensors", window=2, views=2, max_depth=10.0)
    pipeline = _pipeline(path)
    assert (pipeline.engine.window, pipeline.engine.views) == (2, 2)
    assert _pipeline(path, views=1).engine.views == 1
    bad = save_checkpoint(STDNet(4, 4, 8), tmp_path / "v3.safetensors", views=3)
    with pytest.raises(CheckpointError, match="views 3 is not one of"):
        load_model(bad)


def test_each_output_carries_the_input_it_answers_lookahead_frames_later(tiny_checkpoint: Path) -> None:
    pipeline = _pipeline(tiny_checkpoint, window=4, lookahead=2)
    pairs = [_pair(k) for k in range(8)]
    results = [_push(pipeline, pair, 0.001 * k) for k, pair in enumerate(pairs)]
    assert results[:2] == [None, None]
    for k, result in enumerate(results[2:], start=2):
        assert result.source is pairs[k - 2]
        assert result.queue_wait_s == pytest.approx(0.001 * (k - 2))
        assert (result.window, result.lookahead) == (4, 2)
        assert result.depth.shape == (H * SCALE, W * SCALE) and not result.rgb_resized
    assert [r.window_fill for r in results[2:]] == [3, 4, 4, 4, 4, 4]


def test_inputs_the_engine_dropped_are_not_kept(tiny_checkpoint: Path) -> None:
    """A stamp going back resets the engine (its lookahead frames never come out): the map stays bounded."""
    pipeline = _pipeline(tiny_checkpoint, window=3, lookahead=2)
    unanswered = []
    for _ in range(4):
        for k in range(5):
            result = _push(pipeline, _pair(k))
            assert result is None if k < 2 else result.source.stamp_ns == _pair(k - 2).stamp_ns
            assert len(pipeline._pending) <= pipeline.engine.window + 1
            unanswered.append(pipeline.unanswered())
    assert pipeline.engine.resets == 3
    # Each restart costs the two frames that waited for their lookahead, reported once, when found.
    assert sum(unanswered) == 2 * 3 and unanswered[:5] == [0] * 5


def test_fit_rgb_keeps_resizes_or_refuses() -> None:
    rgb = np.zeros((16, 20, 3), np.uint8)
    assert fit_rgb(rgb, (4, 5), 4, resize=False) == (rgb, False)
    bigger, resized = fit_rgb(np.zeros((32, 40, 3), np.uint8), (4, 5), 4, resize=True)
    assert bigger.shape == (16, 20, 3) and resized
    smaller, resized = fit_rgb(np.zeros((8, 10, 3), np.uint8), (4, 5), 4, resize=True)
    assert smaller.shape == (16, 20, 3) and resized
    with pytest.raises(ImageFormatError, match=r"RGB is 40x32 but must be .* = 20x16") as err:
        fit_rgb(np.zeros((32, 40, 3), np.uint8), (4, 5), 4, resize=False)
    assert err.value.reason == "size_mismatch"
    # another aspect ratio (640x480 beside a 224x172 ToF) is never stretched into the depth's
    with pytest.raises(ImageFormatError, match=r"aspect ratio .*depth/camera_info.*registration") as err:
        fit_rgb(np.zeros((480, 640, 3), np.uint8), (172, 224), 4, resize=True)
    assert err.value.reason == "aspect_mismatch"
    assert fit_rgb(np.zeros((40, 50, 3), np.uint8), (4, 5), 4, resize=True)[1]  # the same aspect: resized


def test_a_resized_rgb_is_reported_with_the_size_the_network_saw(tiny_checkpoint: Path) -> None:
    result = _push(_pipeline(tiny_checkpoint), _pair(0, rgb_shape=(24, 30)))
    assert result.rgb_resized and result.rgb_size == (W * SCALE, H * SCALE)
    with pytest.raises(ImageFormatError):
        _push(_pipeline(tiny_checkpoint), _pair(0, rgb_shape=(24, 30)), resize_rgb=False)


def test_the_frame_budget_trips_only_on_a_run_of_overrunning_frames() -> None:
    budget = FrameBudget(frames=3)
    # 5 Hz pairs: 0.3 s overruns the 0.2 s period, 0.15 s does not; an unknown rate (0) never trips
    assert [budget.over(s, 5.0) for s in (0.3, 0.3, 0.15, 0.3, 0.3)] == [False] * 5
    assert budget.over(0.3, 0.0) is False
    assert [budget.over(0.3, 5.0) for _ in range(3)] == [False, False, True]
    with pytest.raises(ValueError, match="frames"):
        FrameBudget(frames=0)


def test_fallbacks_cut_the_checkpoints_window_then_its_views_never_a_set_value() -> None:
    values = {**defaults(), "lookahead": 0}
    engine = SimpleNamespace(window=2, views=2)
    assert next_fallback(values, engine) == ("window", 1)
    assert next_fallback(values, SimpleNamespace(window=1, views=2)) == ("views", 1)
    assert next_fallback(values, SimpleNamespace(window=1, views=1)) is None
    assert next_fallback({**values, "window": 2}, engine) == ("views", 1)  # a window set by the user stays
    assert next_fallback({**values, "lookahead": 1}, engine) == ("views", 1)  # W = 1 cannot look ahead
    assert next_fallback({**values, "window": 2, "views": 2}, engine) is None


def test_inputs_whose_stamps_one_float_cannot_tell_apart_are_each_accounted(tiny_checkpoint: Path) -> None:
    """Two stamps 1 ns apart (a looping replay repeats its stamps moved by the pass number in ns) are
    one float second: the engine restarts at the second and drops the first, which waited for its
    lookahead. That one must be reported lost, not overwritten unseen by the second."""
    pipeline = _pipeline(tiny_checkpoint, window=3, lookahead=1)
    first, second, third = _pair(0), _pair(0), _pair(1)
    wall_clock = 1_764_892_800 * 10**9  # 2025-12-05: float seconds resolve 238 ns here
    for pair, ns in ((first, wall_clock), (second, wall_clock + 1), (third, wall_clock + 100_000_000)):
        pair.stamp_ns = ns
    assert _push(pipeline, first) is None and _push(pipeline, second) is None
    assert pipeline.engine.resets == 1
    assert _push(pipeline, third).source is second
    assert pipeline.unanswered() == 1 and pipeline.pending() == 1


def test_a_pair_the_engine_fails_on_is_not_counted_again_later(tiny_checkpoint: Path) -> None:
    """The node counts a failed pair as inference_error; the pipeline must not also report it as
    unanswered when the next output comes (one depth frame, two drops)."""
    pipeline = _pipeline(tiny_checkpoint, window=3)
    assert _push(pipeline, _pair(0)).source.stamp_ns == _pair(0).stamp_ns
    bad = _pair(1)
    bad.depth = bad.depth[:, :, None]  # the engine refuses a depth that is not (h, w)
    with pytest.raises(ValueError, match="depth must be"):
        _push(pipeline, bad)
    for k in range(2, 5):
        assert _push(pipeline, _pair(k)).source.stamp_ns == _pair(k).stamp_ns
    assert pipeline.unanswered() == 0 and pipeline.pending() == 0
