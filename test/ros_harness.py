"""A real-DDS test bench for stdnet_node: a probe node that publishes synthetic inputs and records outputs.

Used by the node tests in this process (with the node in the same executor)
and across processes (the node started from its entry point). No mocks: the
messages travel through rclpy and Fast DDS.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import cv2
import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from stdnet_ros.conversion import encode_depth, fill_image
from stdnet_ros.geometry.camera import centre_scaled
from stdnet_ros.node.stdnet_node import StdnetNode

H, W, SCALE = 32, 40, 4  # RGB size; depth is H/SCALE x W/SCALE
RGB_FRAME, DEPTH_FRAME = "rgb_optical", "depth_optical"
K = [30.0, 0.0, 20.0, 0.0, 30.0, 16.0, 0.0, 0.0, 1.0]


def rgb_pixels(k: int, h: int = H, w: int = W) -> np.ndarray:
    """A moving gradient with an edge, different per frame."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 6 + k * 5) % 256, (y * 8) % 256, np.where(x > w // 2, 200, 40)], axis=2)
    return img.astype(np.uint8)


def depth_metres(k: int, h: int = H // SCALE, w: int = W // SCALE) -> np.ndarray:
    """A slanted plane 1-3 m with a nearer box, one invalid pixel."""
    x = np.mgrid[0:h, 0:w][1]
    depth = (1.0 + 2.0 * x / w + 0.01 * k).astype(np.float32)
    depth[h // 4 : h // 2, w // 4 : w // 2] = 0.8
    depth[0, 0] = np.nan
    return depth


def stamp_of(t: float) -> tuple[int, int]:
    sec = int(t)
    return sec, round((t - sec) * 1e9)


def image_msg(array: np.ndarray, encoding: str, t: float, frame_id: str) -> Image:
    """An Image of ``array`` already in ``encoding``'s layout."""
    msg = fill_image(Image(), array, encoding)
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp_of(t)
    msg.header.frame_id = frame_id
    return msg


def rgb_msg(k: int, t: float, encoding: str = "rgb8", h: int = H, w: int = W) -> Image:
    rgb = rgb_pixels(k, h, w)
    layout = {
        "rgb8": rgb, "bgr8": rgb[:, :, ::-1], "mono8": rgb[:, :, 0],
        "rgba8": np.dstack([rgb, np.full((h, w), 255, np.uint8)]),
        "bgra8": np.dstack([rgb[:, :, ::-1], np.full((h, w), 255, np.uint8)]),
    }[encoding]
    return image_msg(layout, encoding, t, RGB_FRAME)


def compressed_rgb_msg(k: int, t: float) -> CompressedImage:
    ok, buf = cv2.imencode(".png", rgb_pixels(k)[:, :, ::-1])
    assert ok
    msg = CompressedImage(format="png", data=buf.tobytes())
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp_of(t)
    msg.header.frame_id = RGB_FRAME
    return msg


def depth_msg(k: int, t: float, encoding: str = "16UC1", h: int = H // SCALE, w: int = W // SCALE) -> Image:
    return image_msg(encode_depth(depth_metres(k, h, w), encoding), encoding, t, DEPTH_FRAME)


def camera_info_msg(t: float, h: int = H, w: int = W) -> CameraInfo:
    sx, sy = w / W, h / H  # the same optics at another resolution, pixel centres kept in place
    cx, cy = centre_scaled(K[2], sx), centre_scaled(K[5], sy)
    info = CameraInfo(width=w, height=h, distortion_model="plumb_bob", d=[0.0] * 5)
    info.k = [K[0] * sx, 0.0, cx, 0.0, K[4] * sy, cy, 0.0, 0.0, 1.0]
    info.p = [K[0] * sx, 0.0, cx, 0.0, 0.0, K[4] * sy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    info.header.stamp.sec, info.header.stamp.nanosec = stamp_of(t)
    info.header.frame_id = RGB_FRAME
    return info


def unique_namespace(tag: str) -> str:
    return f"/{tag}_{os.getpid()}_{time.monotonic_ns() % 1_000_000}"


def wait_for(predicate: Callable[[], Any], timeout: float, step: float = 0.02) -> Any:
    """Poll ``predicate`` until truthy; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


class Probe:
    """Publishes the node's inputs and records its outputs, spinning its own executor thread."""

    def __init__(self, namespace: str, extra_nodes: tuple[Node, ...] = (), context: Any = None,
                 remap: dict[str, str] | None = None) -> None:
        """``remap``: the node's topic -> the name it was remapped to (as ``ros2 launch ... rgb_topic:=``)."""
        self.context = context
        self.node = rclpy.create_node("probe", namespace=namespace, context=context)
        qos = qos_profile_sensor_data
        n = self.node
        self._remap = remap or {}
        t = self.topic
        self.pub_rgb = n.create_publisher(Image, t("rgb/image"), qos)
        self.pub_rgb_compressed = n.create_publisher(CompressedImage, t("rgb/compressed"), qos)
        self.pub_info = n.create_publisher(CameraInfo, t("rgb/camera_info"), qos)
        self.pub_depth = n.create_publisher(Image, t("depth/image"), qos)
        self.pub_depth_info = n.create_publisher(CameraInfo, t("depth/camera_info"), qos)
        self.outputs: list[Image] = []
        self.registered: list[Image] = []
        self.infos: list[CameraInfo] = []
        self.confidences: list[Image] = []
        self.diagnostics: list[DiagnosticArray] = []
        self.clouds: list[PointCloud2] = []
        n.create_subscription(Image, t("depth_sr/image"), self.outputs.append, qos)
        n.create_subscription(CameraInfo, t("depth_sr/camera_info"), self.infos.append, qos)
        n.create_subscription(Image, t("depth_sr/confidence"), self.confidences.append, qos)
        n.create_subscription(Image, t("depth_sr/registered"), self.registered.append, qos)
        n.create_subscription(PointCloud2, t("depth_sr/points"), self.clouds.append, qos)
        n.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self._namespace = namespace
        self.executor = SingleThreadedExecutor(context=context)
        for node in (n, *extra_nodes):
            self.executor.add_node(node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def topic(self, name: str) -> str:
        """The name the node's topic ``name`` has here, after remapping."""
        return self._remap.get(name, name)

    def _spin(self) -> None:
        with contextlib.suppress(ExternalShutdownException):  # the context may end first
            self.executor.spin()

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        if any(s.name.startswith(f"{self._namespace}/stdnet_node") for s in msg.status):
            self.diagnostics.append(msg)

    def connected(self, timeout: float = 10.0) -> bool:
        """Both directions matched over DDS (inputs have a subscriber, outputs a publisher)."""
        sub = self.node.get_publishers_info_by_topic
        output = self.topic("depth_sr/image")
        output = output if output.startswith("/") else f"{self._namespace}/{output}"

        def ready() -> bool:
            rgb = self.pub_rgb.get_subscription_count() + self.pub_rgb_compressed.get_subscription_count()
            inputs = rgb and self.pub_depth.get_subscription_count()
            return bool(inputs and sub(output) and sub("/diagnostics"))

        return bool(wait_for(ready, timeout))

    def prime(self, t: float, tries: int = 20) -> float:
        """Send frames until one comes back: DDS may drop the first best-effort messages while the
        remote side is still matching. Returns the next unused stamp."""
        for _ in range(tries):
            out = self.send(t, rgb_msg(0, t), depth_msg(0, t), timeout=1.0)
            t += 0.1
            if out is not None:
                return t
        raise AssertionError("the node never answered a frame")

    def send(self, t: float, rgb: Any, depth: Any, info: CameraInfo | None = None, expect_output: bool = True,
             timeout: float = 10.0, expect_t: float | None = None, depth_info: CameraInfo | None = None
             ) -> Image | None:
        """Publish one frame's messages; if an output is expected, wait for the one stamped ``expect_t``.

        ``expect_t`` defaults to the depth's stamp ``t`` (lookahead 0); later outputs of earlier
        frames are skipped, so a backlog cannot be mistaken for this frame's output.
        """
        want = stamp_of(t if expect_t is None else expect_t)
        if info is not None:
            self.pub_info.publish(info)
        if depth_info is not None:
            self.pub_depth_info.publish(depth_info)
        pub = self.pub_rgb_compressed if isinstance(rgb, CompressedImage) else self.pub_rgb
        if rgb is not None:
            pub.publish(rgb)
        if depth is not None:
            self.pub_depth.publish(depth)
        if not expect_output:
            time.sleep(0.05)
            return None

        def arrived() -> Image | None:
            matching = [o for o in self.outputs if (o.header.stamp.sec, o.header.stamp.nanosec) == want]
            return matching[-1] if matching else None

        return wait_for(arrived, timeout)

    def status(self) -> dict[str, str]:
        """Key/values of the node's latest /diagnostics status (empty before the first)."""
        if not self.diagnostics:
            return {}
        (status,) = [s for s in self.diagnostics[-1].status if s.name.startswith(f"{self._namespace}/")]
        return {kv.key: kv.value for kv in status.values} | {"_level": str(status.level[0]),
                                                             "_message": status.message}

    def fresh_status(self, timeout: float = 5.0) -> dict[str, str]:
        """The first /diagnostics status computed after now (by its stamp: delivery order can lag)."""
        now = self.node.get_clock().now().nanoseconds

        def stamped_after() -> bool:
            last = self.diagnostics[-1] if self.diagnostics else None
            return last is not None and Time.from_msg(last.header.stamp).nanoseconds > now

        wait_for(stamped_after, timeout)
        return self.status()

    def close(self) -> None:
        self.executor.shutdown()
        self._thread.join(5.0)
        self.node.destroy_node()


@contextlib.contextmanager
def node_bench(context: Any, tag: str, extra_nodes: tuple[Node, ...] = (), **params: Any) -> Iterator[Probe]:
    """stdnet_node with ``params`` in this process and a probe connected to it (the node is
    ``probe.stdnet``; ``extra_nodes`` spin with the probe), torn down afterwards.

    ``camera_info_timeout_s`` defaults to 0 here: the probe's frames are registered input without
    a depth/camera_info, which registration auto would otherwise wait 2 s for."""
    ns = unique_namespace(tag)
    params = {"camera_info_timeout_s": 0.0, **params}
    node = StdnetNode(context=context, namespace=ns,
                      parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    probe = Probe(ns, extra_nodes=(node, *extra_nodes), context=context)
    probe.stdnet = node
    try:
        assert probe.connected(), "probe and node did not discover each other over DDS"
        yield probe
    finally:
        probe.close()
        node.destroy_node()
