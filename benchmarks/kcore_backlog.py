"""Core numbers under a sustained stream: new ties one by one against recounts, side by side.

The ranker defers core-number work to idle time (``influence_kcore_budget_ms`` 0): each 100 ms tick
it spends ``--budget-ms`` on the backlog (``InfluenceEngine.maintain``). This replays a synthetic
power-law interaction stream (``--accounts``, ``--edges``; a few accounts draw most interactions)
in that pattern at ``--rate`` edges per simulated second, after a warm-up that builds the graph
(``--warm-edges``), once with inserts one by one only and once with recounts allowed
(``scoring.kcore_recount``), and reports the engine's time per tick (what the ranker's event loop
would be held: a single insert next to a hub overruns the budget), the backlog at the end of the
stream, the CPU it took to empty it afterwards, and whether the core numbers are the same.

    python -m benchmarks.kcore_backlog --accounts 60000 --warm-edges 120000 --edges 30000
"""

from __future__ import annotations

import argparse
import gc
import sys
import time

import numpy as np

from benchmarks._machine import describe
from benchmarks._power_law import power_law_edges
from scoring.influence_engine import InfluenceEdge, InfluenceEngine


def run(
    edges: list[InfluenceEdge], warm: int, rate: float, budget_s: float, recount: bool
) -> dict[str, float]:
    engine = InfluenceEngine(kcore_budget_s=0.0, kcore_recount=recount)
    exact = InfluenceEngine(kcore_budget_s=None)  # not timed: the warm-up graph with exact cores
    for start in range(0, warm, 2_000):
        exact.apply(edges[start : min(warm, start + 2_000)])
    engine.restore(exact.snapshot())
    del exact
    # as a worker does after loading its engine (groundswell.heap): what is alive now, this script's
    # list of every edge included (a worker holds each only while it applies it), is frozen out of
    # the collector's way
    gc.collect()
    gc.freeze()
    per_tick = max(1, int(rate / 10))
    cpu = time.process_time()
    peak = 0
    last = time.monotonic()
    ticks: list[float] = []
    for start in range(warm, len(edges), per_tick):
        tick = time.perf_counter()
        engine.apply(edges[start : start + per_tick])
        engine.maintain(budget_s)
        ticks.append(time.perf_counter() - tick)
        peak = max(peak, engine.kcore_backlog)
        if time.monotonic() - last >= 1.0:
            last = time.monotonic()
            print(
                f"    {start - warm:,} of {len(edges) - warm:,} edges, backlog {engine.kcore_backlog:,}",
                flush=True,
            )
    stream_cpu = time.process_time() - cpu
    left = engine.kcore_backlog
    cpu = time.process_time()
    while engine.kcore_work_waiting:
        engine.maintain(budget_s)
    drain_cpu = time.process_time() - cpu
    gc.unfreeze()
    return {
        "stream_cpu_s": stream_cpu,
        "tick_p99_ms": float(np.percentile(ticks, 99)) * 1e3,
        "tick_max_ms": max(ticks) * 1e3,
        "backlog_at_end": left,
        "backlog_peak": peak,
        "drain_cpu_s": drain_cpu,
        "accounts": len(engine),
        "cores": hash(tuple(sorted(engine._kc.cores().items()))),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=60_000)
    ap.add_argument("--warm-edges", type=int, default=120_000)
    ap.add_argument("--edges", type=int, default=30_000, help="the measured stream, after the warm-up")
    ap.add_argument("--rate", type=float, default=1_000.0, help="edges per simulated second")
    ap.add_argument("--budget-ms", type=float, default=20.0, help="core-number work per 100 ms tick")
    args = ap.parse_args()
    print(describe(), flush=True)
    edges = power_law_edges(args.accounts, args.warm_edges + args.edges)
    warm = min(args.warm_edges, len(edges))
    results = {}
    for recount in (False, True):
        name = "recounts" if recount else "one by one"
        print(f"  {name} ...", flush=True)
        results[name] = run(edges, warm, args.rate, args.budget_ms / 1e3, recount)
    accounts = results["one by one"]["accounts"]
    print(f"\n{accounts:,.0f} accounts; {len(edges) - warm:,} edges at {args.rate:,.0f}/s after {warm:,}")
    print(
        "| core numbers | CPU in the stream (s) | a tick's engine time p99 / max (ms) "
        "| backlog peak / at end | CPU to empty it after (s) |"
    )
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['stream_cpu_s']:.1f} | {r['tick_p99_ms']:.0f} / {r['tick_max_ms']:.0f}"
            f" | {r['backlog_peak']:,.0f} / {r['backlog_at_end']:,.0f} | {r['drain_cpu_s']:.1f} |"
        )
    same = results["one by one"]["cores"] == results["recounts"]["cores"]
    print(f"same core numbers at the end: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
