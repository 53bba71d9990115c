"""Data: the frame type every source yields, dataset readers and the synthetic generator."""

from stdnet_ros.data.frames import Clip, Frame

__all__ = ["Clip", "Frame"]
