"""The ticker's lateness ring: percentiles over a window, totals since start, a bounded ring."""

from __future__ import annotations

from mpcmix.server.clock import TickLateness


def test_summary_over_a_window_and_since_start() -> None:
    ring = TickLateness(frame_ms=20, capacity=1000)
    for i in range(100):  # tick i done at i*20 ms, late by i ms (ticks 21..99 are late)
        ring.record(i * 20.0, float(i))
    everything = ring.summary()
    assert everything["ticks"] == 100 and everything["late_ticks"] == 79
    assert everything["max_ms_since_start"] == 99.0
    assert everything["window"] == {"ticks": 100, "late_ticks": 79, "p50_ms": 50.0,
                                    "p99_ms": 99.0, "max_ms": 99.0}
    last_second = ring.summary(window_s=1.0, now_ms=99 * 20.0)  # ticks done at >= 980 ms: 49..99
    assert last_second["window"]["ticks"] == 51
    assert last_second["window"]["p50_ms"] == 74.0 and last_second["window"]["max_ms"] == 99.0
    assert ring.summary(window_s=1.0, now_ms=10_000.0)["window"] == {
        "ticks": 0, "late_ticks": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}


def test_the_ring_keeps_the_latest_ticks_and_never_grows() -> None:
    ring = TickLateness(frame_ms=20, capacity=64)
    size = ring._at_ms.nbytes + ring._late_ms.nbytes
    for i in range(1000):
        ring.record(float(i), 100.0 if i < 900 else 1.0)
    summary = ring.summary()
    assert summary["ticks"] == 1000 and summary["late_ticks"] == 900  # totals since start
    assert summary["window"]["ticks"] == 64 and summary["window"]["max_ms"] == 1.0  # the latest 64
    assert ring._at_ms.nbytes + ring._late_ms.nbytes == size


def test_a_summary_of_a_full_ring_makes_no_object_per_tick() -> None:
    """The summary works on arrays: a full ring's summary made 32,768 tuples (~4 MB of small
    objects) every time it was asked, which ratcheted a long-running server's heap up."""
    import tracemalloc

    ring = TickLateness(frame_ms=20)
    for i in range(1 << 15):
        ring.record(i * 20.0, float(i % 40))
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        summary = ring.summary(window_s=1e9, now_ms=(1 << 15) * 20.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary["window"]["ticks"] == 1 << 15
    assert peak < 2 * 2**20, f"a summary peaked at {peak / 2**20:.1f} MiB"
