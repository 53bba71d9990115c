"""STDNet video depth super-resolution for ROS 2.

The core (``model``, ``streaming``, ``depth``, ``conversion``, ``data``) knows
nothing of ROS; ``node`` wires it to topics, and only ``node/stdnet_node.py``
imports rclpy there.
"""

import os

__version__ = "0.1.0"

# Before anything imports torch, whose OpenMP (libgomp) reads it once, when loaded: a team thread
# that has finished an operation spins 10,000 turns (~1-3 ms here) before it sleeps, not libgomp's
# 300,000 (~5-8 ms). The streaming engine runs OpenVINO's pieces on threads of its own beside torch's
# team, whose spinning thread took a quarter of a core from them; a team kept busy by back-to-back
# operations (eager torch) still finds its threads awake. An OpenMP wait policy or spin count the
# environment gives wins.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")
