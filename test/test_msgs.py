"""The FrameStatus interface, checked with rosidl's own parser as colcon would run it.

PyPI ROS cannot build interfaces, so this is what can be proven here: the .msg
converts to IDL with rosidl_adapter and parses with rosidl_parser (the exact
front end of rosidl_generate_interfaces), every referenced package is declared
in stdnet_ros_msgs, CMake lists every .msg file, and the node fills exactly the
message's fields.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rosidl_adapter.msg import convert_msg_to_idl
from rosidl_parser.definition import IdlLocator, Include, Message
from rosidl_parser.parser import parse_idl_file

from stdnet_ros.node.stats import FrameTiming, PublishedFrame, status_fields

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "stdnet_ros_msgs"
MSGS = sorted((PKG / "msg").glob("*.msg"))


def _parse(msg_file: Path, out: Path) -> tuple[Message, list[str]]:
    """The parsed message and the IDL files it includes."""
    idl = convert_msg_to_idl(PKG, PKG.name, msg_file.relative_to(PKG), out)
    content = parse_idl_file(IdlLocator(out, idl.relative_to(out))).content
    (message,) = content.get_elements_of_type(Message)
    return message, [i.locator for i in content.get_elements_of_type(Include)]


def test_interface_package_sees_the_msg_folder() -> None:
    assert (ROOT / "msg" / "FrameStatus.msg").is_file()
    assert [m.name for m in MSGS] == sorted(p.name for p in (ROOT / "msg").glob("*.msg"))


@pytest.mark.parametrize("msg_file", MSGS, ids=lambda p: p.stem)
def test_msg_parses_and_its_dependencies_are_declared(msg_file: Path, tmp_path: Path) -> None:
    message, includes = _parse(msg_file, tmp_path)
    assert message.structure.namespaced_type.namespaced_name() == ("stdnet_ros_msgs", "msg", msg_file.stem)
    used = {inc.split("/")[0] for inc in includes}
    xml = ET.parse(PKG / "package.xml").getroot()
    declared = {e.text for e in xml if e.tag in ("depend", "build_depend")}
    assert used <= declared, f"{msg_file.name} uses {used - declared} not declared in package.xml"
    cmake = (PKG / "CMakeLists.txt").read_text()
    assert f'"msg/{msg_file.name}"' in cmake
    assert all(re.search(rf"DEPENDENCIES[^)]*\b{pkg}\b", cmake) for pkg in used)


def test_interface_package_is_a_rosidl_package() -> None:
    xml = ET.parse(PKG / "package.xml").getroot()
    assert xml.get("format") == "3" and xml.findtext("name") == "stdnet_ros_msgs"
    assert xml.findtext("member_of_group") == "rosidl_interface_packages"
    assert xml.findtext("export/build_type") == "ament_cmake"
    assert "rosidl_default_generators" in {e.text for e in xml.iter("buildtool_depend")}


def test_node_fills_exactly_the_frame_status_fields(tmp_path: Path) -> None:
    message, _ = _parse(PKG / "msg" / "FrameStatus.msg", tmp_path)
    fields = [m.name for m in message.structure.members]
    frame = PublishedFrame(FrameTiming(latency_s=0.5, queue_wait_s=0.01, inference_s=0.05), skew_s=0.002,
                           window_fill=3, window=7, lookahead=0, reset_reason=None)
    values = status_fields(frame, frames_in=10, frames_out=8,
                           drops={"inference_busy": 2, "depth/image: data_length": 1})
    assert sorted(values) == sorted(f for f in fields if f != "header")
    assert values["receipt_to_publish"] == pytest.approx(0.5)
    assert values["dropped_total"] == 3
    assert values["drop_reasons"] == ["depth/image: data_length", "inference_busy"]
    assert values["drop_counts"] == [1, 2]
