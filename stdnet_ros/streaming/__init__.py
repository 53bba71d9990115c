"""The streaming engine and its two window strategies: STDNet one frame at a time, no ROS."""
