"""sensor_msgs Image / CompressedImage / CameraInfo <-> numpy, and header stamps, without ROS or cv_bridge.

Duck-typed on the message fields (``height``, ``width``, ``encoding``,
``is_bigendian``, ``step``, ``data``; ``format`` and ``data`` for compressed)
so the same code runs in the node, in bag tools and in tests without a ROS
install. cv_bridge would add a C++ dependency for what is a few lines of numpy
and would not validate the way the node needs: every malformed message must
raise one clear :class:`ImageFormatError` naming the problem, never produce a
silently wrong array.

Depth follows REP 117/118: ``16UC1`` is millimetres with 0 = no return,
``32FC1`` is metres with NaN/inf/non-positive = no return. Inside the package
depth is always float32 metres with NaN = invalid (see ``depth.py``).

When the node resizes the RGB to ``scale`` x the depth size, its output no
longer matches the RGB camera_info; publishing the original would give every
downstream projection a wrong focal length and principal point, so
:func:`camera_info_for` rescales it.
"""

from __future__ import annotations

import copy
from typing import Any

import cv2
import numpy as np

from stdnet_ros.depth import valid_mask
from stdnet_ros.geometry.camera import centre_scaled

# encoding -> (numpy dtype, channels)
_LAYOUT: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
RGB_ENCODINGS: tuple[str, ...] = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
DEPTH_ENCODINGS: tuple[str, ...] = ("16UC1", "32FC1")
_MM_PER_M = 1000.0
_MAX_16UC1_M = np.iinfo(np.uint16).max / _MM_PER_M


class ImageFormatError(ValueError):
    """A message that cannot be turned into an image; ``reason`` is a short counter key."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def header_ns(msg: Any) -> int:
    """A message's header stamp in integer nanoseconds (float seconds cannot hold wall-clock stamps)."""
    stamp = msg.header.stamp
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _pixels(msg: Any, allowed: tuple[str, ...]) -> np.ndarray:
    """Validated (H, W, C) view of ``msg.data`` in native byte order."""
    encoding = str(msg.encoding)
    if encoding not in allowed:
        raise ImageFormatError(
            "unknown_encoding", f"encoding {encoding!r} is not supported here; expected one of {allowed}"
        )
    dtype, channels = _LAYOUT[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageFormatError("empty_image", f"image is {width}x{height}; both sides must be positive")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageFormatError(
            "step_mismatch",
            f"step {step} is shorter than width {width} x {channels} channel(s) x {dtype.itemsize} "
            f"byte(s) = {row_bytes} for {encoding}",
        )
    if step % dtype.itemsize:
        raise ImageFormatError(
            "step_mismatch", f"step {step} is not a multiple of {dtype.itemsize} ({encoding})"
        )
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size != step * height:
        raise ImageFormatError(
            "data_length",
            f"data has {data.size} bytes, expected step x height = {step} x {height} = {step * height}",
        )
    if dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    rows = data.reshape(height, step)[:, :row_bytes]
    return np.ascontiguousarray(rows).view(dtype).reshape(height, width, channels)


def image_to_rgb(msg: Any) -> np.ndarray:
    """sensor_msgs/Image (rgb8, bgr8, rgba8, bgra8, mono8) -> (H, W, 3) uint8 RGB."""
    px = _pixels(msg, RGB_ENCODINGS)
    encoding = str(msg.encoding)
    if encoding == "mono8":
        return np.repeat(px, 3, axis=2)
    rgb = px[:, :, :3]
    if encoding.startswith("bgr"):
        rgb = rgb[:, :, ::-1]
    return np.ascontiguousarray(rgb)


def compressed_to_rgb(msg: Any) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg/png, colour or mono) -> (H, W, 3) uint8 RGB."""
    buf = np.frombuffer(msg.data, dtype=np.uint8)
    if buf.size == 0:
        raise ImageFormatError("data_length", f"compressed image ({msg.format!r}) has no data")
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageFormatError(
            "decode_failed", f"compressed image ({msg.format!r}, {buf.size} bytes) could not be decoded"
        )
    return np.ascontiguousarray(bgr[:, :, ::-1])


def image_to_depth(msg: Any) -> np.ndarray:
    """sensor_msgs/Image depth (16UC1 mm or 32FC1 m) -> (h, w) float32 metres, NaN = invalid."""
    px = _pixels(msg, DEPTH_ENCODINGS)[:, :, 0]
    if str(msg.encoding) == "16UC1":
        depth = px.astype(np.float32) / np.float32(_MM_PER_M)
        depth[px == 0] = np.nan
        return depth
    depth = px.astype(np.float32)  # native order copy
    depth[~valid_mask(depth)] = np.nan
    return depth


def encode_depth(depth: np.ndarray, encoding: str) -> np.ndarray:
    """Float32 metres (NaN invalid) -> (H, W) array in ``encoding`` with REP 118 invalid values.

    16UC1 stores rounded millimetres; NaN, non-positive and depths beyond
    65.535 m (not representable) become 0 so no pixel is ever clamped to a
    wrong value. 32FC1 stores metres with NaN for every invalid pixel.
    """
    if encoding not in DEPTH_ENCODINGS:
        raise ImageFormatError("unknown_encoding", f"output encoding {encoding!r} not in {DEPTH_ENCODINGS}")
    if depth.ndim != 2:
        raise ValueError(f"depth must be (H, W), got shape {depth.shape}")
    valid = valid_mask(depth)
    if encoding == "32FC1":
        return np.where(valid, depth, np.nan).astype(np.float32)
    valid &= depth <= _MAX_16UC1_M
    mm = np.rint(np.where(valid, depth, 0.0) * _MM_PER_M)
    return mm.astype(np.uint16)


def fill_image(msg: Any, array: np.ndarray, encoding: str) -> Any:
    """Write a (H, W) or (H, W, C) array into an Image-like ``msg`` (little-endian, packed rows)."""
    dtype, channels = _LAYOUT[encoding]
    arr = np.ascontiguousarray(array, dtype=dtype.newbyteorder("<") if dtype.itemsize > 1 else dtype)
    if arr.shape[2:] not in ((), (channels,)) or arr.ndim not in (2, 3):
        raise ValueError(f"array of shape {array.shape} does not fit encoding {encoding}")
    msg.height, msg.width = int(arr.shape[0]), int(arr.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * channels * dtype.itemsize
    msg.data = arr.tobytes()
    return msg


def resized_camera_info(info: Any, width: int, height: int) -> Any:
    """A copy of ``info`` for the same camera imaging at ``width`` x ``height`` pixels.

    Focal lengths scale with the pixel size, as image_proc's resize does, but
    the principal point keeps pixel centres in place (``centre_scaled``:
    (c + 0.5) * s - 0.5, where image_proc writes c * s): the convention of the
    network's grid, the ToF sensor model and registration, so a depth
    camera_info made by this function matches the RGB camera's grid exactly.
    The region of interest scales likewise. Distortion and rectification do
    not depend on pixel size.
    """
    if not info.width or not info.height:
        raise ValueError(f"camera_info has size {info.width}x{info.height}; cannot rescale it")
    sx, sy = width / info.width, height / info.height
    out = copy.deepcopy(info)
    out.width, out.height = int(width), int(height)
    k, p = list(info.k), list(info.p)
    k[0], k[1], k[2] = k[0] * sx, k[1] * sx, centre_scaled(k[2], sx)
    k[3], k[4], k[5] = k[3] * sy, k[4] * sy, centre_scaled(k[5], sy)
    p[0], p[1], p[2], p[3] = p[0] * sx, p[1] * sx, centre_scaled(p[2], sx), p[3] * sx
    p[4], p[5], p[6], p[7] = p[4] * sy, p[5] * sy, centre_scaled(p[6], sy), p[7] * sy
    out.k, out.p = k, p
    roi = out.roi
    roi.x_offset, roi.width = round(roi.x_offset * sx), round(roi.width * sx)
    roi.y_offset, roi.height = round(roi.y_offset * sy), round(roi.height * sy)
    return out


def camera_info_for(info: Any, size: tuple[int, int], header: Any) -> Any:
    """The camera_info of an output ``size`` = (width, height) with ``header``; ``info`` is left as it is.

    An uncalibrated info (zero size) cannot be rescaled and is passed on as it came.
    """
    calibrated = info.width > 0 and info.height > 0
    if calibrated and (info.width, info.height) != size:
        out = resized_camera_info(info, *size)
    else:
        out = copy.deepcopy(info)  # the caller's message is shared with later frames
    out.header = header
    return out
