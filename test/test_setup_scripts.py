"""scripts/: the CMake-path fix on a made-up prefix; set-up without the ROS tools wheels changes nothing."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy

ROOT = Path(__file__).resolve().parents[1]

EXPORT = """set_target_properties(rcl_interfaces::rcl_interfaces__rosidl_generator_py PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "/opt/python/cp311-cp311/include/python3.11;\
/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include"
)
"""


def _fix(prefix: Path) -> str:
    done = subprocess.run([sys.executable, ROOT / "scripts" / "fix_ros_cmake_paths.py", prefix],
                          capture_output=True, text=True, check=True, timeout=60)
    return done.stdout


def test_cmake_exports_point_at_this_python_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    export = tmp_path / "share" / "rcl_interfaces" / "cmake" / "rcl_interfaces__pyExport.cmake"
    export.parent.mkdir(parents=True)
    export.write_text(EXPORT)
    untouched = export.with_name("other.cmake")
    untouched.write_text("set(x 1)\n")
    assert _fix(tmp_path).startswith("fix_ros_cmake_paths: 1 CMake files")
    text = export.read_text()
    assert "/opt/python" not in text
    assert f'"{sysconfig.get_paths()["include"]};{numpy.get_include()}"' in text
    assert _fix(tmp_path).startswith("fix_ros_cmake_paths: 0 CMake files")
    assert untouched.read_text() == "set(x 1)\n"


def test_setup_without_the_wheels_folder_says_so_and_changes_nothing(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    done = subprocess.run([ROOT / "scripts" / "setup_ros_tools.sh", venv, tmp_path / "no-such-folder"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "no ROS 2 tools wheels" in done.stdout and "pip-only" in done.stdout
    assert list(venv.iterdir()) == []
