"""What an RGB-D bag holds: topics, message types, frame ids, and the one error type for bad bags."""

from __future__ import annotations

from rosbags.typesys import Stores, get_typestore

IMAGE = "sensor_msgs/msg/Image"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
TF_MESSAGE = "tf2_msgs/msg/TFMessage"

RGB_TOPIC = "/camera/color/image_raw"
RGB_INFO_TOPIC = "/camera/color/camera_info"
DEPTH_TOPIC = "/tof/depth/image_raw"
DEPTH_INFO_TOPIC = "/tof/depth/camera_info"
GT_TOPIC = "/camera/depth_gt/image"
# a camera pair (a rig bag): the ToF's optical frame in the RGB's, once, as a robot's URDF publishes it.
# Its depth is at the ToF's own size with its own camera_info (lens distortion and all), and its ground
# truth holds only the RGB pixels whose surface the ToF sees (the pixels scored).
TF_STATIC_TOPIC = "/tf_static"

# topic -> message type; the first two are required to read frames.
TOPIC_TYPES = {
    RGB_TOPIC: IMAGE,
    DEPTH_TOPIC: IMAGE,
    RGB_INFO_TOPIC: CAMERA_INFO,
    DEPTH_INFO_TOPIC: CAMERA_INFO,
    GT_TOPIC: IMAGE,
    TF_STATIC_TOPIC: TF_MESSAGE,
}
REQUIRED_TOPICS = (RGB_TOPIC, DEPTH_TOPIC)

RGB_FRAME_ID = "camera_color_optical_frame"
DEPTH_FRAME_ID = "tof_optical_frame"

STORAGE_FORMATS = ("mcap", "sqlite3")
CLIP_METADATA_KEY = "stdnet_ros.clip"  # metadata.yaml custom_data: clip name, scale, max_depth as JSON

# Kilted matches the rclpy this package is tested with; message layouts of these types are unchanged
# since Humble, so bags play on any current distribution.
TYPESTORE = get_typestore(Stores.ROS2_KILTED)


class BagError(Exception):
    """A bag that cannot be written or read as RGB-D frames; the message names the file and the problem."""
