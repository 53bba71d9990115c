"""The inference worker: drops the oldest waiting item when full, survives errors, runs control first."""

from __future__ import annotations

import threading

import pytest

from stdnet_ros.node.worker import DropOldestWorker


def test_full_queue_drops_the_oldest_and_errors_do_not_stop_the_thread() -> None:
    gate, done = threading.Event(), []
    dropped, errors = [], []

    def handle(item: int) -> None:
        gate.wait(5)
        if item == 3:
            raise RuntimeError("bad frame")
        done.append(item)

    worker = DropOldestWorker(handle, capacity=2, on_drop=dropped.append, on_error=errors.append)
    try:
        worker.submit(0)  # starts and blocks on the gate
        assert _until(lambda: worker.waiting() == 0)
        for item in (1, 2, 3, 4):
            worker.submit(item)
        assert dropped == [1, 2] and worker.waiting() == 2
        order = []
        worker.call_soon(lambda: order.append(list(done)))
        gate.set()
        assert _until(worker.idle)
        assert done == [0, 4] and [str(e) for e in errors] == ["bad frame"]
        assert order == [[0]]  # the control call ran before the waiting items
    finally:
        worker.stop()


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        DropOldestWorker(lambda item: None, 0, on_drop=print, on_error=print)


def _until(predicate, timeout: float = 5.0) -> bool:
    event = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return True
        event.wait(0.01)
    return False
