"""Inference backends: OpenVINO computes what torch computes, failures fall back to torch, bench names them.

Real OpenVINO on the real embedded default model: its converted pieces are cached after the
first run (~/.cache/stdnet_ros/openvino), so only a fresh machine pays the conversion.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from stdnet_ros.bench.engine_bench import Case, random_stream
from stdnet_ros.cli import bench
from stdnet_ros.data.synthetic import generate_clip
from stdnet_ros.evaluation.evaluator import Evaluator, ModelSpec
from stdnet_ros.model import STDNet
from stdnet_ros.model.checkpoint import load_model
from stdnet_ros.streaming.backends import load_backend
from stdnet_ros.streaming.backends.shape_log import LIMIT, ShapeLog
from stdnet_ros.streaming.engine import StreamingEngine

NOT_INSTALLED = "openvino is not installed (pip install -r requirements.txt)"
pytestmark = pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason=NOT_INSTALLED)
MAX_DEPTH = 20.0


def test_openvino_f32_equals_torch_fp32_end_to_end() -> None:
    """Through the streaming engine at the model's own window and views (a quarter-turned view
    included), across a size change: the pieces' dynamic shapes must hold for every size."""
    model, meta = load_model(None, scale=4)
    engines = {name: StreamingEngine(model, max_depth=MAX_DEPTH, window=meta.window, views=meta.views,
                                     precision="fp32", backend=name)
               for name in ("openvino", "torch")}  # fmt: skip
    assert engines["openvino"].backend.name == "openvino" and engines["openvino"].precision == "fp32"
    assert engines["torch"].backend.name == "torch" and meta.views > 1
    stream = random_stream(Case(64, 48), 4, seed=5) + [
        (rgb, depth, 1.0 + stamp) for rgb, depth, stamp in random_stream(Case(48, 80), 3, seed=6)
    ]
    for rgb, depth, stamp in stream:
        got, want = (engines[name].push(rgb, depth, stamp) for name in ("openvino", "torch"))
        ok = np.isfinite(want.depth)
        assert np.array_equal(ok, np.isfinite(got.depth)) and ok.any()
        rel = np.linalg.norm(got.depth[ok] - want.depth[ok]) / np.linalg.norm(want.depth[ok])
        assert rel < 1e-5, (got.depth.shape, rel)
        assert np.abs(got.confidence - want.confidence).max() < 1e-3


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_openvino_views_side_by_side_equal_views_one_after_the_other(precision: str) -> None:
    """At two threads each view runs on its own thread with its own infer requests (of pieces
    compiled to run on the calling thread alone); at one thread the views run in turn. Same
    numbers, across a size change, once the fixed-shape models compiled in the background are
    ready (the stream's second pass)."""
    model, meta = load_model(None, scale=4)
    stream = random_stream(Case(64, 48), 4, seed=5) + [
        (rgb, depth, 1.0 + stamp) for rgb, depth, stamp in random_stream(Case(48, 80), 3, seed=6)
    ]
    outputs, before = {}, torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            engine = StreamingEngine(model, max_depth=MAX_DEPTH, window=meta.window, views=meta.views,
                                     precision=precision, backend="openvino")  # fmt: skip
            assert engine.backend.name == "openvino" and engine.backend.threads == threads
            assert (engine.windowed.workers is None) == (threads == 1)
            if threads == 2:
                lane = engine.windowed.windows[0].backend.pieces["decode", "hg_1"].compiled.dynamic
                assert lane.get_property("INFERENCE_NUM_THREADS") == 1
                assert not lane.get_property("ENABLE_CPU_PINNING")
            for rgb, depth, stamp in stream:
                engine.push(rgb, depth, stamp)
            engine.backend.settle()
            outputs[threads] = [engine.push(rgb, depth, 10 + stamp).depth for rgb, depth, stamp in stream]
    finally:
        torch.set_num_threads(before)
    for alone, side_by_side in zip(outputs[1], outputs[2], strict=True):
        ok = np.isfinite(alone)
        assert np.array_equal(ok, np.isfinite(side_by_side)) and ok.any()
        assert np.linalg.norm(side_by_side[ok] - alone[ok]) / np.linalg.norm(alone[ok]) < 1e-6


def forget_shapes(model: STDNet) -> None:
    """No fixed shapes remembered from earlier runs: the next backend meets every shape afresh."""
    from stdnet_ros.streaming.backends.openvino_backend import fingerprint, shape_log_path

    shape_log_path(fingerprint(model)).unlink(missing_ok=True)


def test_fixed_shape_models_compiled_in_the_background_take_over_with_the_same_numbers() -> None:
    model, _ = load_model(None, scale=4)
    forget_shapes(model)
    engines = {name: StreamingEngine(model, max_depth=MAX_DEPTH, window=2, precision="fp32", backend=name)
               for name in ("openvino", "torch")}  # fmt: skip
    pieces = engines["openvino"].backend.pieces
    stream = random_stream(Case(64, 48), 3, seed=7)
    assert not engines["openvino"].backend.warming()  # nothing started yet
    for n, (rgb, depth, stamp) in enumerate(stream):  # the first pass meets the shapes: dynamic models
        engines["openvino"].push(rgb, depth, stamp)
        if n == 0:  # the frame's last piece asked for its compilation as the frame ended, behind others
            assert engines["openvino"].backend.warming()
    engines["openvino"].backend.settle()
    assert not engines["openvino"].backend.warming() and not engines["torch"].backend.warming()
    compiler = next(t for t in threading.enumerate() if t.name.startswith("stdnet-openvino-compile"))
    assert os.getpriority(os.PRIO_PROCESS, compiler.native_id) == 19  # it yields to the frames
    assert all(piece.compiled.fixed and all(f.result() for f in piece.compiled.fixed.values())
               for piece in pieces.values())  # fmt: skip
    for rgb, depth, stamp in stream:
        got, want = (engines[name].push(rgb, depth, 10 + stamp).depth for name in ("openvino", "torch"))
        ok = np.isfinite(want)
        assert np.linalg.norm(got[ok] - want[ok]) / np.linalg.norm(want[ok]) < 1e-5
    assert all(piece.fixed for piece in pieces.values())  # every piece ran its fixed-shape model


def test_the_next_start_compiles_the_shapes_earlier_runs_used_before_its_first_frame() -> None:
    """The first engine meets 64 x 48 frames (dynamic models, fixed ones compiled behind them); an
    engine loaded afresh (as a node's next start) has those fixed models ready before any frame."""
    model, meta = load_model(None, scale=4)
    forget_shapes(model)
    stream = random_stream(Case(64, 48), 3, seed=8)
    first = StreamingEngine(model, max_depth=MAX_DEPTH, window=meta.window, views=meta.views,
                            precision="fp32", backend="openvino")  # fmt: skip
    assert not any("earlier runs" in line for line in first.startup)
    for rgb, depth, stamp in stream:
        first.push(rgb, depth, stamp)
    first.backend.settle()
    asked = {(c.role, c.key, shapes) for c in first.backend._compiled() for shapes in c.fixed}
    second = StreamingEngine(model, max_depth=MAX_DEPTH, window=meta.window, views=meta.views,
                             precision="fp32", backend="openvino")  # fmt: skip
    assert second.backend is not first.backend
    second.backend.settle()  # started with the engine, in the background (a node waits before subscribing)
    ready = {(c.role, c.key, shapes) for c in second.backend._compiled() for shapes, f in c.fixed.items()
             if f.done() and f.result() is not None}  # fmt: skip
    assert asked and ready == asked  # every shape the first met, and nothing else
    started = f"the {len(asked)} fixed-shape models that earlier runs used"
    assert any(started in line for line in second.startup)
    got = [second.push(rgb, depth, stamp).depth for rgb, depth, stamp in stream]
    assert not second.backend.warming()  # no frame asked for a new compilation
    want = [first.push(rgb, depth, 10 + stamp).depth for rgb, depth, stamp in stream]
    for a, b in zip(got, want, strict=True):
        ok = np.isfinite(b)
        assert np.linalg.norm(a[ok] - b[ok]) / np.linalg.norm(b[ok]) < 1e-6


def test_the_shape_log_keeps_the_latest_entries_and_survives_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "shapes" / "model.json"
    log = ShapeLog(path)
    assert log.entries() == []
    for n in range(LIMIT + 5):
        log.add("role", ("tdm", "hg_1", "forward_1"), ((1, 8, n, 4),))
    log.add("role", ("tdm", "hg_1", "forward_1"), ((1, 8, 10, 4),))  # asked again: the most recent
    entries = ShapeLog(path).entries()  # as the next start reads them
    assert len(entries) == LIMIT and entries[-1][2] == ((1, 8, 10, 4),)
    assert entries[0][2] == ((1, 8, 5, 4),)  # the oldest five went; the re-asked one moved last
    path.write_text("{not json")
    assert ShapeLog(path).entries() == []  # an unreadable log costs the head start, not the start


def test_a_backend_that_fails_to_compile_falls_back_to_torch() -> None:
    model, _ = load_model(None, scale=4)
    lines: list[str] = []
    backend = load_backend("openvino", model, torch.device("cpu"), "fp32",
                           properties={"NOT_A_CPU_PROPERTY": 1}, progress=lines.append)  # fmt: skip
    assert backend.name == "torch" and backend.precision == "fp32"
    assert backend.notes[0].startswith("openvino failed (") and "torch runs instead" in backend.notes[0]
    assert backend.notes[-1].startswith("backend torch (openvino), ")
    assert any("converted" in line for line in lines)  # it got as far as compiling


def test_auto_picks_openvino_on_a_cpu_and_torch_runs_the_naive_reference() -> None:
    model, _ = load_model(None, scale=4)
    engine = StreamingEngine(model, max_depth=MAX_DEPTH, window=2, precision="fp32", backend="auto")
    assert engine.backend.name == "openvino"
    assert engine.backend.notes[-1].startswith("backend openvino (auto), ")
    with pytest.raises(ValueError, match="torch reference"):
        StreamingEngine(model, max_depth=MAX_DEPTH, window=2, strategy="naive", backend=engine.backend)


def test_bench_times_each_backend_and_names_it_per_row(capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser()
    bench.register(parser.add_subparsers())
    args = parser.parse_args([
        "bench", "--sizes", "32x24", "--backends", "torch", "openvino", "--precisions", "fp32",
        "--strategies", "naive", "incremental", "--threads", "1", "--timed", "2", "--json",
    ])  # fmt: skip
    assert args.func(args) == 0
    out = capsys.readouterr().out.splitlines()
    summary = json.loads(out[-1])
    assert [(r["strategy"], r["backend"], r["threads"]) for r in summary["rows"]] == [
        ("naive", "torch", 1), ("incremental", "torch", 1), ("incremental", "openvino", 1),
    ]  # fmt: skip
    rows = out[next(n for n, line in enumerate(out) if line.split()[:1] == ["size"]) + 1 :]
    assert summary["openvino"] and " openvino " in rows[2]  # the table's backend column, third row


def test_eval_names_the_backend_of_its_streaming_rows() -> None:
    model, meta = load_model(None, scale=4)
    spec = ModelSpec(model, meta.max_depth, "default", window=2, views=1)
    clip = generate_clip(0, frames=3, height=48, width=64, scale=4)
    evaluator = Evaluator(lambda scale: [clip], {4: spec}, baselines=[], progress=False, backend="openvino")
    rows = evaluator.run([4])
    assert [r.mode for r in rows] == ["offline T=2", "streaming W=2 L=0 openvino fp32"]
