"""Run stdnet_node: ``ros2 launch stdnet_ros stdnet.launch.py [name:=value ...]``.

Arguments: ``namespace``; ``config`` (params file, default the installed
config/stdnet.yaml); ``checkpoint`` and ``device``, and the boolean
``publish_points`` (``true``/``false``, given to the node as a boolean),
which override the config only when given; and one remapping per topic
(``rgb_topic``, ``rgb_compressed_topic``, ``rgb_info_topic``, ``depth_topic``,
``depth_info_topic``, ``output_topic``, ``output_info_topic``,
``confidence_topic``, ``status_topic``, ``registered_topic``, ``points_topic``),
each defaulting to the node's own name so nothing is remapped unless asked. Example:

    ros2 launch stdnet_ros stdnet.launch.py namespace:=front device:=cuda \\
        rgb_topic:=/camera/color/image_raw depth_topic:=/tof/depth/image_raw publish_points:=true
"""

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = "stdnet_ros"
EXECUTABLE = "stdnet_node"
CONFIG = ("config", "stdnet.yaml")
# launch argument -> the node's own topic name, remapped to the argument's value
REMAPPINGS = {
    "rgb_topic": "rgb/image",
    "rgb_compressed_topic": "rgb/compressed",
    "rgb_info_topic": "rgb/camera_info",
    "depth_topic": "depth/image",
    "depth_info_topic": "depth/camera_info",
    "output_topic": "depth_sr/image",
    "output_info_topic": "depth_sr/camera_info",
    "confidence_topic": "depth_sr/confidence",
    "status_topic": "depth_sr/frame_status",
    "registered_topic": "depth_sr/registered",
    "points_topic": "depth_sr/points",
}
OVERRIDES = ("checkpoint", "device")  # empty = keep the config file's value
SWITCHES = ("publish_points",)  # likewise, and typed bool: the string "true" would not set a bool parameter


def _node(context: LaunchContext) -> list[Node]:
    """The node, with overrides only for the arguments actually given."""
    overrides = {name: value for name in OVERRIDES if (value := LaunchConfiguration(name).perform(context))}
    overrides |= {name: ParameterValue(LaunchConfiguration(name), value_type=bool)
                  for name in SWITCHES if LaunchConfiguration(name).perform(context)}
    return [
        Node(
            package=PACKAGE,
            executable=EXECUTABLE,
            name=EXECUTABLE,
            namespace=LaunchConfiguration("namespace"),
            parameters=[LaunchConfiguration("config"), overrides],
            remappings=[(topic, LaunchConfiguration(arg)) for arg, topic in REMAPPINGS.items()],
            output="screen",
            emulate_tty=True,
        )
    ]


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments, then start the node."""
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="", description="Namespace of the node and topics"),
        DeclareLaunchArgument(
            "config",
            default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), *CONFIG]),
            description="Parameters file (every parameter: config/stdnet.yaml)",
        ),
        DeclareLaunchArgument(
            "checkpoint", default_value="", description="Model file; empty = the config's (default: embedded)"
        ),
        DeclareLaunchArgument(
            "device", default_value="", description="auto, cuda or cpu; empty = the config's (default: auto)"
        ),
        DeclareLaunchArgument(
            "publish_points", default_value="",
            description="true or false: publish depth_sr/points; empty = the config's (default: false)",
        ),
        *[
            DeclareLaunchArgument(arg, default_value=topic, description=f"Topic for the node's {topic}")
            for arg, topic in REMAPPINGS.items()
        ],
        OpaqueFunction(function=_node),
    ])
