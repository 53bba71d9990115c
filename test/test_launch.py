"""launch/stdnet.launch.py: parsed here (no `launch` on PyPI), loaded and run where launch is installed.

The source is read with ast, so the test needs no launch stubs: declared
arguments, the package/executable it starts (which must be the entry point
setup.py installs), the config it loads (which must exist and be installed),
and remappings covering exactly the node's topics.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from stdnet_ros.node.params import TOPICS

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = ROOT / "launch" / "stdnet.launch.py"
TREE = ast.parse(LAUNCH.read_text())
CONSTANTS = {
    node.targets[0].id: ast.literal_eval(node.value)
    for node in TREE.body
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
}
REQUIRED_ARGS = {"namespace", "config", "checkpoint", "device"}


def _calls(name: str) -> list[ast.Call]:
    return [n for n in ast.walk(TREE) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == name]


def _declared_arguments() -> set[str]:
    names = set()
    for call in _calls("DeclareLaunchArgument"):
        first = call.args[0]
        if isinstance(first, ast.Constant):
            names.add(first.value)
        else:  # a comprehension `for arg, topic in REMAPPINGS.items()`
            comp = next(n for n in ast.walk(TREE) if isinstance(n, ast.ListComp) and n.elt is call)
            assert ast.unparse(comp.generators[0].iter) == "REMAPPINGS.items()"
            names |= set(CONSTANTS["REMAPPINGS"])
    return names


def test_declares_namespace_config_checkpoint_device_and_every_remapping() -> None:
    declared = _declared_arguments()
    assert declared >= REQUIRED_ARGS
    assert set(CONSTANTS["REMAPPINGS"]) <= declared
    assert set(CONSTANTS["OVERRIDES"]) == {"checkpoint", "device"}


def test_remappings_cover_exactly_the_node_topics() -> None:
    assert sorted(CONSTANTS["REMAPPINGS"].values()) == sorted(TOPICS.values())


def test_starts_the_installed_entry_point_with_the_shipped_config() -> None:
    (node,) = _calls("Node")
    kwargs = {k.arg: ast.unparse(k.value) for k in node.keywords}
    assert kwargs["package"] == "PACKAGE" and CONSTANTS["PACKAGE"] == "stdnet_ros"
    assert kwargs["executable"] == "EXECUTABLE" and kwargs["name"] == "EXECUTABLE"
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts[CONSTANTS["EXECUTABLE"]] == "stdnet_ros.node.stdnet_node:main"
    assert "LaunchConfiguration('config')" in kwargs["parameters"]
    assert (ROOT.joinpath(*CONSTANTS["CONFIG"])).is_file()
    setup = (ROOT / "setup.py").read_text()
    assert 'glob("config/*.yaml")' in setup and 'glob("launch/*.py")' in setup


LAUNCH_MISSING = importlib.util.find_spec("launch") is None or importlib.util.find_spec("launch_ros") is None


@pytest.mark.skipif(LAUNCH_MISSING, reason="launch/launch_ros are not installed (PyPI-only ROS)")
def test_launch_description_loads_and_matches_the_source() -> None:
    from launch.actions import DeclareLaunchArgument

    spec = importlib.util.spec_from_file_location("stdnet_launch", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    names = {e.name for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    assert names == _declared_arguments()


RUN_LAUNCH = """
import sys
from launch import LaunchDescription, LaunchService
from launch.actions import IncludeLaunchDescription, Shutdown, TimerAction
from launch.launch_description_sources import PythonLaunchDescriptionSource

launch_file, checkpoint, config = sys.argv[1:]
service = LaunchService()
service.include_launch_description(LaunchDescription([
    IncludeLaunchDescription(
        PythonLaunchDescriptionSource(launch_file),
        launch_arguments={"checkpoint": checkpoint, "device": "cpu", "config": config}.items(),
    ),
    TimerAction(period=8.0, actions=[Shutdown(reason="test over")]),
]))
sys.exit(service.run())
"""


@pytest.mark.skipif(LAUNCH_MISSING, reason="launch/launch_ros are not installed (PyPI-only ROS)")
def test_launch_runs_the_node(tiny_checkpoint: Path, tmp_path: Path) -> None:
    pytest.importorskip("ament_index_python").get_package_share_directory("stdnet_ros")  # colcon-installed
    script = tmp_path / "run_launch.py"
    script.write_text(RUN_LAUNCH)
    config = ROOT / "config" / "stdnet.yaml"
    proc = subprocess.run(
        [sys.executable, str(script), str(LAUNCH), str(tiny_checkpoint), str(config)],
        capture_output=True, text=True, timeout=60, env=os.environ.copy(),
    )
    assert "ready: model" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
