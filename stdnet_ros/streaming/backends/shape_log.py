"""The fixed input shapes a compiled backend was asked for, remembered between starts.

A node serves one camera pair, so the shapes its pieces meet (frame size, view orientation,
batch) are the same at every start. Compiling them during the first frames (OpenVINO's
fixed-shape models, ~60 ms each even from its cache, about 30 for the default model at two
views) made the first 2-3 s of a 10 Hz stream 1.3-1.5x slower and dropped a fifth of a 5 s
replay's frames; a backend that reads this log compiles them before its first frame instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path

Shapes = tuple[tuple[int, ...], ...]
Entry = tuple[str, tuple[str, ...], Shapes]  # (compilation role, piece key, input shapes)
LIMIT = 48  # entries kept, most recently asked last: one frame size's set, with room to spare


class ShapeLog:
    """Entries in the order last asked; read at start, rewritten (whole) on each new one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._entries = self._read()

    def _read(self) -> list[Entry]:
        try:
            raw = json.loads(self.path.read_text())
            return [(str(role), tuple(key), tuple(tuple(int(n) for n in s) for s in shapes))
                    for role, key, shapes in raw][-LIMIT:]  # fmt: skip
        except (OSError, ValueError, TypeError):  # none yet, or unreadable: start empty
            return []

    def entries(self) -> list[Entry]:
        with self._lock:
            return list(self._entries)

    def add(self, role: str, key: tuple[str, ...], shapes: Shapes) -> None:
        """Remember an entry as the most recent; the file is replaced atomically (a reader never sees
        half of it), and a cache that cannot be written only costs the next start its head start."""
        entry = (role, tuple(key), tuple(tuple(s) for s in shapes))
        with self._lock:
            self._entries = [*[e for e in self._entries if e != entry][-(LIMIT - 1) :], entry]
            with contextlib.suppress(OSError):
                self.path.parent.mkdir(parents=True, exist_ok=True)
                scratch = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}")
                scratch.write_text(json.dumps(self._entries))
                scratch.replace(self.path)
