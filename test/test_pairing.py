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
from stdnet_ros.node.pairing import (
    DROP_DUPLICATE_STAMP,
    DROP_QUEUE_OVERFLOW,
    ApproximateTimePairer,
    available_implementations,
    make_pairer,
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
