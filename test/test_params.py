"""The parameter table, its validation, and config/stdnet.yaml checked against it."""

from __future__ import annotations

from pathlib import Path

import pytest

from stdnet_ros.node.params import BY_NAME, PARAMS, defaults, read_config, validate

CONFIG = Path(__file__).resolve().parents[1] / "config" / "stdnet.yaml"


def test_config_file_sets_every_parameter_at_its_default() -> None:
    assert read_config(CONFIG) == defaults()


def test_table_is_self_consistent() -> None:
    assert len(BY_NAME) == len(PARAMS)
    for p in PARAMS:
        assert validate(p.name, p.default) is None, p.name
        assert p.apply in ("live", "engine", "model", "read_only")
        assert p.description


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("scale", 12, "one of (4, 8, 16)"),
        ("scale", 32, "[0, 16]"),
        ("registration", "yes", "one of"),
        ("depth_to_rgb", [0.1, 0, 0, 0, 0, 0, 2.0], "unit length"),
        ("depth_to_rgb", [0.1, 0, 0, 0, 0, 1.0], "7 numbers"),
        ("depth_to_rgb", "0 0 0 0 0 0 1", "must be list"),
        ("device", "tpu", "one of"),
        ("backend", "tensorrt", "one of ('auto', 'torch', 'openvino')"),
        ("window", "7", "must be int"),
        ("publish_confidence", 1, "must be bool"),
        ("slop", -0.1, "[0.0001"),
        ("lookahead", 32, "[0, 31]"),
        ("views", 3, "one of (1, 2, 4, 8)"),
        ("views", 16, "[0, 8]"),
        ("nope", 1, "unknown parameter"),
    ],
)
def test_bad_values_are_refused_with_a_reason(name: str, value: object, fragment: str) -> None:
    reason = validate(name, value)
    assert reason is not None and fragment in reason


def test_integers_are_accepted_for_float_parameters() -> None:
    assert validate("max_depth", 10) is None
    assert validate("window", 3, {"lookahead": 2}) is None
    assert "smaller" in validate("window", 3, {"lookahead": 3})
    assert "smaller" in validate("lookahead", 7, {"window": 7})
    assert validate("lookahead", 7) is None  # window 0: the checkpoint's, checked when the engine is built
    assert validate("scale", 0) is None  # auto: from the camera_infos
    assert validate("depth_to_rgb", [0.05, 0, 0, 0, 0, 0, 1]) is None
    assert validate("depth_to_rgb", [0.05, 0, 0, 0, 0, 0, 1.0005]) is None  # normalised when used


def test_bad_config_files_name_their_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("/**:\n  ros__parameters:\n    scale: 5\n    colour: red\n")
    with pytest.raises(ValueError, match=r"unknown parameter 'colour'.*scale must be 0 \(auto\) or one of"):
        read_config(bad)
    bad.write_text("just text\n")
    with pytest.raises(ValueError, match="ros__parameters"):
        read_config(bad)
