"""How fast does the one identity resolver decide? ``python -m benchmarks.identity_resolve [--people N]``

The streaming design puts every resolution decision through one owner (streams/identity_agent.py),
so its rate bounds how many NEW or CHANGED accounts per second the system can absorb. This measures
``IdentityService.resolve`` end to end on the real parts: embedded ArcadeDB (started here on free
ports), the MiniLM encoder, the faiss index with blocking keys, and the trained matcher. Input:
N synthetic people with two accounts each (another network, a shortened bio), plus N/2 people with
one account, in shuffled order, resolved four times on a wiped graph: one command at a time; in
batches whose profiles are embedded in one encoder call first, then decided one transaction each;
in batches embedded first and decided in ONE graph transaction each (``resolve_many``); and in
batches through the resolver agent's own ``apply_commands`` with ``identity_resolve_group`` = 16
(the model embeds the next 16 profiles while the current 16 are decided and written). Reported:
median and p95 latency per decision (a grouped decision waits for its whole batch), decisions per
second, how many pairs merged, and the time a new owner needs to rebuild its index from the graph
(warm).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from benchmarks._machine import describe
from embedding.encoder import Encoder, load_model, set_model_threads
from graph.arcadedb_server import free_port, spawn, stop_spawned
from graph.store import GraphStore
from groundswell.metrics import Metrics
from groundswell.settings import Settings
from identity.ann import VectorIndex
from identity.candidates import CandidateSearch
from identity.matcher import Matcher
from identity.records import ProfileRecord
from identity.service import IdentityService
from streams.identity_agent import apply_commands
from streams.identity_commands import Command

FIRST = ["Jane", "Ravi", "Marta", "Amara", "Kenji", "Lucia", "Pierre", "Sofia", "Tom", "Ana", "Omar", "Mia",
         "Noah", "Ines", "Lars", "Yuki", "Chen", "Fatima", "Diego", "Aisha"]  # fmt: skip
LAST = ["Doe", "Kumar", "Nowak", "Okafor", "Sato", "Romano", "Dubois", "Lindqvist", "Becker", "Souza",
        "Haddad", "Lopez", "Meyer", "Costa", "Berg", "Tanaka", "Wei", "Khan", "Garcia", "Bello"]  # fmt: skip
CITIES = ["Berlin", "Lagos", "Lisbon", "Osaka", "Lyon", "Austin", "Warsaw", "Naples", "Oslo", "Quito"]
BATCH = 64  # streams.identity_agent.RESOLVER_BATCH
GROUP = 16
#: label -> (records per resolver batch, how it is decided): "each" one transaction per decision,
#: "together" one transaction per batch (resolve_many), "agent" the resolver agent's apply_commands
MODES = {
    "one command at a time": (1, "each"),
    f"batches of {BATCH}, one transaction per decision": (BATCH, "each"),
    f"batches of {BATCH}, one transaction per batch (resolve_many)": (BATCH, "together"),
    f"batches of {BATCH}, the agent's apply_commands: groups of {GROUP}, embedded a wave ahead": (
        BATCH,
        "agent",
    ),
}
TOPICS = ["climbing", "typography", "data journalism", "tea", "robotics", "jazz", "bread", "chess", "sailing"]


def people(n: int, seed: int = 7) -> tuple[list[ProfileRecord], dict[str, int]]:
    rng = random.Random(seed)
    records: list[ProfileRecord] = []
    truth: dict[str, int] = {}
    for i in range(n + n // 2):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        handle = f"{first}{last}{i}".lower()
        city, topic = rng.choice(CITIES), rng.choice(TOPICS)
        site = f"https://{handle}.example"
        bio = f"{topic.capitalize()} and {rng.choice(TOPICS)} in {city}. Works at {last} & Co."
        records.append(
            ProfileRecord(f"bluesky:did:plc:{handle}", "bluesky", display_name=f"{first} {last}",
                          handle=f"{handle}.bsky.social", websites=(site,), bio=bio, location=city)
        )  # fmt: skip
        truth[records[-1].record_id] = i
        if i < n:
            records.append(
                ProfileRecord(f"mastodon:https://social.example/users/{handle}", "mastodon",
                              display_name=f"{first} {last}", handle=f"{handle}@social.example",
                              websites=(site,), bio=f"{topic} · {city}", location=city)
            )  # fmt: skip
            truth[records[-1].record_id] = i
    rng.shuffle(records)
    return records, truth


async def run(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            arcadedb_http_port=free_port(),
            arcadedb_bolt_port=free_port(),
            arcadedb_heap="1g",
            graph_password=SecretStr("bench-identity"),
        )
        print("starting embedded ArcadeDB and loading the model ...", flush=True)
        proc = spawn(settings, timeout=180.0)
        try:
            load_model()
            records, truth = people(n)
            results = {}
            async with await GraphStore.connect(settings) as store:
                for mode in MODES:  # side by side, same records, a wiped graph for each
                    results[mode] = await measure(store, records, *MODES[mode])
        finally:
            stop_spawned(proc)
    print(f"\nmachine: {describe()}")
    print(f"identity resolver, {len(records)} records ({n} two-account people, {n // 2} single):")
    for mode, (latencies, elapsed, person_of, loaded, warm_s) in results.items():
        by_truth: dict[int, set[str]] = {}
        for rid, who in truth.items():
            by_truth.setdefault(who, set()).add(person_of[rid])
        pairs_merged = sum(1 for who, ps in by_truth.items() if who < n and len(ps) == 1)
        truths_of: dict[str, set[int]] = {}
        for rid, pid in person_of.items():
            truths_of.setdefault(pid, set()).add(truth[rid])
        wrong = sum(1 for t in truths_of.values() if len(t) > 1)
        lat = sorted(latencies)
        median, p95 = statistics.median(lat) * 1000, lat[int(0.95 * len(lat))] * 1000
        print(f" {mode}:")
        print(
            f"  per decision: median {median:.1f} ms, p95 {p95:.1f} ms (batch embedding time spread over it)"
        )
        print(f"  throughput:   {len(records) / elapsed:.1f} decisions/s (one resolver)")
        print(f"  merged:       {pairs_merged}/{n} two-account people in one person; {wrong} mixed persons")
        print(f"  warm (a new owner rebuilding from the graph): {loaded} profiles in {warm_s:.1f} s")
    one, *rest = (len(records) / results[m][1] for m in MODES)
    print(" throughput against one at a time: " + ", ".join(f"{r / one:.1f}x" for r in rest))


async def measure(
    store: GraphStore, records: list[ProfileRecord], batch: int, how: str
) -> tuple[list[float], float, dict[str, str], int, float]:
    await wipe(store)
    service = IdentityService(store, Matcher(), CandidateSearch(Encoder(), VectorIndex(384)))
    await service.setup()
    latencies: list[float] = []
    metrics = Metrics.create()
    started = last = time.perf_counter()
    for start in range(0, len(records), batch):
        chunk = records[start : start + batch]
        causes = [f"bench:{i}" for i in range(start + 1, start + len(chunk) + 1)]
        t = time.perf_counter()
        if how == "agent":
            commands = [Command("resolve", cause, record=r) for r, cause in zip(chunk, causes, strict=True)]
            await apply_commands(service, commands, metrics, refuse, group=GROUP)
        elif how == "together":
            await service.prefetch(chunk)
            await service.resolve_many(list(zip(chunk, causes, strict=True)))
        else:
            if batch > 1:
                await service.prefetch(chunk)
            share = (time.perf_counter() - t) / len(chunk)
            for record, cause in zip(chunk, causes, strict=True):
                t1 = time.perf_counter()
                await service.resolve(record, cause)
                latencies.append(time.perf_counter() - t1 + share)
        if how != "each":  # a decision waits for its whole batch
            latencies.extend([time.perf_counter() - t] * len(chunk))
        if time.perf_counter() - last >= 1.0:
            last = time.perf_counter()
            print(f"  batch {batch}, {how}: resolved {start + len(chunk)}/{len(records)}", flush=True)
    elapsed = time.perf_counter() - started
    rows = await store.read("MATCH (a:Account)-[:ACCOUNT_OF]->(p:Person) RETURN a.id AS a, p.id AS p")
    fresh = IdentityService(store, Matcher(), CandidateSearch(Encoder(), VectorIndex(384)))
    t = time.perf_counter()
    loaded = await fresh.warm()
    return latencies, elapsed, {r["a"]: r["p"] for r in rows}, loaded, time.perf_counter() - t


async def refuse(command: Command, error: Exception) -> None:
    raise RuntimeError(f"the benchmark's decision for {command.cause} failed") from error


async def wipe(store: GraphStore) -> None:
    async def work(tx: Any) -> None:
        await (await tx.run("MATCH (n) WHERE NOT n:SchemaVersion DETACH DELETE n")).consume()

    await store.write(work)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--people", type=int, default=150, help="two-account people (plus half as many single)")
    p.add_argument(
        "--model-threads",
        type=int,
        default=1,
        help="the model's intra-op threads (1, the product's default: it shares the cores with the graph)",
    )
    args = p.parse_args()
    set_model_threads(args.model_threads)
    asyncio.run(run(args.people))


if __name__ == "__main__":
    main()
