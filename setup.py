"""ament_python build script; also a plain pip-installable package."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "stdnet_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    package_data={PACKAGE: ["weights/*.safetensors", "weights/*.md"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    install_requires=["setuptools", "numpy", "torch>=2.1", "safetensors", "tqdm"],
    zip_safe=True,
    maintainer="stdnet_ros developers",
    maintainer_email="stdnet-ros@example.org",
    description="Real-time RGB-guided video depth super-resolution (STDNet) as a ROS 2 node",
    license="Apache-2.0",
    python_requires=">=3.10",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "stdnet-ros = stdnet_ros.cli:main",
            "stdnet_node = stdnet_ros.node.stdnet_node:main",
        ],
    },
)
