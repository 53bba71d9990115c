"""Image <-> numpy conversion on real sensor_msgs messages (REP 117/118 depth, every RGB encoding), and
CameraInfo for a resized image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from stdnet_ros.conversion import (
    ImageFormatError,
    camera_info_for,
    compressed_to_rgb,
    encode_depth,
    fill_image,
    image_to_depth,
    image_to_rgb,
    resized_camera_info,
)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)


def _image(array: np.ndarray, encoding: str) -> Image:
    return fill_image(Image(), array, encoding)


@pytest.mark.parametrize(
    ("encoding", "pixels"),
    [
        ("rgb8", RGB),
        ("bgr8", RGB[:, :, ::-1]),
        ("rgba8", np.dstack([RGB, np.full(RGB.shape[:2], 7, np.uint8)])),
        ("bgra8", np.dstack([RGB[:, :, ::-1], np.full(RGB.shape[:2], 7, np.uint8)])),
    ],
)
def test_colour_encodings_give_rgb(encoding: str, pixels: np.ndarray) -> None:
    out = image_to_rgb(_image(pixels, encoding))
    assert out.dtype == np.uint8 and out.shape == (6, 5, 3)
    np.testing.assert_array_equal(out, RGB)


def test_mono8_is_replicated_to_three_channels() -> None:
    out = image_to_rgb(_image(RGB[:, :, 0], "mono8"))
    np.testing.assert_array_equal(out, np.repeat(RGB[:, :, :1], 3, axis=2))


def test_padded_rows_are_skipped() -> None:
    msg = _image(RGB, "rgb8")
    padded = np.zeros((6, 5 * 3 + 4), np.uint8)
    padded[:, :15] = RGB.reshape(6, 15)
    msg.step, msg.data = 19, padded.tobytes()
    np.testing.assert_array_equal(image_to_rgb(msg), RGB)


def test_16uc1_millimetres_zero_invalid() -> None:
    mm = np.array([[0, 1000, 1500], [65535, 1, 0]], np.uint16)
    depth = image_to_depth(_image(mm, "16UC1"))
    assert depth.dtype == np.float32
    np.testing.assert_allclose(depth, [[np.nan, 1.0, 1.5], [65.535, 0.001, np.nan]], rtol=1e-6)


def test_32fc1_nan_inf_nonpositive_invalid() -> None:
    m = np.array([[np.nan, np.inf, -np.inf], [0.0, -1.0, 2.5]], np.float32)
    depth = image_to_depth(_image(m, "32FC1"))
    assert np.isnan(depth[0]).all() and np.isnan(depth[1, :2]).all()
    assert depth[1, 2] == np.float32(2.5)


def test_big_endian_depth_is_read_in_its_byte_order() -> None:
    mm = np.array([[1234, 0]], np.uint16)
    msg = _image(mm, "16UC1")
    msg.is_bigendian, msg.data = 1, mm.astype(">u2").tobytes()
    np.testing.assert_allclose(image_to_depth(msg), [[1.234, np.nan]], rtol=1e-6)


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_depth_round_trip_keeps_invalid_pixels(encoding: str) -> None:
    depth = np.array([[np.nan, 0.5, 2.0], [-1.0, 70.0, 12.345]], np.float32)
    back = image_to_depth(_image(encode_depth(depth, encoding), encoding))
    expected = np.array([[np.nan, 0.5, 2.0], [np.nan, np.nan if encoding == "16UC1" else 70.0, 12.345]])
    np.testing.assert_allclose(back, expected, rtol=1e-6, atol=5e-4)


def test_16uc1_output_rounds_to_millimetres_and_zero_marks_invalid() -> None:
    mm = encode_depth(np.array([[1.0004, np.nan, 0.0, 66.0]], np.float32), "16UC1")
    assert mm.dtype == np.uint16 and mm.tolist() == [[1000, 0, 0, 0]]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda m: setattr(m, "encoding", "yuv422"), "unknown_encoding"),
        (lambda m: setattr(m, "data", bytes(m.data)[:-1]), "data_length"),
        (lambda m: setattr(m, "data", bytes(m.data) + b"\0"), "data_length"),
        (lambda m: setattr(m, "step", m.step - 1), "step_mismatch"),
        (lambda m: setattr(m, "height", 0), "empty_image"),
    ],
)
def test_bad_rgb_messages_raise_a_named_error(mutate, reason: str) -> None:
    msg = _image(RGB, "rgb8")
    mutate(msg)
    with pytest.raises(ImageFormatError) as err:
        image_to_rgb(msg)
    assert err.value.reason == reason and isinstance(err.value, ValueError)


def test_depth_encoding_is_not_accepted_as_rgb_and_vice_versa() -> None:
    with pytest.raises(ImageFormatError, match="16UC1"):
        image_to_rgb(_image(np.zeros((2, 2), np.uint16), "16UC1"))
    with pytest.raises(ImageFormatError, match="rgb8"):
        image_to_depth(_image(RGB, "rgb8"))


def test_odd_step_for_16bit_depth_is_refused() -> None:
    msg = _image(np.ones((2, 2), np.uint16), "16UC1")
    msg.step, msg.data = 5, bytes(10)
    with pytest.raises(ImageFormatError, match="multiple"):
        image_to_depth(msg)


@pytest.mark.parametrize(("fmt", "ext"), [("png", ".png"), ("jpeg", ".jpg")])
def test_compressed_rgb(fmt: str, ext: str) -> None:
    smooth = np.zeros((16, 16, 3), np.uint8)
    smooth[..., 0], smooth[..., 2] = 200, 30
    ok, buf = cv2.imencode(ext, smooth[:, :, ::-1])
    assert ok
    msg = CompressedImage(format=fmt, data=buf.tobytes())
    out = compressed_to_rgb(msg)
    assert out.shape == (16, 16, 3)
    assert np.abs(out.astype(int) - smooth).max() <= (0 if fmt == "png" else 4)


def test_garbage_compressed_data_raises() -> None:
    with pytest.raises(ImageFormatError) as err:
        compressed_to_rgb(CompressedImage(format="jpeg", data=b"not a jpeg"))
    assert err.value.reason == "decode_failed"
    with pytest.raises(ImageFormatError):
        compressed_to_rgb(CompressedImage(format="jpeg"))


def test_encode_depth_rejects_unknown_encoding() -> None:
    with pytest.raises(ImageFormatError):
        encode_depth(np.ones((2, 2), np.float32), "8UC1")


def _camera_info(width: int = 640, height: int = 480) -> CameraInfo:
    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob", d=[0.1, -0.2, 0.0, 0.0, 0.0])
    info.k = [500.0, 0.0, 320.0, 0.0, 510.0, 240.0, 0.0, 0.0, 1.0]
    info.p = [500.0, 0.0, 320.0, 7.0, 0.0, 510.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height = 40, 20, 400, 300
    info.header.frame_id = "rgb_optical"
    return info


def test_resized_camera_info_scales_intrinsics_and_roi_not_distortion() -> None:
    info = _camera_info()
    out = resized_camera_info(info, 320, 120)  # x 1/2, y 1/4
    assert (out.width, out.height) == (320, 120)
    # pixel centres stay in place: (c + 0.5) * s - 0.5, the network grid's convention
    assert list(out.k) == [250.0, 0.0, 159.75, 0.0, 127.5, 59.625, 0.0, 0.0, 1.0]
    assert list(out.p) == [250.0, 0.0, 159.75, 3.5, 0.0, 127.5, 59.625, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert (out.roi.x_offset, out.roi.y_offset, out.roi.width, out.roi.height) == (20, 5, 200, 75)
    assert list(out.d) == list(info.d) and out.distortion_model == "plumb_bob"
    assert info.width == 640 and info.k[0] == 500.0 and info.roi.width == 400  # the input is untouched
    with pytest.raises(ValueError, match="cannot rescale"):
        resized_camera_info(_camera_info(0, 0), 320, 240)


def test_camera_info_for_an_output_rescales_only_when_the_size_differs() -> None:
    header = Header(frame_id="rgb_optical")
    header.stamp.sec = 7
    info = _camera_info()
    same = camera_info_for(info, (640, 480), header)
    assert same is not info and list(same.k) == list(info.k) and same.header.stamp.sec == 7
    assert info.header.stamp.sec == 0  # the cached message is shared with later frames: never changed
    resized = camera_info_for(info, (320, 240), header)
    assert (resized.width, resized.height, resized.k[0]) == (320, 240, 250.0)
    assert resized.header.stamp.sec == 7
    uncalibrated = camera_info_for(_camera_info(0, 0), (320, 240), header)
    assert (uncalibrated.width, uncalibrated.height) == (0, 0) and uncalibrated.header.stamp.sec == 7
