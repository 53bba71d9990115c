#!/usr/bin/env bash
# `make setup`'s second step: where the ROS 2 tools wheels are (launch, launch_ros, ros2cli,
# message_filters, ...; not on PyPI), install them into the venv and make the venv an ament prefix
# for this package, so `ros2 launch stdnet_ros stdnet.launch.py` and `ros2 run stdnet_ros stdnet_node`
# work from it. Without the folder it says so and changes nothing: the pip-only set-up stays as it is.
# Usage: scripts/setup_ros_tools.sh VENV WHEELS_DIR
set -euo pipefail
venv=$(cd "$1" && pwd)
wheels=$2
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -d "$wheels" ]; then
    echo "setup_ros_tools: no ROS 2 tools wheels at $wheels: pip-only set-up (launch, message_filters, colcon tests skip)"
    exit 0
fi
wheels=$(cd "$wheels" && pwd)

# pip only when the wheels, the pins or the base install changed since the last run
stamp="$venv/.ros-tools"
want=$(cd "$wheels" && ls -l -- *.whl | cat - "$root/requirements-ros-tools.txt" | sha256sum)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ "$venv/.installed" -nt "$stamp" ]; then
    "$venv/bin/python" -m pip install -q -r "$root/requirements-ros-tools.txt"
    "$venv/bin/python" -m pip install -q --no-index --no-deps --force-reinstall "$wheels"/*.whl
    echo "$want" > "$stamp"
fi
"$venv/bin/python" "$root/scripts/fix_ros_cmake_paths.py" "$venv"

# The venv as an ament prefix: the package's index entry, its share files (links to this working
# tree's, as the editable install links the code; files, since `ros2 launch` does not follow linked
# folders), and the executable where launch_ros and `ros2 run` look for it.
index="$venv/share/ament_index/resource_index/packages"
share="$venv/share/stdnet_ros"
rm -rf "$share"
mkdir -p "$index" "$share/launch" "$share/config" "$venv/lib/stdnet_ros"
cp "$root/resource/stdnet_ros" "$index/stdnet_ros"
ln -s "$root/package.xml" "$share/package.xml"
for file in "$root"/launch/*.py "$root"/config/*.yaml; do
    ln -s "$file" "$share/$(basename "$(dirname "$file")")/"
done
ln -sfn ../../bin/stdnet_node "$venv/lib/stdnet_ros/stdnet_node"

# `source .venv/bin/activate` then also sets AMENT_PREFIX_PATH (ament_index requires it)
marker="# stdnet_ros: this venv is an ament prefix"
if ! grep -qF "$marker" "$venv/bin/activate"; then
    cat >> "$venv/bin/activate" <<'EOF'
# stdnet_ros: this venv is an ament prefix (scripts/setup_ros_tools.sh)
case ":${AMENT_PREFIX_PATH:-}:" in
    *":$VIRTUAL_ENV:"*) ;;
    *) export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}" ;;
esac
EOF
fi
echo "setup_ros_tools: ROS 2 tools from $wheels; run \`source $venv/bin/activate\` (sets PATH and AMENT_PREFIX_PATH)"
