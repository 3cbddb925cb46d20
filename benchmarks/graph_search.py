"""The graph page's search (``GET /graph/search``, ``graph.queries.search_nodes``) at scale.

A fresh embedded ArcadeDB gets ``--accounts`` Account nodes with made-up handles
(``<word><n>.bsky.social``) and display names (two capitalised words), each with an influence.
Then each query below is searched ``--runs`` times through the product's ``search_nodes``, side by
side with the form it replaced (the same exact-id look-up, then names STARTING with the text
only), the two interleaved, medians of each:

- a word at the start of a handle (``tango``): both forms find names;
- a piece from inside a word (``ngo``): only the substring search finds names;
- two words of a display name (``mike lima``);
- nothing (``zzz``).

Both forms read every account (the lower-cased names have no index), so the time grows with the
accounts, and with the names that match (they are sorted); the point is what the substring search
costs next to the prefix search.

    python -m benchmarks.graph_search [--accounts 1000000] [--runs 5] [--heap 4g]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from typing import Any

from benchmarks._machine import describe
from benchmarks._scratch_store import scratch_store
from graph import queries
from graph.store import GraphStore
from groundswell.settings import Settings

#: the NATO alphabet's first twenty words
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet")
WORDS += ("kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango")
QUERIES = ("tango", "ngo", "mike lima", "zzz")
#: the statement before 2026-12-08: names starting with the text only
PREFIX_ONLY = (
    "MATCH (a:Account) WHERE a.id = $q OR toLower(a.handle) STARTS WITH $lq "
    "OR toLower(a.display_name) STARTS WITH $lq "
    "RETURN a.id AS id ORDER BY coalesce(a.influence_log, -1.0e300) DESC, a.id LIMIT $limit"
)
BATCH = 5_000


async def load(store: GraphStore, accounts: int, seed: int) -> None:
    rng = random.Random(seed)
    last_line = 0.0
    for lo in range(0, accounts, BATCH):
        rows = [
            {
                "id": f"bluesky:did:plc:gsb{i}",
                "handle": f"{rng.choice(WORDS)}{i}.bsky.social",
                "name": f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS).capitalize()}",
                "log": rng.uniform(0.0, 100.0),
            }
            for i in range(lo, min(accounts, lo + BATCH))
        ]

        async def work(tx: Any, rows: list[dict[str, Any]] = rows) -> None:
            await (
                await tx.run(
                    "UNWIND $rows AS r CREATE (:Account {id: r.id, network: 'bluesky', handle: r.handle, "
                    "display_name: r.name, influence_log: r.log})",
                    rows=rows,
                )
            ).consume()

        await store.write(work)
        if time.monotonic() - last_line >= 1.0 or lo + BATCH >= accounts:
            print(f"accounts: {min(accounts, lo + BATCH):,}/{accounts:,}", flush=True)
            last_line = time.monotonic()


async def search_before(store: GraphStore, text: str) -> list[dict[str, Any]]:
    """``search_nodes`` as it was: the exact-id look-up, then names starting with the text."""
    await queries.find_node(store, text)
    return await store.read(PREFIX_ONLY, q=text, lq=text.casefold(), limit=20)


async def measure(settings: Settings, args: argparse.Namespace) -> None:
    async with await GraphStore.connect(settings) as store:
        await store.setup()
        await load(store, args.accounts, args.seed)
        forms = {
            "substring (now)": lambda t: queries.search_nodes(store, t),
            "prefix only (before)": lambda t: search_before(store, t),
        }
        for text in QUERIES:  # the store's first runs of a statement are slower (JIT, plan cache)
            for search in forms.values():
                await search(text)
        print(f"\n{describe()}")
        print(f"{args.accounts:,} accounts; median of {args.runs} searches each, the forms interleaved")
        print(f"  {'text':<12} {'substring (now)':>24} {'prefix only (before)':>26}")
        for text in QUERIES:
            times: dict[str, list[float]] = {name: [] for name in forms}
            found: dict[str, int] = {}
            for _ in range(args.runs):
                for name, search in forms.items():
                    started = time.perf_counter()
                    found[name] = len(await search(text))
                    times[name].append((time.perf_counter() - started) * 1000)
            cells = [f"{statistics.median(times[n]):10.0f} ms {found[n]:3d} found" for n in forms]
            print(f"  {text!r:<12} {cells[0]}    {cells[1]}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--heap", default="4g")
    args = parser.parse_args(argv)
    with scratch_store(args.heap, "gs-search-") as settings:
        asyncio.run(measure(settings, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
