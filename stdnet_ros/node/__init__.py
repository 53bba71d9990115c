"""``stdnet_node``: the ROS 2 node and its ROS-free parts.

Only ``stdnet_node.py`` imports rclpy; params, pairing, worker, monitor,
stats and pipeline import neither it nor each other's ROS, so tests and the
replay tools use them without a ROS install. This file imports nothing, so
importing one of those parts never pulls rclpy in.
"""
