"""``python -m stdnet_ros.node``: the node without a ROS install's ``ros2 run``."""

import sys

from stdnet_ros.node.stdnet_node import main

sys.exit(main())
