"""Replay a bag through the live node over DDS and report accuracy, latency, rate and drops."""

from stdnet_ros.replay.player import ReplayError
from stdnet_ros.replay.session import replay

__all__ = ["ReplayError", "replay"]
