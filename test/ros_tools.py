"""The real ROS 2 command-line tools (``ros2 launch/run/node/param/topic``, colcon), run as a user runs them.

They come from the ROS 2 tools wheels that ``make setup`` installs where the
folder ``ROS_WHEELS`` (default ``../shared/ros-wheels``) exists; there the venv
is also an ament prefix for stdnet_ros. Without them the tests using this module
skip with :data:`MISSING` as the reason; with the folder present they must not.
Processes are started in their own session and stopped with SIGINT to the whole
group, as Ctrl-C in a terminal does; ``ros2`` commands use ``--no-daemon`` so
no daemon outlives a test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PREFIX = Path(sys.prefix)  # the venv: `make setup` makes it an ament prefix
BIN = Path(sys.executable).parent
INDEX = Path("share", "ament_index", "resource_index", "packages")


def wheels_dir() -> Path:
    """The ROS tools wheels folder as the Makefile sees it (relative to the repository root)."""
    return (ROOT / os.environ.get("ROS_WHEELS", "../shared/ros-wheels")).resolve()


def _missing() -> str | None:
    if (BIN / "ros2").is_file() and (PREFIX / INDEX / "stdnet_ros").is_file():
        return None
    return f"ROS 2 tools wheels not installed in {PREFIX} (none at {wheels_dir()} at `make setup`)"


MISSING = _missing()
needs_ros_tools = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def _prepend(variable: str, path: Path) -> None:
    parts = [p for p in os.environ.get(variable, "").split(os.pathsep) if p]
    if str(path) not in parts:
        os.environ[variable] = os.pathsep.join([str(path), *parts])


def activate() -> None:
    """What ``source .venv/bin/activate`` does: ``ros2`` on PATH and the venv in AMENT_PREFIX_PATH,
    for this process and every tool it starts (ament_index refuses to work without the variable)."""
    if MISSING is None:
        _prepend("PATH", BIN)
        _prepend("AMENT_PREFIX_PATH", PREFIX)


def start(args: list[str], log: Path, cwd: Path = ROOT) -> subprocess.Popen:
    """Start a long-running command in its own process group, its output going to ``log``; its
    temporary files (launch_ros writes one per parameters dict) and ROS logs go beside ``log``."""
    env = {**os.environ, "TMPDIR": str(log.parent), "ROS_LOG_DIR": str(log.parent / "ros_log")}
    with log.open("w") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, text=True, cwd=cwd, env=env,
                                start_new_session=True)


def interrupt(proc: subprocess.Popen, log: Path, timeout: float = 20.0) -> tuple[int | None, str, float]:
    """Ctrl-C: SIGINT to the process group. Returns the exit code (None if it had to be killed),
    the output, and the seconds it took to exit."""
    begin = time.monotonic()
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    try:
        code: int | None = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        code = None
    return code, log.read_text(), time.monotonic() - begin


def ros2(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """One ``ros2`` command, output captured (stdout and stderr together)."""
    return subprocess.run(["ros2", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, cwd=ROOT)
