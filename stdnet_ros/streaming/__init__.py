"""Online evaluation of STDNet over a sliding window of frames (no ROS)."""
