"""Shared fixtures: an isolated ROS 2 domain per test process, an rclpy context in it, a tiny checkpoint."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from ros_tools import activate

# One thread per test process and per node it starts: the suite's tensors are tiny, and on a
# 2-core machine several processes each spinning two OpenMP threads slow each other tenfold.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def ros_domain_id() -> int:
    """A ROS_DOMAIN_ID of this process's own (inherited by nodes it starts), on loopback only.

    Parallel test runs on one machine would otherwise see each other's topics.
    """
    domain = 1 + os.getpid() % 100
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    return domain


@pytest.fixture(scope="session", autouse=True)
def ros_tools_environment() -> None:
    """Where the ROS 2 tools wheels are installed, what `source .venv/bin/activate` sets (PATH,
    AMENT_PREFIX_PATH), so `ros2 launch`/`ros2 run` work under a bare `.venv/bin/python -m pytest`."""
    activate()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised x4 STDNet small enough for node tests to run in seconds."""
    import torch

    from stdnet_ros.model import STDNet
    from stdnet_ros.model.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = STDNet(scale=4, mid_channels=4, head_channels=8)
    return save_checkpoint(model, tmp_path_factory.mktemp("model") / "tiny_x4.safetensors",
                           max_depth=10.0, name="tiny-test")


@pytest.fixture(scope="module")
def ros_context(ros_domain_id: int) -> Iterator[object]:
    """An initialised rclpy context on this process's domain, shut down after the module."""
    import rclpy

    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=ros_domain_id)
    yield ctx
    rclpy.shutdown(context=ctx)
