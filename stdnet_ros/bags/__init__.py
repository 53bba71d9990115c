"""rosbag2 files of RGB-D clips: write a ``Clip`` as a bag, read a bag back as ``Frame`` objects.

Pure Python through ``rosbags`` (no rosbag2_py), so bags are made and checked
on machines without a ROS install, and the files play with ``ros2 bag play``.
"""

from stdnet_ros.bags.reader import BagClip, open_bag
from stdnet_ros.bags.schema import BagError
from stdnet_ros.bags.timing import Timing
from stdnet_ros.bags.writer import write_bag

__all__ = ["BagClip", "BagError", "Timing", "open_bag", "write_bag"]
