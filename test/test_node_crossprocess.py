"""stdnet_node in its own process, started as users start it, fed and read by this process over DDS.

Every documented way is run: ``ros2 run stdnet_ros stdnet_node`` (where the
ROS 2 tools are installed), the ``stdnet_node`` console script it executes, and
``python -m stdnet_ros.node``, each with ``--ros-args --params-file
config/stdnet.yaml`` plus overrides, and each ended by Ctrl-C (SIGINT to its
process group, so ``ros2 run`` and the node both get it, as in a terminal; twice).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ros_harness import RGB_FRAME, Probe, camera_info_msg, depth_msg, rgb_msg, unique_namespace, wait_for
from ros_tools import needs_ros_tools

from stdnet_ros.conversion import image_to_depth

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "stdnet.yaml"
LAUNCHERS = {
    "console script": [shutil.which("stdnet_node") or str(Path(sys.executable).parent / "stdnet_node")],
    "python -m": [sys.executable, "-m", "stdnet_ros.node"],
    "ros2 run": ["ros2", "run", "stdnet_ros", "stdnet_node"],
}
NEEDS = {"ros2 run": [needs_ros_tools]}


def _start(launcher: list[str], ns: str, *overrides: str) -> subprocess.Popen:
    args = [*launcher, "--ros-args", "--params-file", str(CONFIG), "-r", f"__ns:={ns}"]
    for override in overrides:
        args += ["-p", override]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> tuple[int, str]:
    """Ctrl-C twice in quick succession, as a node under ``ros2 launch`` gets it (the terminal's
    SIGINT, then launch's own): the clean-up must survive the second."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    return proc.returncode, out


@pytest.mark.parametrize("how", [pytest.param(how, marks=NEEDS.get(how, [])) for how in LAUNCHERS])
def test_node_process_serves_over_dds(ros_context, tiny_checkpoint: Path, how: str) -> None:
    ns = unique_namespace("xproc")
    proc = _start(LAUNCHERS[how], ns, f"checkpoint:={tiny_checkpoint}", "window:=3", "output_encoding:=32FC1")
    probe = Probe(ns, context=ros_context)
    try:
        assert probe.connected(timeout=120.0), "node process did not appear on DDS: " + (
            _stop(proc)[1] if proc.poll() is not None else "still running")
        t0 = probe.prime(49.0)
        for k in range(4):
            t = t0 + 0.1 * k
            out = probe.send(t, rgb_msg(k, t + 0.003), depth_msg(k, t), info=camera_info_msg(t))
            assert out is not None, f"no output for frame {k}"
            assert (out.height, out.width, out.encoding) == (32, 40, "32FC1")
            assert out.header.frame_id == RGB_FRAME and out.header.stamp.nanosec == round((t % 1) * 1e9)
            assert np.isfinite(image_to_depth(out)).mean() > 0.5
        # camera_info travels on its own topic: under load it may arrive just after the image
        assert wait_for(lambda: probe.infos and probe.infos[-1].header == probe.outputs[-1].header, 5.0)
        status = probe.fresh_status()
        assert status["model"] == "tiny-test" and int(status["count out"]) >= 4
    finally:
        probe.close()
        code, out = _stop(proc)
    assert code == 0 and "Traceback" not in out, out
    assert re.search(r"ready: model tiny-test x4 on cpu \((fp32|bf16)\)", out), out  # auto: by measurement
    assert "compute threads (torch, OpenCV): " in out, out
    assert re.search(r"precision (fp32|bf16): auto: ", out), out


def test_unusable_checkpoint_exits_with_one_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "not_a_model.safetensors"
    bogus.write_bytes(b"definitely not safetensors")
    proc = _start(LAUNCHERS["console script"], unique_namespace("xfail"), f"checkpoint:={bogus}")
    code, out = _stop_after_exit(proc)
    assert code == 1, out
    assert "cannot start" in out and "not_a_model.safetensors" in out


def _stop_after_exit(proc: subprocess.Popen) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        return _stop(proc)
    return proc.returncode, out
