"""Python's cyclic garbage collector in a long-running process: its pauses measured, the long-lived
heap kept out of its way.

A full (generation 2) collection walks every container object the process holds and stops every
thread meanwhile. A scoring worker holds ~510k of them once the model is loaded (torch, transformers,
Faust, aiokafka), and one full collection took 256 ms on the project's 2-core machine
(benchmarks/RESULTS.md). None of that heap is ever garbage: it lives as long as the process.

- ``watch_collections`` times every collection into ``groundswell_gc_pause_seconds``
  (by generation), so ops see the pauses;
- ``freeze_long_lived`` collects once and moves every object alive into the collector's permanent
  generation (``gc.freeze``), which later collections skip. Call it after building something large
  and lasting (the worker's start, the model, the influence engine, the identity index). Objects
  frozen are still freed by reference counting; only a reference cycle among them that becomes
  garbage later is kept (for the life of the process), so freeze after loads, a bounded number of
  times, never per event.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from typing import Any

from groundswell.metrics import Metrics

log = logging.getLogger(__name__)

_freezing = False  # freeze_long_lived acts only in processes that asked for it
_watched: set[int] = set()  # ids of the Metrics whose histogram a callback already feeds
_lock = threading.Lock()


def watch_collections(metrics: Metrics) -> None:
    """Observe every collection's pause in ``metrics.gc_pause`` (once per ``Metrics``)."""
    with _lock:
        if id(metrics) in _watched:
            return
        _watched.add(id(metrics))
    started: dict[int, float] = {}  # thread id -> start of the collection it runs

    def on_collection(phase: str, info: dict[str, Any]) -> None:
        me = threading.get_ident()
        if phase == "start":
            started[me] = time.perf_counter()
            return
        t0 = started.pop(me, None)
        if t0 is not None:
            # no lock may be taken here (groundswell.metrics.GcPauseHistogram)
            metrics.gc_pause.observe(str(info.get("generation", "?")), time.perf_counter() - t0)

    gc.callbacks.append(on_collection)


def freeze_long_lived_heaps(enabled: bool = True) -> None:
    """Let ``freeze_long_lived`` act in this process: a long-running one (a worker, the API). Off by
    default, so that code run in a test process or a benchmark freezes nothing there."""
    global _freezing
    _freezing = enabled


def freeze_long_lived(why: str, metrics: Metrics | None = None) -> int:
    """Collect, then freeze every object alive (``gc.freeze``): later collections skip them.
    -> the objects frozen now in all (also set on ``metrics.gc_frozen``); 0, doing nothing, unless
    ``freeze_long_lived_heaps`` enabled it in this process."""
    if not _freezing:
        return 0
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    if metrics is not None:
        metrics.gc_frozen.set(frozen)
    log.info(
        "heap frozen after %s: %d objects out of the collector's way (%.0f ms)",
        why,
        frozen,
        1000 * (time.perf_counter() - started),
    )
    return frozen
