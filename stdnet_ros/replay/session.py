"""One replay from bag to report folder: node process up, bag played, outputs scored, report written.

The report is assembled in a hidden folder and renamed into place at the end,
so a failed run (bad bag, node that will not start) leaves nothing that
looks like a result.
"""

from __future__ import annotations

import logging
from pathlib import Path

from stdnet_ros.bags import open_bag
from stdnet_ros.bags.schema import DEPTH_TOPIC
from stdnet_ros.bags.writer import check_target, staged_folder
from stdnet_ros.replay.analysis import ReplayResult, analyse
from stdnet_ros.replay.node_process import MemorySampler, NodeProcess, node_command, replay_namespace
from stdnet_ros.replay.player import Player
from stdnet_ros.replay.report import write_report

log = logging.getLogger(__name__)


def replay(
    bag_path: str | Path,
    out: str | Path,
    rate: float = 1.0,
    params_file: Path | None = None,
    params: tuple[str, ...] = (),
    startup_timeout_s: float = 180.0,
    idle_s: float = 5.0,
    progress: bool = True,
    loops: int = 1,
) -> tuple[ReplayResult, str]:
    """Replay ``bag_path`` ``loops`` times through a fresh node process; returns the result and the
    Markdown summary."""
    out = Path(out)
    if not rate > 0:
        raise ValueError(f"rate must be positive, got {rate}")
    if loops < 1:
        raise ValueError(f"loops must be at least 1, got {loops}")
    bag = open_bag(bag_path)
    check_target(out)
    if params_file is not None and not Path(params_file).is_file():
        raise FileNotFoundError(f"params file not found: {params_file}")
    namespace = replay_namespace()
    with staged_folder(out) as folder:
        node = NodeProcess(node_command(params_file, list(params), namespace), folder / "node.log")
        player = None
        try:
            player = Player(bag, namespace)
            log.info("waiting for the node (model loading) ...")
            player.connect(node, startup_timeout_s)
            memory: list[tuple[int, int]] = []
            with MemorySampler(node, memory):
                record = player.play(rate, node, progress, loops)
                player.drain(record.published.get(DEPTH_TOPIC, 0), idle_s, timeout=120.0)
            record.memory = memory
        finally:
            node_exit = node.stop()
            if player is not None:
                player.close()
        record.node_exit = node_exit
        result = analyse(bag, record, namespace)
        text = write_report(folder, bag, record, result, namespace)
    return result, text

