import sys

from stdnet_ros.cli import main

sys.exit(main())
