"""The ranker's snapshot: how long the event loop is held, and what it costs in all, side by side.

Builds an influence engine from a synthetic power-law interaction stream (``--accounts``,
``--edges``), then takes ``--repeats`` snapshots each way through ``streams.ranking.RankStage``:

- ``copy``: the state copied on the loop, encoded and written on a thread (the in-process path,
  and the only one before the forked child);
- ``fork``: a forked child encodes and writes the state as it was at the fork (the default).

"loop held" is what the stream waits for (the copy, or ``fork()``); "total" is until the file is
written. With ``--model`` the sentence-transformers model is loaded first, so the process is about
as large as a scoring worker (fork copies page tables: its cost grows with the process's memory).

    python -m benchmarks.influence_snapshot --accounts 20000 --edges 60000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._machine import describe
from benchmarks._power_law import power_law_edges
from groundswell.metrics import Metrics
from groundswell.settings import Settings
from streams.ranking import RankStage


def build(stage: RankStage, accounts: int, edges: int) -> None:
    stream = power_law_edges(accounts, edges)
    last = time.monotonic()
    for start in range(0, len(stream), 2_000):
        stage.engine.apply_detailed(stream[start : start + 2_000])
        if time.monotonic() - last >= 1.0:
            last = time.monotonic()
            done = min(len(stream), start + 2_000)
            print(f"  engine: {done:,} of {len(stream):,} edges, {len(stage.engine):,} accounts", flush=True)
    stage.last_offset = edges


async def measure(stage: RankStage, fork: bool, repeats: int) -> tuple[list[float], list[float]]:
    held, total = [], []
    for _ in range(repeats):
        stage.mark_dirty()
        before_loop = stage._m.snapshot_seconds.labels("loop")._sum.get()
        before_total = stage._m.snapshot_seconds.labels("total")._sum.get()
        if not await stage.take_snapshot(fork=fork):
            raise RuntimeError("snapshot not written")
        held.append(stage._m.snapshot_seconds.labels("loop")._sum.get() - before_loop)
        total.append(stage._m.snapshot_seconds.labels("total")._sum.get() - before_total)
    return held, total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=20_000)
    ap.add_argument("--edges", type=int, default=60_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--model", action="store_true", help="load the model first (a worker-sized process)")
    args = ap.parse_args()
    print(describe(), flush=True)
    if args.model:
        from embedding.encoder import Encoder

        Encoder().encode(["warm the model up"])
    with tempfile.TemporaryDirectory(prefix="gs-snapshot-") as tmp:
        stage = RankStage(Settings(data_dir=Path(tmp), intent_enabled=False), Metrics.create())
        stage.loaded = True
        build(stage, args.accounts, args.edges)
        rss_mb = int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20
        print(f"engine: {len(stage.engine):,} accounts; process RSS {rss_mb:,.0f} MiB", flush=True)
        rows = []
        for _ in range(2):  # interleaved: copy, fork, copy, fork
            for mode in ("copy", "fork"):
                held, total = asyncio.run(measure(stage, mode == "fork", args.repeats))
                rows.append((mode, held, total))
                print(f"  {mode}: loop held {[round(h * 1e3) for h in held]} ms", flush=True)
        size = stage.path.stat().st_size / 1e6
    print(f"\n{len(stage.engine):,} accounts, snapshot {size:.1f} MB")
    print("| way | loop held, median (ms) | total, median (ms) |")
    print("|---|---|---|")
    for mode in ("copy", "fork"):
        held = [h for m, hs, _ in rows if m == mode for h in hs]
        total = [t for m, _, ts in rows if m == mode for t in ts]
        print(f"| {mode} | {statistics.median(held) * 1e3:,.1f} | {statistics.median(total) * 1e3:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
