"""One ApproximateTime conformance suite, run against every pairing implementation importable here.

The expected results follow message_filters' Python ApproximateTimeSynchronizer
(nearest partner within a strict ``slop``, per-input dict queues evicting the
smallest stamp, repeated stamps replacing). Where message_filters is installed
the same random streams are also fed to both implementations and compared.
"""

from __future__ import annotations

import random

import pytest
from std_msgs.msg import Header

from stdnet_ros.conversion import header_ns
from stdnet_ros.node.monitor import InputMonitor
from stdnet_ros.node.pairing import (
    DROP_DUPLICATE_STAMP,
    DROP_QUEUE_OVERFLOW,
    DROP_STREAM_RESTART,
    ApproximateTimePairer,
    available_implementations,
    make_pairer,
    rgb_outpaces_depth,
)

MS = 1_000_000


class Msg:
    """A stamped message; identity matters, so equal stamps stay distinguishable."""

    def __init__(self, t_ms: float, tag: str = "") -> None:
        ns = round(t_ms * MS)
        self.header = Header()
        self.header.stamp.sec, self.header.stamp.nanosec = divmod(ns, 1_000_000_000)
        self.tag = tag

    def __repr__(self) -> str:
        return f"Msg({header_ns(self) / MS}{self.tag})"


class Recorder:
    def __init__(self, impl: type, queue_size: int = 5, slop: float = 0.010) -> None:
        self.pairs: list[tuple[Msg, Msg]] = []
        self.drops: list[tuple[int, Msg, str]] = []
        self.pairer = impl(queue_size, slop, lambda a, b: self.pairs.append((a, b)), self._drop)

    def _drop(self, index: int, msg: Msg, reason: str) -> None:
        self.drops.append((index, msg, reason))

    def feed(self, *events: tuple[int, Msg]) -> Recorder:
        for index, msg in events:
            self.pairer.add(index, msg)
        return self


IMPLS = pytest.mark.parametrize("impl", available_implementations(), ids=lambda c: c.name)


@IMPLS
def test_exact_stamps_pair_in_input_order(impl: type) -> None:
    a, b, c, d = Msg(0), Msg(0), Msg(100), Msg(100)
    rec = Recorder(impl).feed((0, a), (1, b), (1, d), (0, c))
    assert rec.pairs == [(a, b), (c, d)]
    assert rec.drops == [] and rec.pairer.pending() == (0, 0)


@IMPLS
def test_nearest_partner_within_slop_is_chosen(impl: type) -> None:
    d1, d2, rgb = Msg(0), Msg(6), Msg(5)
    rec = Recorder(impl).feed((1, d1), (1, d2), (0, rgb))
    assert rec.pairs == [(rgb, d2)]
    assert rec.pairer.pending() == (0, 1)  # d1 waits: message_filters does not discard older ones


@IMPLS
def test_slop_is_strict(impl: type) -> None:
    rec = Recorder(impl, slop=0.010).feed((0, Msg(0)), (1, Msg(10)))
    assert rec.pairs == []
    rec.feed((1, Msg(9.999)))
    assert len(rec.pairs) == 1


@IMPLS
def test_zero_slop_never_pairs(impl: type) -> None:
    assert Recorder(impl, slop=0.0).feed((0, Msg(1)), (1, Msg(1))).pairs == []


@IMPLS
def test_full_queue_evicts_smallest_stamp_and_reports_it(impl: type) -> None:
    rgb = [Msg(t) for t in (0, 100, 200, 300)]
    rec = Recorder(impl, queue_size=3).feed(*[(0, m) for m in rgb])
    assert rec.drops == [(0, rgb[0], DROP_QUEUE_OVERFLOW)]
    assert rec.pairer.pending() == (3, 0)


@IMPLS
def test_a_late_message_older_than_a_full_queue_is_dropped_itself(impl: type) -> None:
    depth = [Msg(t) for t in (100, 200)]
    late = Msg(50)
    rec = Recorder(impl, queue_size=2).feed((1, depth[0]), (1, depth[1]), (0, Msg(52)), (1, late))
    assert rec.drops == [(1, late, DROP_QUEUE_OVERFLOW)]
    assert rec.pairs == []


@IMPLS
def test_repeated_stamp_replaces_and_reports(impl: type) -> None:
    first, second, depth = Msg(0, "a"), Msg(0, "b"), Msg(1)
    rec = Recorder(impl).feed((0, first), (0, second), (1, depth))
    assert rec.drops == [(0, first, DROP_DUPLICATE_STAMP)]
    assert rec.pairs == [(second, depth)]


@IMPLS
def test_clear_reports_every_waiting_message(impl: type) -> None:
    rec = Recorder(impl).feed((0, Msg(0)), (0, Msg(100)), (1, Msg(300)))
    rec.pairer.clear("reconfigured")
    assert sorted(i for i, _, r in rec.drops if r == "reconfigured") == [0, 0, 1]
    assert rec.pairer.pending() == (0, 0)


@IMPLS
def test_every_message_is_paired_dropped_or_pending_exactly_once(impl: type) -> None:
    rnd = random.Random(3)
    events = []
    for k in range(400):
        events.append((0, Msg(1000 + k * 33.3 + rnd.uniform(-3, 3))))
        if rnd.random() < 0.8:
            events.append((1, Msg(1000 + k * 33.3 + rnd.uniform(-12, 12))))
    rnd.shuffle(events[: len(events) // 2])  # out-of-order arrivals too
    rec = Recorder(impl, queue_size=4, slop=0.008).feed(*events)
    seen = [id(m) for p in rec.pairs for m in p] + [id(m) for _, m, _ in rec.drops]
    assert len(seen) == len(set(seen))
    assert len(seen) + sum(rec.pairer.pending()) == len(events)
    assert all(abs(header_ns(a) - header_ns(b)) < 8 * MS for a, b in rec.pairs)
    assert rec.pairs and rec.drops


def _admitted(rec: Recorder, *events: tuple[int, Msg]) -> Recorder:
    """Feed as the node does: the real InputMonitor spots a stamp going back, the pairer restarts."""
    monitor = InputMonitor(started=0.0)
    for index, msg in events:
        stamp = header_ns(msg)
        if any(p.reason == "stamp_backwards" for p in monitor.check(str(index), stamp, (1,), 0.0)):
            rec.pairer.restart(index, stamp)
        rec.pairer.add(index, msg)
    return rec


def _stream(first_ms: float, frames: int, depth_lag_ms: float) -> list[tuple[int, Msg]]:
    """Each frame's RGB arrives before its depth, as the bag writer orders them."""
    return [e for k in range(frames) for e in ((0, Msg(first_ms + 33 * k)),
                                                (1, Msg(first_ms + 33 * k + depth_lag_ms)))]


@IMPLS
@pytest.mark.parametrize("lag_ms", [0.0, 4.0, -4.0])
def test_a_looping_stream_loses_no_frame_at_the_restart(impl: type, lag_ms: float) -> None:
    old_tail = [(0, Msg(1000 + 33 * 5, "rgb left unpaired")), (1, Msg(1000 + 33 * 6, "depth left unpaired"))]
    loop = _stream(1000, 5, lag_ms)
    rec = _admitted(Recorder(impl, queue_size=5, slop=0.010), *loop, *old_tail, *loop)
    assert len(rec.pairs) == 10  # every frame of both passes
    assert [(m.tag, r) for _, m, r in rec.drops] == [("rgb left unpaired", DROP_STREAM_RESTART),
                                                    ("depth left unpaired", DROP_STREAM_RESTART)]
    assert rec.pairer.pending() == (0, 0)


@IMPLS
def test_the_new_stream_may_lead_by_more_than_the_slop_on_one_input(impl: type) -> None:
    old = _stream(1000, 3, 0.0)
    new_rgb = [(0, Msg(1000)), (0, Msg(1033)), (0, Msg(1066))]  # all three before the first new depth
    new_depth = [(1, Msg(1000)), (1, Msg(1033)), (1, Msg(1066))]
    rec = _admitted(Recorder(impl, queue_size=5, slop=0.010), *old, *new_rgb, *new_depth)
    assert len(rec.pairs) == 6 and rec.drops == [] and rec.pairer.pending() == (0, 0)


@IMPLS
def test_a_single_late_frame_costs_nothing_that_can_still_pair(impl: type) -> None:
    rgb = [Msg(33 * k) for k in range(6)]
    depth = [Msg(33 * k) for k in range(6)]
    order = [(0, rgb[0]), (1, depth[0]), (0, rgb[1]), (1, depth[1]), (0, rgb[2]), (1, depth[2]),
             (0, rgb[3]), (0, rgb[4]), (1, depth[4]), (1, depth[3]), (0, rgb[5]), (1, depth[5])]
    rec = _admitted(Recorder(impl, queue_size=5, slop=0.010), *order)
    pairs = sorted((header_ns(a), header_ns(b)) for a, b in rec.pairs)
    assert pairs == [(33 * k * MS,) * 2 for k in range(6)]
    assert rec.drops == []


@IMPLS
def test_restart_drops_only_what_the_old_stream_left(impl: type) -> None:
    rec = Recorder(impl, slop=0.010).feed((0, Msg(500)), (0, Msg(900)), (1, Msg(950)))
    rec.pairer.restart(1, 495 * MS)  # depth went back to 495 ms
    assert sorted(header_ns(m) // MS for _, m, r in rec.drops if r == DROP_STREAM_RESTART) == [900, 950]
    assert rec.pairer.pending() == (1, 0)  # the 500 ms RGB may still pair with the new depth


def test_stdnet_pairer_matches_message_filters_on_random_streams() -> None:
    impls = available_implementations()
    if len(impls) < 2:
        pytest.skip("message_filters is not importable here; the conformance suite ran on our pairer only")
    rnd = random.Random(11)
    events = [(rnd.randrange(2), Msg(rnd.uniform(0, 2000))) for _ in range(600)]
    results = []
    for impl in impls:
        rec = Recorder(impl, queue_size=6, slop=0.020).feed(*events)
        results.append(([(id(a), id(b)) for a, b in rec.pairs], [(i, id(m), r) for i, m, r in rec.drops]))
    assert results[0] == results[1]


def test_make_pairer_uses_the_first_available_implementation() -> None:
    pairer = make_pairer(3, 0.01, lambda a, b: None)
    assert type(pairer) is available_implementations()[0]
    with pytest.raises(ValueError, match="queue_size"):
        ApproximateTimePairer(0, 0.01, lambda a, b: None)


def test_rgb_overflow_is_surplus_only_when_the_rgb_runs_faster() -> None:
    assert rgb_outpaces_depth(DROP_QUEUE_OVERFLOW, rgb_hz=30.0, depth_hz=5.0)
    assert rgb_outpaces_depth(DROP_QUEUE_OVERFLOW, rgb_hz=30.0, depth_hz=0.0)  # no depth yet: all surplus
    assert not rgb_outpaces_depth(DROP_QUEUE_OVERFLOW, rgb_hz=30.0, depth_hz=30.0)  # stamps do not meet
    assert not rgb_outpaces_depth(DROP_QUEUE_OVERFLOW, rgb_hz=30.5, depth_hz=30.0)  # rate jitter
    assert not rgb_outpaces_depth(DROP_STREAM_RESTART, rgb_hz=30.0, depth_hz=5.0)
    assert not rgb_outpaces_depth(DROP_DUPLICATE_STAMP, rgb_hz=30.0, depth_hz=5.0)
