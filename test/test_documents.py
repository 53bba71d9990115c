"""The documents agree with the embedded files and with each other: the model card's table of current
figures is the one source, which the README and docs/evaluation.md repeat."""

from __future__ import annotations

import pathlib
import re

from stdnet_ros.model.checkpoint import default_checkpoint, read_checkpoint
from stdnet_ros.model.stdnet import SCALES

ROOT = pathlib.Path(__file__).parents[1]
CARD = ROOT / "stdnet_ros" / "weights" / "MODEL_CARD.md"
FIGURES = ("file", "DyDToF RMSE offline", "DyDToF RMSE streaming", "guided filter RMSE")  # what copies repeat
COPIES = {  # document: the heading of its copy of the table
    ROOT / "README.md": "## The embedded default models",
    ROOT / "docs" / "evaluation.md": "## The files shipped now",
}
WORK_PERIODS = re.compile(  # how the work was organised, not what the product is
    r"\b(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|this|that|last|next|previous|"
    r"another|each|a later) (work )?session\b|\bsession (time|ended|ends)\b|\bwork period"
    r"|\b(hours?|time) left\b",
    re.IGNORECASE,
)


def table_under(path: pathlib.Path, heading: str) -> list[dict[str, str]]:
    """The first markdown table after ``heading`` (a whole line), rows keyed by column, without ** and `."""
    lines = path.read_text().splitlines()
    assert heading in lines, f"{path.name}: no heading {heading!r}"
    rows = []
    for line in lines[lines.index(heading) + 1 :]:
        if line.startswith("|"):
            cells = line.strip().strip("|").split("|")
            rows.append([c.strip().replace("**", "").replace("`", "") for c in cells])
        elif rows:
            break
    return [dict(zip(rows[0], row, strict=True)) for row in rows[2:]]


def by_scale(rows: list[dict[str, str]]) -> dict[int, dict[str, str]]:
    return {int(row["scale"].lstrip("x")): row for row in rows}


def test_the_card_names_the_file_each_scale_loads_with_what_its_metadata_says() -> None:
    rows = by_scale(table_under(CARD, "## Which file serves which scale"))
    assert sorted(rows) == sorted(SCALES)
    for scale, row in rows.items():
        path = default_checkpoint(scale)
        assert row["file"] == path.name, f"x{scale}"
        state, meta = read_checkpoint(path)
        assert row["window, views"] == f"{meta['window']}, {meta['views']}", f"x{scale}"
        assert row["head guide"] == ("yes" if meta.get("head_guide") else "no"), f"x{scale}"
        assert int(row["parameters"].replace(",", "")) == sum(t.numel() for t in state.values()), f"x{scale}"
        assert row["trained for"] == ", ".join(f"x{s}" for s in meta["extra"]["scales"]), f"x{scale}"


def test_the_current_figures_are_one_table_that_the_readme_and_the_evaluation_repeat() -> None:
    card = by_scale(table_under(CARD, "## Current figures"))
    assert sorted(card) == sorted(SCALES)
    for scale, row in card.items():
        assert row["file"] == default_checkpoint(scale).name
        model = [float(row[k]) for k in ("DyDToF RMSE offline", "DyDToF RMSE streaming")]
        guided = float(row["guided filter RMSE"])
        relative = " / ".join(f"{100 * (m / guided - 1):.1f} %" for m in model)
        assert row["vs guided filter"] == relative, f"x{scale}"
    for path, heading in COPIES.items():
        copy = by_scale(table_under(path, heading))
        assert sorted(copy) == sorted(card), path.name
        for scale, row in copy.items():
            figures = {k: row[k] for k in FIGURES}
            assert figures == {k: card[scale][k] for k in FIGURES}, f"{path.name} x{scale}"


def test_no_document_or_comment_dates_anything_by_work_periods() -> None:
    documents = [ROOT / "README.md", CARD, *sorted((ROOT / "docs").glob("*.md"))]
    folders = ("stdnet_ros", "test", "scripts", "launch")
    code = [p for folder in folders for p in sorted((ROOT / folder).rglob("*.py"))]
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in documents + [p for p in code if p != pathlib.Path(__file__).resolve()]
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if WORK_PERIODS.search(line)
    ]
    assert not found, "\n".join(found)
