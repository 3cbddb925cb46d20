"""Graph write throughput: edge upserts per second through ``GraphStore.apply``.

Synthetic activities among ``--users`` accounts (posts with mentions, replies, quotes, likes,
reposts, follows), applied in batches of ``--batch`` activities, each batch one transaction.
"Edge upserts" are the de-duplicated edge rows the batches MERGE (``len(plan.edges)``).

    python benchmarks/graph_write.py                 # starts embedded ArcadeDB in a temp dir
    python benchmarks/graph_write.py --uri bolt://127.0.0.1:17687   # an already running store
    python benchmarks/graph_write.py --upsert both   # the store's own upsert and MERGE, runs interleaved
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from activity.schema import AccountRef, Activity, ActivityKind, Network
from graph.arcadedb_server import free_port, spawn, stop_spawned
from graph.plan import build_plan
from graph.store import GraphStore
from groundswell.settings import Settings

KINDS = [
    (ActivityKind.POST, 0.25),
    (ActivityKind.REPLY, 0.2),
    (ActivityKind.QUOTE, 0.05),
    (ActivityKind.LIKE, 0.3),
    (ActivityKind.REPOST, 0.1),
    (ActivityKind.FOLLOW, 0.1),
]


def synth(n: int, users: int, seed: int, run: int, prefix: str = "") -> list[Activity]:
    rng = random.Random(seed)
    kinds, weights = zip(*KINDS, strict=True)

    def acc() -> AccountRef:
        i = rng.randrange(users)
        return AccountRef(f"sim:{i}", Network.SIMULATED, handle=f"user{i}")

    out: list[Activity] = []
    for i in range(n):
        kind = rng.choices(kinds, weights)[0]
        eid = f"{prefix}r{run}-e{i}"
        target = acc()
        text_kind = kind in (ActivityKind.POST, ActivityKind.REPLY, ActivityKind.QUOTE)
        out.append(
            Activity(
                event_id=eid,
                kind=kind,
                network=Network.SIMULATED,
                actor=acc(),
                created_at=1_700_000_000.0 + i,
                received_at=1_700_000_000.0 + i,
                source="bench",
                post_id=f"sim:post:{eid}" if text_kind else None,
                text=f"post {i} about acme" if text_kind and i % 7 == 0 else ("post" if text_kind else None),
                target_post_id=f"sim:post:{prefix}r{run}-e{rng.randrange(max(i, 1))}"
                if kind != ActivityKind.POST
                else None,
                target_account=target if kind != ActivityKind.POST else None,
                mentions=tuple(acc() for _ in range(rng.randrange(3))) if text_kind else (),
            )
        )
    return out


async def run_once(
    settings: Settings, n: int, batch: int, users: int, run: int, merge: bool = False
) -> tuple[int, float]:
    store = await GraphStore.connect(settings)
    if merge:
        store.create_absent_edges = False
    try:
        await store.setup()
        acts = synth(n, users, seed=run, run=run, prefix=f"{time.time_ns()}-")
        batches = [acts[i : i + batch] for i in range(0, len(acts), batch)]
        edges = sum(len(build_plan(b).edges) for b in batches)
        started = time.perf_counter()
        for b in batches:
            await store.apply(b)
        return edges, time.perf_counter() - started
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uri", default="")
    parser.add_argument("--activities", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--heap", default="1g")
    parser.add_argument("--warmup", type=int, default=5_000, help="activities applied first, not timed (JIT)")
    parser.add_argument(
        "--upsert",
        choices=("auto", "merge", "both"),
        default="auto",
        help="edge upserts the store's own way (embedded: CREATE the absent, update the rest), by MERGE, "
        "or both (each run once each way, interleaved, alternating which goes first)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gs-bench-") as tmp:
        proc = None
        if args.uri:
            settings = Settings(graph_uri=args.uri)
        else:
            settings = Settings(
                data_dir=Path(tmp),
                arcadedb_http_port=free_port(),
                arcadedb_bolt_port=free_port(),
                arcadedb_heap=args.heap,
            )
            proc = spawn(settings)
        try:
            if args.warmup:
                asyncio.run(run_once(settings, args.warmup, args.batch, args.users, 99))
            modes = {"auto": ["auto"], "merge": ["merge"], "both": ["auto", "merge"]}[args.upsert]
            rates: dict[str, list[float]] = {m: [] for m in modes}
            for run in range(args.runs):
                for mode in modes if run % 2 == 0 else modes[::-1]:  # alternate who goes first
                    merge = mode == "merge"
                    edges, secs = asyncio.run(
                        run_once(settings, args.activities, args.batch, args.users, run, merge=merge)
                    )
                    rates[mode].append(edges / secs)
                    print(
                        f"run {run} ({mode}): {args.activities} activities, {edges} edge upserts in "
                        f"{secs:.2f}s = {edges / secs:,.0f} edge upserts/s, "
                        f"{args.activities / secs:,.0f} activities/s"
                    )
            for mode, values in rates.items():
                median = statistics.median(values)
                print(f"median ({mode}): {median:,.0f} edge upserts/s (batches of {args.batch})")
        finally:
            if proc is not None:
                stop_spawned(proc)


if __name__ == "__main__":
    main()
