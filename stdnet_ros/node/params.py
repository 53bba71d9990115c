"""The node's parameter table and topic names, ROS-free: one place for name, type, default, range and meaning.

The node declares each entry as a ROS parameter with a descriptor built from
it, the test suite checks ``config/stdnet.yaml`` against it, and
:func:`validate` gives the reason a value is refused both at start-up and on
a run-time change. ``apply`` says what a run-time change costs:

- ``live``: takes effect on the next frame;
- ``engine``: the streaming engine is rebuilt (its window restarts);
- ``model``: the model is reloaded first and the change is refused if that fails;
- ``read_only``: fixed at start-up (subscriptions and timers are built from it).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stdnet_ros.geometry.pointcloud import FIELDS
from stdnet_ros.geometry.pose import pose_problem
from stdnet_ros.model.stdnet import SCALES
from stdnet_ros.model.views import VIEW_COUNTS
from stdnet_ros.streaming.backends import BACKENDS

# Node-relative topic names (a contract: launch remappings, the replay tools and users rely on them).
TOPICS = {
    "rgb": "rgb/image", "rgb_compressed": "rgb/compressed", "rgb_info": "rgb/camera_info",
    "depth": "depth/image", "depth_info": "depth/camera_info", "output": "depth_sr/image",
    "output_info": "depth_sr/camera_info", "confidence": "depth_sr/confidence",
    "status": "depth_sr/frame_status", "registered": "depth_sr/registered", "points": "depth_sr/points",
}


@dataclass(frozen=True)
class Param:
    """One node parameter."""

    name: str
    default: Any  # its Python type is the parameter's type
    description: str
    apply: str = "live"
    low: float | None = None  # numeric range, inclusive
    high: float | None = None
    step: float = 0  # 0 = continuous (ROS descriptor convention)
    choices: tuple[str, ...] = ()


PARAMS: tuple[Param, ...] = (
    Param("checkpoint", "", "Model file (.safetensors/.pth, ours or the authors'); empty = embedded default",
          apply="model"),
    Param("scale", 4, "Upsampling factor: RGB size / the network's depth grid (4, 8 or 16); 0 = chosen "
          "from the first two camera_infos (fx_rgb / fx_depth, nearest on a log scale among the scales the "
          "checkpoint serves)", apply="model", low=0, high=16, step=4),
    Param("max_depth", 0.0, "Depth in metres that the network sees as 1.0; 0 = the checkpoint's",
          apply="engine", low=0.0, high=1000.0),
    Param("window", 0, "Frames the network sees at once; 0 = the checkpoint's (what it was trained for), "
          "cut to 1 (logged) if frames take longer than the pairs' period",
          apply="engine", low=0, high=32, step=1),
    Param("views", 0, "Self-ensemble views per frame (1, 2, 4 or 8; each costs one network evaluation); "
          "0 = the checkpoint's, cut to 1 (logged) if frames outlast the pairs' period at window 1",
          apply="engine", low=0, high=8, step=1),
    Param("lookahead", 0, "Future frames each output waits for (latency in frames); < window",
          apply="engine", low=0, high=31, step=1),
    Param("max_gap_s", 5.0, "A stamp gap longer than this restarts the engine's window", apply="engine",
          low=0.01, high=3600.0),
    Param("device", "auto", "Inference device: auto (cuda if available), cuda or cpu", apply="model",
          choices=("auto", "cuda", "cpu")),
    Param("precision", "auto", "Inference precision: auto (fp16 on CUDA; on a CPU bf16 where native and "
          "measured faster at start, else fp32), fp16, bf16, fp32", apply="model",
          choices=("auto", "fp16", "bf16", "fp32")),
    Param("backend", "auto", "Inference backend: auto (OpenVINO on a CPU where installed, torch on CUDA), "
          "torch or openvino; one that fails to load falls back to torch (logged)", apply="model",
          choices=BACKENDS),
    Param("threads", 0, "Inference threads (torch intra-op, OpenCV and OpenVINO); 0 = every usable core "
          "with OpenVINO, usable cores - 1 (at least 1) with torch", apply="read_only", low=0, high=1024,
          step=1),
    Param("slop", 0.02, "ApproximateTime pairing: max |RGB stamp - depth stamp| in seconds (strict)",
          low=0.0001, high=10.0),
    Param("pair_queue_size", 10, "ApproximateTime pairing: messages kept per input awaiting a partner",
          low=1, high=1000, step=1),
    Param("inference_queue_size", 2, "Pairs waiting for inference; when full the oldest is dropped",
          apply="read_only", low=1, high=100, step=1),
    Param("qos_reliability", "best_effort", "Input QoS reliability (best_effort = sensor data QoS)",
          apply="read_only", choices=("best_effort", "reliable")),
    Param("qos_depth", 5, "Input and output QoS history depth", apply="read_only", low=1, high=1000, step=1),
    Param("use_compressed_rgb", False, "Subscribe to rgb/compressed (jpeg/png) instead of rgb/image",
          apply="read_only"),
    Param("output_encoding", "", "depth_sr/image encoding: empty = the input's, 16UC1 (mm) or 32FC1 (m)",
          choices=("", "16UC1", "32FC1")),
    Param("publish_confidence", True, "Publish depth_sr/confidence (32FC1 in [0, 1])"),
    Param("publish_points", False, "Publish depth_sr/points: the output unprojected with its camera_info "
          "(sensor_msgs/PointCloud2, organised, NaN where invalid)"),
    Param("points_decimation", 1, "depth_sr/points keeps every n-th pixel from (0, 0) in both directions",
          low=1, high=64, step=1),
    Param("points_fields", "xyzrgb", "depth_sr/points fields: xyzrgb (x, y, z and the colour packed "
          "0x00RRGGBB in a float32, as depth_image_proc) or xyz", choices=FIELDS),
    Param("resize_rgb", True, "Registered input: resize an RGB of the depth's aspect ratio to scale x depth "
          "size when it differs; false = refuse such pairs (another aspect ratio is always refused)"),
    Param("registration", "auto", "auto: register the depth into the RGB camera when depth/camera_info "
          "describes another camera than the RGB's at 1/scale; on: always register (wait for both "
          "camera_infos); off: the depth is registered already", apply="engine",
          choices=("auto", "on", "off")),
    Param("depth_to_rgb", [0.0] * 7, "Pose of the depth camera's optical frame in the RGB camera's "
          "[x, y, z, qx, qy, qz, qw] (p_rgb = R p_depth + t, metres); all zeros = look it up with tf2",
          apply="engine"),
    Param("rgb_rectified", False, "rgb/image is rectified (image_rect): its geometry is camera_info P, "
          "no distortion; false = K and D (image_raw)", apply="engine"),
    Param("depth_rectified", False, "depth/image is rectified (image_rect): P, no distortion; "
          "false = K and D", apply="engine"),
    Param("depth_is_range", False, "The depth is radial distance along each pixel's ray, not z (REP 118 "
          "wants z): converted before registration", apply="engine"),
    Param("camera_info_timeout_s", 2.0, "registration auto: wait this long after the first pair for "
          "depth/camera_info, then treat the depth as registered (WARN once)", apply="engine",
          low=0.0, high=3600.0),
    Param("tf_timeout_s", 0.5, "How long one tf2 lookup of the depth-to-RGB transform may wait",
          low=0.0, high=60.0),
    Param("publish_registered", False, "Publish depth_sr/registered: the depth registered into the "
          "network's grid (32FC1, RGB frame), to check a calibration in RViz"),
    Param("input_timeout_s", 3.0, "An input silent this long is reported (diagnostics WARN, log)",
          low=0.1, high=3600.0),
    Param("diagnostics_period_s", 1.0, "Period of /diagnostics messages", apply="read_only",
          low=0.05, high=60.0),
    Param("log_throttle_s", 5.0, "Minimum seconds between repeated log lines of one kind", low=0.0,
          high=3600.0),
)
BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}


def defaults() -> dict[str, Any]:
    """Every parameter at its default."""
    return {p.name: p.default for p in PARAMS}


def validate(name: str, value: Any, others: dict[str, Any] | None = None) -> str | None:
    """Why ``value`` is refused for ``name`` (None if acceptable); ``others`` = the other current values."""
    param = BY_NAME.get(name)
    if param is None:
        return f"unknown parameter {name!r}"
    kind = type(param.default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is list:  # a double array: ROS hands over a list or an array.array of floats
        value = [float(v) for v in value] if isinstance(value, (list, tuple, array)) else value
    if type(value) is not kind:
        return f"{name} must be {kind.__name__}, got {type(value).__name__} {value!r}"
    if param.choices and value not in param.choices:
        return f"{name} must be one of {param.choices}, got {value!r}"
    if param.low is not None and not param.low <= value <= param.high:
        return f"{name} must be in [{param.low}, {param.high}], got {value!r}"
    if name == "scale" and value and value not in SCALES:
        return f"scale must be 0 (auto) or one of {SCALES}, got {value}"
    if name == "depth_to_rgb" and any(value) and (problem := pose_problem(value)):
        return f"depth_to_rgb: {problem}"
    if name == "views" and value and value not in VIEW_COUNTS:
        return f"views must be 0 (the checkpoint's) or one of {VIEW_COUNTS}, got {value}"
    merged = {**defaults(), **(others or {}), name: value}
    if merged["window"] and merged["lookahead"] >= merged["window"]:
        return f"lookahead ({merged['lookahead']}) must be smaller than window ({merged['window']})"
    return None


def read_config(path: str | Path) -> dict[str, Any]:
    """A params file's ``ros__parameters``, checked against the table (ValueError names each problem)."""
    data = yaml.safe_load(Path(path).read_text())
    try:
        (section,) = data.values()
        values = section["ros__parameters"]
    except (AttributeError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: expected one node section holding ros__parameters") from err
    problems = [f"unknown parameter {k!r}" for k in values if k not in BY_NAME]
    problems += [r for k, v in values.items() if k in BY_NAME and (r := validate(k, v, values))]
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return values
