"""Point the PyPI ROS 2 wheels' exported CMake files at this interpreter's Python and numpy headers.

The wheels were built under ``/opt/python/cp3XX-cp3XX`` and their
``*__rosidl_generator_pyExport.cmake`` files still name that builder's include
folders, so any colcon build of an interface package (stdnet_ros_msgs) stops
with "Imported target ... includes non-existent path". Run with the venv's
own Python: ``.venv/bin/python scripts/fix_ros_cmake_paths.py .venv``.
Idempotent: a second run finds nothing left to change.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

BUILDER = re.compile(r"/opt/python/cp\d+-cp\d+")
NUMPY_INCLUDE = re.compile(BUILDER.pattern + r"/lib/python3\.\d+/site-packages/numpy/_core/include")
PYTHON_INCLUDE = re.compile(BUILDER.pattern + r"/include/python3\.\d+")


def fix(prefix: Path) -> list[Path]:
    """Rewrite every CMake file under ``prefix/share`` naming the builder's paths; return those changed."""
    changed = []
    for path in sorted((prefix / "share").rglob("*.cmake")):
        text = path.read_text()
        if not BUILDER.search(text):
            continue
        new = NUMPY_INCLUDE.sub(numpy.get_include(), text)
        new = PYTHON_INCLUDE.sub(sysconfig.get_paths()["include"], new)
        if BUILDER.search(new):
            raise SystemExit(f"{path}: a builder path this script does not know: {BUILDER.search(new)[0]}")
        path.write_text(new)
        changed.append(path)
    return changed


if __name__ == "__main__":
    prefix = Path(sys.argv[1] if len(sys.argv) > 1 else sys.prefix)
    changed = fix(prefix)
    print(f"fix_ros_cmake_paths: {len(changed)} CMake files pointed at {sysconfig.get_paths()['include']}")
