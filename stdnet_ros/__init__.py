"""STDNet video depth super-resolution for ROS 2.

The core (``model``, ``streaming``, ``depth``, ``conversion``, ``data``) knows
nothing of ROS; ``node`` wires it to topics, and only ``node/stdnet_node.py``
imports rclpy there.
"""

__version__ = "0.1.0"
