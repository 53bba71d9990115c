"""``../shared`` (golden outputs, the DyDToF frames): present in CI, absent on a fresh machine.

Tests that read it carry ``requires_shared``: they skip, with the reason, where the folder is
missing, so ``make test`` passes on a fresh clone and runs everything in CI.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
DYDTOF = SHARED / "data" / "DyDToF"
requires_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is not beside this checkout")
