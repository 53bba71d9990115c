"""Start ``stdnet_node`` in its own process with the bag's topics remapped onto its inputs.

The replay measures the node exactly as deployed: its own interpreter, its
own executor and worker threads, talking to the player only over DDS; and, for
a soak run, its resident memory as the kernel counts it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from stdnet_ros.bags.schema import DEPTH_INFO_TOPIC, DEPTH_TOPIC, RGB_INFO_TOPIC, RGB_TOPIC
from stdnet_ros.node.params import TOPICS

NODE_NAMESPACE = "/stdnet_replay"
# node-relative input -> bag topic (what `ros2 launch stdnet_ros ... ` remaps for a real camera)
# (``depth/camera_info`` is the ToF's camera_info input the registering node takes)
REMAPS = {TOPICS["rgb"]: RGB_TOPIC, TOPICS["depth"]: DEPTH_TOPIC, TOPICS["rgb_info"]: RGB_INFO_TOPIC,
          "depth/camera_info": DEPTH_INFO_TOPIC}


def node_command(params_file: Path | None, params: list[str], namespace: str = NODE_NAMESPACE) -> list[str]:
    args = [sys.executable, "-m", "stdnet_ros.node", "--ros-args", "-r", f"__ns:={namespace}"]
    if params_file is not None:
        args += ["--params-file", str(params_file)]
    for name, topic in REMAPS.items():
        args += ["-r", f"{name}:={topic}"]
    for param in params:
        args += ["-p", param]
    return args


class NodeProcess:
    """The node as a child process whose combined output goes to ``log_path``."""

    def __init__(self, command: list[str], log_path: Path) -> None:
        self.command = command
        self.log_path = log_path
        self._log = log_path.open("w")
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)

    def exited(self) -> int | None:
        return self.proc.poll()

    def resident_bytes(self) -> int | None:
        """The process's resident set size (VmRSS), or None once it is gone or off Linux."""
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return None
        line = next((x for x in status.splitlines() if x.startswith("VmRSS:")), None)
        return None if line is None else int(line.split()[1]) * 1024  # reported in kB

    def log_tail(self, lines: int = 15) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> int:
        """SIGINT (a clean rclpy shutdown), SIGKILL if it does not exit in ``timeout`` seconds."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._log.close()
        return code


class MemorySampler:
    """Samples a node's resident memory every ``period_s`` on a thread, into ``samples``."""

    def __init__(self, node: NodeProcess, samples: list[tuple[int, int]], period_s: float = 1.0) -> None:
        self._node = node
        self._samples = samples
        self._period_s = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            if (rss := self._node.resident_bytes()) is not None:
                self._samples.append((time.time_ns(), rss))
            if self._stop.wait(self._period_s):
                return
