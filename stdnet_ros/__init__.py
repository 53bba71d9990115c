"""STDNet video depth super-resolution for ROS 2.

The core (``model``, ``engine``, ``conversion``, ``pairing``, ``data``) knows
nothing of ROS; ``node`` wires it to topics.
"""

__version__ = "0.1.0"
