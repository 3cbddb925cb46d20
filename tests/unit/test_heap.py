"""groundswell.heap: collector pauses measured, long-lived objects frozen out of its way."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from groundswell import heap
from groundswell.metrics import Metrics


@pytest.fixture
def callbacks_restored() -> Iterator[None]:
    before = list(gc.callbacks)
    yield
    gc.callbacks[:] = before


@pytest.fixture
def frozen_undone() -> Iterator[None]:
    yield
    heap.freeze_long_lived_heaps(False)
    gc.unfreeze()


def samples(metrics: Metrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in metrics.registry.collect()
        for s in family.samples
        if s.name == name
    }


def test_every_collection_is_timed_by_generation_once_per_metrics(callbacks_restored: None) -> None:
    metrics = Metrics.create()
    heap.watch_collections(metrics)
    heap.watch_collections(metrics)  # a second call adds no second callback
    gc.collect(0)
    gc.collect(2)
    counts = samples(metrics, "groundswell_gc_pause_seconds_count")
    assert counts[(("generation", "0"),)] >= 1
    assert counts[(("generation", "2"),)] >= 1
    total = sum(samples(metrics, "groundswell_gc_pause_seconds_sum").values())
    assert total > 0.0
    gc.collect(2)
    assert samples(metrics, "groundswell_gc_pause_seconds_count")[(("generation", "2"),)] == (
        counts[(("generation", "2"),)] + 1
    )


def test_freezing_acts_only_where_a_long_running_process_enabled_it(frozen_undone: None) -> None:
    metrics = Metrics.create()
    gc.unfreeze()
    assert heap.freeze_long_lived("a test", metrics) == 0
    assert gc.get_freeze_count() == 0

    heap.freeze_long_lived_heaps()
    kept = [{"a": [1, 2]} for _ in range(1_000)]  # containers alive now: frozen with the rest
    frozen = heap.freeze_long_lived("a test", metrics)
    assert frozen == gc.get_freeze_count() > len(kept)
    assert samples(metrics, "groundswell_gc_frozen_objects")[()] == frozen
    # a full collection no longer walks them
    assert not any(obj is kept[0] for obj in gc.get_objects(generation=2))


def test_a_collection_that_starts_inside_the_metrics_own_code_records_its_pause(
    callbacks_restored: None,
) -> None:
    """A collection starts at any allocation, also in a thread inside the pause metric's own code
    (a scrape, a first observation). The callback must not wait for anything that code holds: with
    prometheus-client's Histogram (non-reentrant locks) a worker froze this way."""
    import threading

    metrics = Metrics.create()
    heap.watch_collections(metrics)
    held = [v for v in vars(metrics.gc_pause).values() if hasattr(v, "acquire") and hasattr(v, "release")]

    def collect_holding_its_locks() -> None:
        for lock in held:
            lock.acquire()
        try:
            gc.collect()
        finally:
            for lock in reversed(held):
                lock.release()

    t = threading.Thread(target=collect_holding_its_locks, daemon=True)
    t.start()
    t.join(timeout=10)
    assert not t.is_alive(), "the collector's callback waited for a lock its own thread held"
    assert samples(metrics, "groundswell_gc_pause_seconds_count")[(("generation", "2"),)] >= 1
