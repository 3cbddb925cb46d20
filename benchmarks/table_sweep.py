"""How long the retention sweep (``streams.retention.TableSweeper``) takes over a large table, and how
long it holds the event loop at a time.

The scoring worker's ``mention-authors`` and ``alert-subjects`` tables hold an entry per author or
subject; the sweep lists the keys and then works through them in chunks, yielding to the loop
between chunks. This fills a plain dict (the table's in-memory store; a Faust table's delete also
queues a changelog tombstone, not counted here) with ``--entries`` stamped memories of a few
mention ids each, ``--expired-share`` of them older than the retention and the rest of four
partitions' keys owned, and runs one sweep next to a ticker task that asks for the loop every
millisecond: the ticker's lateness is how long the stream's agents would wait.

    python -m benchmarks.table_sweep --entries 1000000 --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

from activity.recent import RecentEvents
from benchmarks._machine import describe
from groundswell.metrics import Metrics
from streams.retention import SWEEP_CHUNK, TableSweeper, stamped

DAY = 86400.0
RETENTION_S = 30 * DAY


def fill(entries: int, expired_share: float, now: float, seed: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    table: dict[str, bytes] = {}
    for i in range(entries):
        memory = RecentEvents()
        for j in range(rng.randint(1, 6)):
            memory.add(f"at://did:plc:{i:08x}/app.bsky.feed.post/{j}")
        age = RETENTION_S + DAY if rng.random() < expired_share else rng.uniform(0, RETENTION_S - DAY)
        table[f"bluesky:did:plc:{i:024x}"] = stamped(memory.to_bytes(), now - age)
    return table


async def sweep_with_ticker(table: dict[str, bytes], now: float) -> tuple[float, list[float], int]:
    """(sweep seconds, the ticker's lateness per tick in seconds, entries expired)."""
    sweeper = TableSweeper("mention-authors", table, 4, lambda: {0, 1, 2, 3}, RETENTION_S, Metrics.create())
    late: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            asked = time.perf_counter()
            await asyncio.sleep(0.001)
            late.append(time.perf_counter() - asked - 0.001)

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    plan = await sweeper.sweep()
    took = time.perf_counter() - started
    done.set()
    await tick
    return took, late, len(plan.expired)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--expired-share", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"machine: {describe()}")
    now = time.time()
    takes: list[float] = []
    worst: list[float] = []
    p99: list[float] = []
    for r in range(args.repeats):
        table = fill(args.entries, args.expired_share, now, seed=r)
        took, late, expired = asyncio.run(sweep_with_ticker(table, now))
        takes.append(took)
        worst.append(max(late))
        p99.append(statistics.quantiles(late, n=100)[98] if len(late) >= 2 else max(late))
        print(
            f"run {r + 1}: {args.entries:,} entries, {expired:,} expired, sweep {took:.2f} s, "
            f"loop held at most {max(late) * 1000:.1f} ms (p99 {p99[-1] * 1000:.1f} ms, {len(late)} ticks)",
            flush=True,
        )
    print(
        f"| {args.entries:,} entries, {args.expired_share:.0%} expired, chunks of {SWEEP_CHUNK:,} "
        f"| sweep median {statistics.median(takes):.2f} s | loop held: longest median "
        f"{statistics.median(worst) * 1000:.1f} ms, p99 median {statistics.median(p99) * 1000:.1f} ms |"
    )


if __name__ == "__main__":
    main()
