"""Replay a bag through the live node over DDS (``session``), or score a run recorded with the ROS 2
tools (``recorded``), into a report of accuracy, latency, rate and drops. Only ``player`` and
``session`` need rclpy."""
