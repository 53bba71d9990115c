"""scripts/plot_candidates.py reads the accuracy-against-speed table of docs/evaluation.md."""

from __future__ import annotations

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("plot_candidates", ROOT / "scripts" / "plot_candidates.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_table_is_read_as_written_and_drawn(tmp_path: pathlib.Path) -> None:
    script = load_script()
    assert script.first_number("11.0 (11.4 bf16); 6.6 / 6.9 one thread") == 11.0
    assert script.first_number("> 60") == 60.0 and script.first_number("-") is None
    assert script.first_number("**19.56** (offline **19.40**)") == 19.56
    rows = script.read_table((ROOT / "docs" / "evaluation.md").read_text())
    guided = rows[0]
    assert guided["candidate"].startswith("guided filter")
    assert 0 < guided["x4"] < guided["x8"]
    assert any("shipped default" in r["candidate"] for r in rows)
    out = script.plot(rows, tmp_path / "plot.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
