"""STDNet video depth super-resolution for ROS 2.

The core (``model``, ``streaming``, ``depth``, ``conversion``, ``data``) knows
nothing of ROS; ``node`` wires it to topics, and only ``node/stdnet_node.py``
imports rclpy there.
"""

import os

__version__ = "0.1.0"

# Before anything imports torch, whose OpenMP reads it once, when loaded: a team thread that has
# finished an operation sleeps instead of spinning ~7 ms for the next one. The streaming engine runs
# OpenVINO's pieces on threads of its own beside torch's team, whose spinning thread took a quarter
# of a core from them. A value already in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
