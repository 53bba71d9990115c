"""launch/stdnet.launch.py: always parsed; run by the real ``ros2 launch`` where the ROS tools are.

The source is read with ast, so these checks need no launch stubs: declared
arguments, the package/executable it starts (which must be the entry point
setup.py installs), the config it loads (which must exist and be installed),
and remappings covering exactly the node's topics. Where ``make setup``
installed the ROS 2 tools wheels, ``ros2 launch stdnet_ros stdnet.launch.py``
runs as a user types it, fed and read over DDS by this process, changed with
``ros2 param set`` and ended with Ctrl-C.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import threading
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
import yaml
from ros_harness import Probe, camera_info_msg, depth_msg, rgb_msg, unique_namespace, wait_for
from ros_tools import MISSING, PREFIX, interrupt, needs_ros_tools, ros2, start, wheels_dir

from stdnet_ros.conversion import image_to_depth
from stdnet_ros.node.pairing import available_implementations
from stdnet_ros.node.params import BY_NAME, TOPICS

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
        else:  # a comprehension `for arg, topic in REMAPPINGS.items()`: what it declares is seen
            # only in the built launch description (test_launch_description_loads_...)
            comp = next(n for n in ast.walk(TREE) if isinstance(n, ast.ListComp) and n.elt is call)
            assert ast.unparse(comp.generators[0].iter) == "REMAPPINGS.items()"
    return names


def test_declares_namespace_config_checkpoint_device_and_the_switches() -> None:
    assert _declared_arguments() == REQUIRED_ARGS | set(CONSTANTS["SWITCHES"])
    assert set(CONSTANTS["OVERRIDES"]) == {"checkpoint", "device"}
    assert set(CONSTANTS["SWITCHES"]) == {"publish_points"}
    assert all(type(BY_NAME[name].default) is bool for name in CONSTANTS["SWITCHES"])


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


def test_ros_tools_are_installed_where_the_wheels_are() -> None:
    if not wheels_dir().is_dir():
        pytest.skip(f"no ROS 2 tools wheels at {wheels_dir()}: the pip-only set-up is the one under test")
    assert MISSING is None, f"{wheels_dir()} exists, but: {MISSING}; run `make setup`"


@needs_ros_tools
def test_launch_description_loads_and_declares_every_argument() -> None:
    from launch.actions import DeclareLaunchArgument

    spec = importlib.util.spec_from_file_location("stdnet_launch", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    names = {e.name for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    # every remapping and switch has its argument
    assert names == REQUIRED_ARGS | set(CONSTANTS["SWITCHES"]) | set(CONSTANTS["REMAPPINGS"])


def _params_file(path: Path, checkpoint: Path) -> Path:
    """A user's parameters file; its device is overridden by the launch argument ``device:=cpu``."""
    params = {"checkpoint": str(checkpoint), "window": 3, "output_encoding": "32FC1", "device": "cuda"}
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
    return path


def _param(verb: str, node: str, *args: str) -> subprocess.CompletedProcess:
    """``ros2 param VERB``, waiting up to 10 s for the node (a daemon-less CLI discovers it afresh)."""
    return ros2("param", verb, "--no-daemon", "--timeout", "10", node, *args)


@needs_ros_tools
@pytest.mark.ros
def test_ros2_launch_serves_remapped_topics_takes_param_set_and_ends_on_ctrl_c(
    ros_context, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    ns = unique_namespace("launch")
    remap = {  # the node's topic -> a camera driver's name for it
        "rgb/image": f"{ns}_camera/color/image_raw", "rgb/camera_info": f"{ns}_camera/color/camera_info",
        "depth/image": f"{ns}_tof/depth/image_raw", "depth_sr/image": f"{ns}_out/depth/image_hr",
        "depth_sr/camera_info": f"{ns}_out/depth/camera_info",
    }
    arg_of = {topic: arg for arg, topic in CONSTANTS["REMAPPINGS"].items()}
    config = _params_file(tmp_path / "my_params.yaml", tiny_checkpoint)
    log = tmp_path / "launch.log"
    proc = start(["ros2", "launch", "stdnet_ros", "stdnet.launch.py", f"namespace:={ns}", "device:=cpu",
                  f"config:={config}", *[f"{arg_of[topic]}:={name}" for topic, name in remap.items()]], log)
    probe = Probe(ns, context=ros_context, remap=remap)
    node = f"{ns}/stdnet_node"
    try:
        assert probe.connected(timeout=120.0), "no node on the remapped topics: " + log.read_text()
        t = probe.prime(70.0)
        out = probe.send(t, rgb_msg(1, t + 0.004), depth_msg(1, t), info=camera_info_msg(t))
        assert out is not None and (out.height, out.width, out.encoding) == (32, 40, "32FC1")
        assert np.isfinite(image_to_depth(out)).mean() > 0.5
        assert node in ros2("node", "list", "--no-daemon", "--spin-time", "3").stdout.split()

        changed = _param("set", node, "output_encoding", "16UC1")
        assert "Set parameter successful" in changed.stdout, changed.stdout
        t += 0.1
        out = probe.send(t, rgb_msg(2, t), depth_msg(2, t), info=camera_info_msg(t))
        assert out is not None and out.encoding == "16UC1"
        assert wait_for(lambda: probe.infos, 5.0), "no camera_info on the remapped output_info_topic"
        read_only = _param("set", node, "qos_depth", "3")
        assert "Setting parameter failed: Trying to set a read-only parameter: qos_depth" in read_only.stdout
        out_of_range = _param("set", node, "window", "99")
        assert "Setting parameter failed" in out_of_range.stdout and "range" in out_of_range.stdout
        assert _param("get", node, "window").stdout.split()[-1] == "3"
        assert probe.fresh_status()["pairing"] == available_implementations()[0].name
    finally:
        probe.close()
        code, output, seconds = interrupt(proc, log)
    assert code == 0 and seconds < 15.0, f"exit {code} after {seconds:.1f} s:\n{output}"
    ready = r"ready: model tiny-test x4 on cpu \((fp32|bf16)\) with (openvino|torch), window 3"
    assert re.search(ready, output), output
    assert "process has finished cleanly" in output
    assert "is not running" in ros2("daemon", "status").stdout


def _this_launch_file() -> list[str]:
    """``stdnet_ros stdnet.launch.py`` where the installed one is this tree's, else this tree's file by
    path (a checkout beside the one the venv installed, whose launch file it would otherwise run)."""
    installed = PREFIX / "share" / "stdnet_ros" / "launch" / LAUNCH.name
    return ["stdnet_ros", LAUNCH.name] if installed.resolve() == LAUNCH else [str(LAUNCH)]


@needs_ros_tools
@pytest.mark.ros
def test_ros2_launch_publish_points_true_serves_a_cloud_with_fields_x_y_z_rgb(
    ros_context, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    ns = unique_namespace("points")
    points = f"{ns}_out/points"
    log = tmp_path / "launch.log"
    proc = start(["ros2", "launch", *_this_launch_file(), f"namespace:={ns}", "device:=cpu",
                  f"config:={_params_file(tmp_path / 'my_params.yaml', tiny_checkpoint)}",
                  "publish_points:=true", f"points_topic:={points}"], log)
    probe = Probe(ns, context=ros_context)
    done = threading.Event()

    def feed() -> None:  # frames with camera_info until the echo has its message
        t = 80.0
        while not done.is_set():
            probe.send(t, rgb_msg(1, t), depth_msg(1, t), info=camera_info_msg(t), expect_output=False)
            t += 0.1

    feeder = threading.Thread(target=feed, daemon=True)
    try:
        assert probe.connected(timeout=120.0), "the node did not come up: " + log.read_text()
        feeder.start()
        echo = ros2("topic", "echo", "--once", "--no-daemon", "--spin-time", "5", "--timeout", "60", points,
                    "--field", "fields")
        names = re.findall(r"PointField\(name='(\w+)'", echo.stdout)
        assert names == ["x", "y", "z", "rgb"], echo.stdout
        switch = _param("get", f"{ns}/stdnet_node", "publish_points").stdout
        assert switch.strip() == "Boolean value is: True", switch
    finally:
        done.set()
        if feeder.is_alive():
            feeder.join(5.0)
        probe.close()
        code, output, _ = interrupt(proc, log)
    assert code == 0, output
