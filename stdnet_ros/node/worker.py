"""One background thread fed by a small bounded queue that drops its oldest item when full.

Inference must not run on the ROS executor thread (subscriptions would stall
and DDS buffers overflow), and when it is slower than the sensor the freshest
frames matter most: dropping the oldest waiting pair keeps latency and memory
bounded. Control calls (a model swap after a parameter change) run on the same
thread between items, so nothing swaps the engine under a running inference.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class DropOldestWorker(Generic[T]):
    """Runs ``handle(item)`` for submitted items on its own thread."""

    def __init__(
        self,
        handle: Callable[[T], None],
        capacity: int,
        on_drop: Callable[[T], None],
        on_error: Callable[[BaseException], None],
        name: str = "stdnet-inference",
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self._handle, self._on_drop, self._on_error = handle, on_drop, on_error
        self._items: deque[T] = deque()
        self._capacity = capacity
        self._controls: deque[Callable[[], Any]] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._busy = False
        self._handling = False  # an item (not a control call) is running
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T) -> None:
        """Queue ``item``; if the queue is full the oldest waiting item is dropped (and reported)."""
        dropped = []
        with self._cond:
            self._items.append(item)
            while len(self._items) > self._capacity:
                dropped.append(self._items.popleft())
            self._cond.notify()
        for old in dropped:
            self._on_drop(old)

    def call_soon(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on the worker thread before the next item."""
        with self._cond:
            self._controls.append(fn)
            self._cond.notify()

    def waiting(self) -> int:
        """Items queued and not yet started."""
        with self._cond:
            return len(self._items)

    def in_flight(self) -> int:
        """Items queued or running: submitted, neither handled nor dropped yet."""
        with self._cond:
            return len(self._items) + self._handling

    def idle(self) -> bool:
        """Nothing queued and nothing running."""
        with self._cond:
            return not self._items and not self._controls and not self._busy

    def _run(self) -> None:
        while True:
            with self._cond:
                while not (self._stopping or self._items or self._controls):
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._controls.popleft() if self._controls else None
                item = None if job else self._items.popleft()
                self._busy, self._handling = True, job is None
            try:
                if job:
                    job()
                else:
                    self._handle(item)
            except Exception as err:  # a bad frame or a failed swap must not kill the thread
                self._on_error(err)
            finally:
                with self._cond:
                    self._busy = self._handling = False

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the running item; waiting items are discarded."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)
