"""Graph store at scale: bulk edge-upsert throughput, person 360 views and capped ego networks.

Goals (the issue): with 1M accounts and 5M edges in the embedded store, p95 <= 50 ms for a
person 360 view and <= 200 ms for a capped depth-2 ego network of a hub; >= 10,000 edge
upserts/s in batches.

The graph (seeded, reproducible): ``--accounts`` Account nodes; a Person for every 10th account,
owning that account and the next (``ACCOUNT_OF``, 2 accounts per person, 20 % of accounts);
``--edges`` relationships in all. Account-to-account edges (FOLLOWS 40 %, LIKED 25 %, MENTIONED
15 %, REPLIED_TO 10 %, REPOSTED 10 %) grow by preferential attachment with a copy model: each
new edge's source (and, separately, target) is, with probability ``--uniform`` (0.1), a uniformly
drawn account, else the source (target) of a uniformly drawn earlier edge, which is drawing an
account in proportion to the edges it already has: a power-law degree distribution with a few
hubs of tens of thousands of edges. Every 10th edge is instead an ``AUTHORED`` edge from a
preferentially drawn account to a new Post (created in the same transaction, as the store does:
the post node with CREATE, its AUTHORED edge with CREATE).

Edges are upserted with the store's own code (``GraphStore.merge_edges``: on the embedded store,
CREATE the relationships that do not exist yet and update the rest from their sparser end; with
``--upsert merge``, or on Neo4j, MERGE from the sparser end; count/first_seen/last_seen),
``--batch`` rows per transaction; repeated (src, dst, kind) keys across batches are real upserts
(count incremented). Throughput is the median over batches of rows/s.

Then, on the loaded graph (nothing writing): person 360 views of ``--views`` random persons and of
the persons owning the top hubs, and capped depth-2 ego networks of the top ``--hubs`` hubs
(``--rounds`` rounds). They use ``graph.queries.person_360`` / ``ego_network`` when that module
exists, else this file's own Cypher (the summary says which ran).

    python -m benchmarks.graph_scale --accounts 100000 --edges 500000     # a quick look
    python -m benchmarks.graph_scale                                       # 1M / 5M, heap 6g
    NEO4J_PASSWORD=... python -m benchmarks.graph_scale --uri bolt://host:7687 --user neo4j \
        --database neo4j          # Neo4j: a DISPOSABLE database (the benchmark's ids start "gsb:")
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import statistics
import tempfile
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import neo4j
import numpy as np
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from graph import cypher
from graph.arcadedb_server import free_port, spawn, stop_spawned
from graph.store import GraphStore
from groundswell.metrics import Metrics
from groundswell.settings import Settings

KINDS = ("FOLLOWS", "LIKED", "MENTIONED", "REPLIED_TO", "REPOSTED")
KIND_WEIGHTS = (0.40, 0.25, 0.15, 0.10, 0.10)
T0 = 1_700_000_000.0
VIEW_GOAL_MS = 50.0
EGO_GOAL_MS = 200.0
UPSERT_GOAL = 10_000.0
#: a Person for every PERSON_EVERY-th account, owning it and the next one
PERSON_EVERY = 10


def account_id(i: int) -> str:
    return f"gsb:a{i}"


def person_id(i: int) -> str:
    return f"gsb:p{i}"


def post_id(i: int) -> str:
    return f"gsb:post{i}"


# -- progress ------------------------------------------------------------------------------------
@dataclass
class Progress:
    phase: str = "start"
    done: int = 0
    total: int = 0
    started: float = field(default_factory=time.perf_counter)

    def begin(self, phase: str, total: int) -> None:
        self.phase, self.done, self.total, self.started = phase, 0, total, time.perf_counter()

    def line(self) -> str:
        secs = time.perf_counter() - self.started
        rate = self.done / secs if secs > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        return (
            f"[{time.strftime('%H:%M:%S')}] {self.phase}: {self.done:,}/{self.total:,} "
            f"({rate:,.0f}/s, {secs:,.0f}s, eta {eta:,.0f}s)"
        )


async def report(progress: Progress, every: float = 1.0) -> None:
    while True:
        await asyncio.sleep(every)
        print(progress.line(), flush=True)


# -- the synthetic graph ---------------------------------------------------------------------------
class EdgeStream:
    """Preferential attachment by copying (see the module doc), one batch at a time."""

    def __init__(self, accounts: int, edges: int, uniform: float, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.accounts = accounts
        self.uniform = uniform
        self.src_hist = np.empty(edges, dtype=np.int64)
        self.dst_hist = np.empty(edges, dtype=np.int64)
        self.filled = 0
        self.posts = 0  # AUTHORED edges so far = posts used
        self.degree = np.zeros(accounts, dtype=np.int64)

    def _pick(self, hist: np.ndarray, n: int) -> np.ndarray:
        out = self.rng.integers(0, self.accounts, n)
        if self.filled:
            copy = self.rng.random(n) >= self.uniform
            out[copy] = hist[self.rng.integers(0, self.filled, int(copy.sum()))]
        return out

    def batch(self, n: int, t: float) -> dict[str, list[dict[str, Any]]]:
        rng = self.rng
        src = self._pick(self.src_hist, n)
        dst = self._pick(self.dst_hist, n)
        authored = rng.random(n) < 0.1
        kind = rng.choice(len(KINDS), n, p=KIND_WEIGHTS)
        rows: dict[str, dict[tuple[int, int], dict[str, Any]]] = {}
        keep = np.flatnonzero(~authored & (src != dst))
        end = self.filled + len(keep)
        self.src_hist[self.filled : end] = src[keep]
        self.dst_hist[self.filled : end] = dst[keep]
        self.filled = end
        np.add.at(self.degree, src[keep], 1)
        np.add.at(self.degree, dst[keep], 1)
        for j, (s, d, k) in enumerate(zip(src.tolist(), dst.tolist(), kind.tolist(), strict=True)):
            ts = t + j * 0.001
            if authored[j]:
                name, key = "AUTHORED", (s, self.posts)
                row = {"src": account_id(s), "dst": post_id(self.posts)}
                self.posts += 1
            elif s == d:
                continue
            else:
                name, key = KINDS[k], (s, d)
                row = {"src": account_id(s), "dst": account_id(d)}
            by_key = rows.setdefault(name, {})
            old = by_key.get(key)
            if old is None:  # de-duplicated per batch, as the store's planner does
                by_key[key] = {**row, "n": 1, "fs": ts, "ls": ts, "conf": None}
            else:
                old["n"] += 1
                old["ls"] = ts
        return {name: list(by_key.values()) for name, by_key in rows.items()}


# -- loading ---------------------------------------------------------------------------------------
async def write_rows(store: GraphStore, statement: str, rows: list[dict[str, Any]]) -> None:
    async def work(tx: neo4j.AsyncTransaction) -> None:
        for i in range(0, len(rows), 1_000):
            await tx.run(statement, rows=rows[i : i + 1_000])

    await store.write(work)


async def load_nodes(store: GraphStore, args: argparse.Namespace, progress: Progress, rng_seed: int) -> None:
    rng = np.random.default_rng(rng_seed)
    step = 5_000
    progress.begin("accounts", args.accounts)
    for lo in range(0, args.accounts, step):
        hi = min(lo + step, args.accounts)
        followers = rng.pareto(1.5, hi - lo)
        rows = [
            {
                "id": account_id(i),
                "props": {
                    "network": "simulated",
                    "handle": f"user{i}",
                    "display_name": f"User {i}",
                    "followers": int(f * 100),
                    "influence_log": float(np.log1p(f)),
                },
            }
            for i, f in zip(range(lo, hi), followers.tolist(), strict=True)
        ]
        await write_rows(store, cypher.NODE_CREATE["Account"], rows)
        progress.done = hi
    persons = args.accounts // PERSON_EVERY
    progress.begin("persons + ACCOUNT_OF", persons)
    for lo in range(0, persons, step):
        hi = min(lo + step, persons)
        await write_rows(
            store,
            cypher.NODE_CREATE["Person"],
            [{"id": person_id(i), "props": {"name": f"Person {i}"}} for i in range(lo, hi)],
        )
        links = [
            {
                "src": account_id(i * PERSON_EVERY + k),
                "dst": person_id(i),
                "n": 1,
                "fs": T0,
                "ls": T0,
                "conf": 0.9,
            }
            for i in range(lo, hi)
            for k in (0, 1)
        ]
        await write_rows(store, cypher.EDGE_CREATE["ACCOUNT_OF"], links)
        progress.done = hi


async def load_edges(
    store: GraphStore, args: argparse.Namespace, progress: Progress, edges_total: int
) -> tuple[list[float], EdgeStream]:
    stream = EdgeStream(args.accounts, edges_total, args.uniform, args.seed)
    rates: list[float] = []
    progress.begin("edge upserts", edges_total)
    t = T0
    deadline = time.perf_counter() + args.load_seconds if args.load_seconds else float("inf")
    while progress.done < edges_total and time.perf_counter() < deadline:
        n = min(args.batch * args.writers, edges_total - progress.done)
        by_kind = stream.batch(n, t)
        t += n * 0.001
        rows = sum(len(r) for r in by_kind.values())
        # one transaction per writer; a source account's rows always go to the same writer, so
        # the writers never upsert the same edge (per-key order kept), as keyed partitions would
        parts: list[dict[str, list[dict[str, Any]]]] = [{} for _ in range(args.writers)]
        for kind, kind_rows in by_kind.items():
            for row in kind_rows:
                parts[zlib.crc32(row["src"].encode()) % args.writers].setdefault(kind, []).append(row)

        def work(
            part: dict[str, list[dict[str, Any]]],
        ) -> Callable[[neo4j.AsyncTransaction], Awaitable[None]]:
            async def run(tx: neo4j.AsyncTransaction) -> None:
                for kind, kind_rows in part.items():
                    for i in range(0, len(kind_rows), args.stmt_rows):
                        chunk = kind_rows[i : i + args.stmt_rows]
                        if kind == "AUTHORED":  # a new post and its author, as the store writes them
                            posts = [
                                {"id": r["dst"], "props": {"text": "p", "created_at": r["fs"]}} for r in chunk
                            ]
                            await tx.run(cypher.NODE_CREATE["Post"], rows=posts)
                            await tx.run(cypher.EDGE_CREATE[kind], rows=chunk)
                        else:  # the store's own edge upsert (each row from its sparser end)
                            await store.merge_edges(tx, kind, chunk)

            return run

        started = time.perf_counter()
        await asyncio.gather(*(store.write(work(part)) for part in parts if part))
        rates.append(rows / (time.perf_counter() - started))
        progress.done += n
    return rates, stream


# -- the reads -------------------------------------------------------------------------------------
async def person_360_local(store: GraphStore, pid: str) -> dict[str, Any] | None:
    """This benchmark's own 360 view (used until graph.queries lands): the person, its accounts,
    each account's 20 latest interactions each way and 10 latest posts."""
    rows = await store.read(
        "MATCH (p:Person {id: $id}) OPTIONAL MATCH (a:Account)-[l:ACCOUNT_OF]->(p) "
        "RETURN properties(p) AS person, "
        "collect({id: a.id, props: properties(a), conf: l.confidence}) AS accounts",
        id=pid,
    )
    if not rows:
        return None
    accounts = [a for a in rows[0]["accounts"] if a.get("id") is not None]
    ids = [a["id"] for a in accounts]
    out_rows = await store.read(
        "UNWIND $ids AS id MATCH (a:Account {id: id})-[r]->(o:Account) "
        "WITH a, r, o ORDER BY r.last_seen DESC LIMIT 40 "
        "RETURN a.id AS account, type(r) AS type, o.id AS other, r.count AS count, r.last_seen AS last_seen",
        ids=ids,
    )
    in_rows = await store.read(
        "UNWIND $ids AS id MATCH (a:Account {id: id})<-[r]-(o:Account) "
        "WITH a, r, o ORDER BY r.last_seen DESC LIMIT 40 "
        "RETURN a.id AS account, type(r) AS type, o.id AS other, r.count AS count, r.last_seen AS last_seen",
        ids=ids,
    )
    posts = await store.read(
        "UNWIND $ids AS id MATCH (a:Account {id: id})-[:AUTHORED]->(p:Post) "
        "RETURN p.id AS id, p.text AS text, p.created_at AS created_at ORDER BY p.created_at DESC LIMIT 10",
        ids=ids,
    )
    return {"person": rows[0]["person"], "accounts": accounts, "out": out_rows, "in": in_rows, "posts": posts}


async def ego_network_local(
    store: GraphStore, node_id: str, depth: int = 2, cap: int = 200
) -> dict[str, Any]:
    """This benchmark's own capped depth-2 ego network: at most ``cap`` first-hop neighbours,
    then at most ``cap`` second-hop edges from them."""
    hop1 = await store.read(
        "MATCH (h:Account {id: $id})-[r]-(n:Account) WITH h, r, n LIMIT $cap "
        "RETURN startNode(r).id AS src, endNode(r).id AS dst, type(r) AS type, r.count AS count, "
        "n.id AS id, n.handle AS handle",
        id=node_id,
        cap=cap,
    )
    ids = list(dict.fromkeys(r["id"] for r in hop1))
    hop2: list[dict[str, Any]] = []
    if depth >= 2 and ids:
        hop2 = await store.read(
            "UNWIND $ids AS id MATCH (n:Account {id: id})-[r]-(m:Account) WHERE m.id <> $hub "
            "WITH r, m LIMIT $cap RETURN startNode(r).id AS src, endNode(r).id AS dst, type(r) AS type, "
            "r.count AS count, m.id AS id, m.handle AS handle",
            ids=ids,
            hub=node_id,
            cap=cap,
        )
    nodes = {node_id} | {r["id"] for r in hop1} | {r["id"] for r in hop2}
    return {
        "nodes": sorted(nodes),
        "edges": hop1 + hop2,
        "truncated": len(hop1) >= cap or len(hop2) >= cap,
    }


def query_functions() -> tuple[str, Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]]:
    try:
        queries = importlib.import_module("graph.queries")
        return "graph.queries", queries.person_360, queries.ego_network
    except (ImportError, AttributeError):
        return "benchmark's own Cypher", person_360_local, ego_network_local


async def timed(fn: Callable[..., Awaitable[Any]], *args: Any, **kw: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await fn(*args, **kw)
    return (time.perf_counter() - started) * 1_000, result


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


# -- main ----------------------------------------------------------------------------------------------
def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) of a process: ``pid`` (Linux /proc), or this one when None.
    On a machine shared with other work, wall-clock rates measure the sharing as much as the
    store; CPU-seconds per operation do not, and say what a core would sustain."""
    if pid is None:
        return time.process_time()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


@dataclass
class CpuMeter:
    server_pid: int | None
    marks: dict[str, tuple[float, float]] = field(default_factory=dict)

    def mark(self, name: str) -> None:
        server = cpu_seconds(self.server_pid) if self.server_pid is not None else float("nan")
        self.marks[name] = (server, cpu_seconds(None))

    def spent(self, start: str, end: str) -> tuple[float, float]:
        """(server, client) CPU seconds between two marks."""
        (s0, c0), (s1, c1) = self.marks[start], self.marks[end]
        return s1 - s0, c1 - c0


async def run(settings: Settings, args: argparse.Namespace, server_pid: int | None = None) -> None:
    cpu = CpuMeter(server_pid)
    progress = Progress()
    reporter = asyncio.create_task(report(progress))
    metrics = Metrics.create(CollectorRegistry())
    store = await GraphStore.connect(settings, metrics)
    if args.upsert == "merge":
        store.create_absent_edges = False
    try:
        await store.setup()
        t_nodes = time.perf_counter()
        await load_nodes(store, args, progress, args.seed + 1)
        t_nodes = time.perf_counter() - t_nodes
        links = 2 * (args.accounts // PERSON_EVERY)
        edges_total = max(0, args.edges - links)
        t_edges = time.perf_counter()
        cpu.mark("edges")
        rates, stream = await load_edges(store, args, progress, edges_total)
        cpu.mark("edges done")
        t_edges = time.perf_counter() - t_edges
        loaded = progress.done
        progress.begin("reads", 0)
        which, person_360, ego_network = query_functions()
        rng = np.random.default_rng(args.seed + 2)
        hubs = np.argsort(stream.degree)[::-1][: args.hubs].tolist()
        owned = args.accounts // PERSON_EVERY
        hub_persons = sorted(
            {h // PERSON_EVERY for h in hubs if h % PERSON_EVERY < 2 and h // PERSON_EVERY < owned}
        )
        persons = rng.integers(0, args.accounts // PERSON_EVERY, args.views).tolist()
        for pid in persons[:20]:  # warm-up (JIT, caches): not timed
            await person_360(store, person_id(pid))
        cpu.mark("views")
        view_ms = [(await timed(person_360, store, person_id(p)))[0] for p in persons]
        cpu.mark("views done")
        hub_view_ms = [(await timed(person_360, store, person_id(p)))[0] for p in hub_persons]
        progress.phase = "ego networks"
        cpu.mark("egos")
        ego_ms: list[float] = []
        sizes: list[int] = []
        for _ in range(args.rounds):
            for h in hubs:
                ms, ego = await timed(ego_network, store, account_id(h), depth=2, cap=args.cap)
                ego_ms.append(ms)
                sizes.append(len(ego["nodes"]))
        cpu.mark("egos done")
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        await store.close()

    deg = stream.degree
    median_rate = statistics.median(rates) if rates else 0.0
    overall = loaded / t_edges if t_edges else 0.0
    retries = metrics.graph_write_retries._value.get()
    view95, hub95, ego95 = pct(view_ms, 95), pct(hub_view_ms, 95), pct(ego_ms, 95)

    def verdict(ok: bool) -> str:
        return "MET" if ok else "NOT MET"

    e_srv, e_cli = cpu.spent("edges", "edges done")
    v_srv, v_cli = cpu.spent("views", "views done")
    g_srv, g_cli = cpu.spent("egos", "egos done")
    nv, ng = max(1, len(view_ms)), max(1, len(ego_ms))
    lines = [
        "",
        f"graph: {args.accounts:,} accounts, {owned:,} persons, {stream.posts:,} posts; "
        f"{loaded + links:,} edge upserts ({links:,} ACCOUNT_OF + {loaded:,} in batches)"
        + (
            ""
            if loaded >= edges_total
            else f": PARTIAL, the --load-seconds budget ended the load at {loaded:,} of {edges_total:,}"
        ),
        f"degree (account-account): max {int(deg.max()):,}, top-{args.hubs} hubs "
        f"{int(deg[hubs[-1]]):,}..{int(deg[hubs[0]]):,}, median {float(np.median(deg)):.0f}",
        f"node load: {t_nodes:,.0f}s; edge load: {t_edges:,.0f}s",
        f"edge upserts ({'MERGE' if args.upsert == 'merge' else 'the store own way'})/s: "
        f"median of {len(rates)} batches of {args.batch:,} x {args.writers} writer(s): "
        f"{median_rate:,.0f} (p10 {pct(rates, 10):,.0f}, p90 {pct(rates, 90):,.0f}); "
        f"overall {overall:,.0f}/s; {retries:.0f} retried transactions "
        f"-> goal >= {UPSERT_GOAL:,.0f}: {verdict(median_rate >= UPSERT_GOAL)}",
        f"edge upserts per CPU-second: {loaded / e_srv if e_srv else float('nan'):,.0f} of the store's, "
        f"{loaded / (e_srv + e_cli) if e_srv + e_cli else float('nan'):,.0f} of store + client "
        f"(store {e_srv:,.0f} s, client {e_cli:,.0f} s of CPU for {t_edges:,.0f} s of wall clock)",
        f"queries measured: {which}",
        f"person 360, {len(view_ms)} random persons: p50 {pct(view_ms, 50):.1f} ms, p95 {view95:.1f} ms "
        f"-> goal p95 <= {VIEW_GOAL_MS:.0f} ms: {verdict(view95 <= VIEW_GOAL_MS)}; CPU per view "
        f"{1000 * v_srv / nv:.1f} ms store + {1000 * v_cli / nv:.1f} ms client",
        f"person 360, {len(hub_view_ms)} persons owning a top hub: p50 {pct(hub_view_ms, 50):.1f} ms, "
        f"p95 {hub95:.1f} ms",
        f"ego network depth 2 cap {args.cap}, {args.hubs} hubs x {args.rounds} rounds: "
        f"p50 {pct(ego_ms, 50):.1f} ms, p95 {ego95:.1f} ms "
        f"(median {statistics.median(sizes) if sizes else 0:.0f} nodes) "
        f"-> goal p95 <= {EGO_GOAL_MS:.0f} ms: {verdict(ego95 <= EGO_GOAL_MS)}; CPU per ego network "
        f"{1000 * g_srv / ng:.1f} ms store + {1000 * g_cli / ng:.1f} ms client",
        f"machine load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
    ]
    print("\n".join(lines), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--edges", type=int, default=5_000_000)
    parser.add_argument("--batch", type=int, default=2_000, help="edge rows per transaction")
    parser.add_argument("--writers", type=int, default=1, help="concurrent write transactions")
    parser.add_argument("--stmt-rows", type=int, default=1_000, help="rows per UNWIND statement")
    parser.add_argument("--uniform", type=float, default=0.1, help="share of uniformly drawn endpoints")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--upsert",
        choices=("auto", "merge"),
        default="auto",
        help="edge upserts the store's own way (embedded, busy ends: CREATE if absent, else update) or MERGE",
    )
    parser.add_argument("--views", type=int, default=200)
    parser.add_argument("--hubs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cap", type=int, default=200)
    parser.add_argument("--heap", default="6g")
    parser.add_argument(
        "--load-seconds", type=float, default=0.0, help="stop loading edges after this long (0: load all)"
    )
    parser.add_argument("--data-dir", type=Path, help="keep the embedded store here (default: a temp dir)")
    parser.add_argument("--uri", default="", help="an existing Bolt store (Neo4j): a DISPOSABLE database")
    parser.add_argument("--user", default="neo4j")
    parser.add_argument("--database", default="neo4j")
    args = parser.parse_args()
    if args.uri:
        settings = Settings(
            graph_uri=args.uri,
            graph_user=args.user,
            graph_password=SecretStr(os.environ.get("NEO4J_PASSWORD", "neo4j")),
            graph_database=args.database,
        )
        asyncio.run(run(settings, args))
        return
    with tempfile.TemporaryDirectory(prefix="gs-scale-") as tmp:
        data_dir = args.data_dir or Path(tmp)
        settings = Settings(
            data_dir=data_dir,
            arcadedb_http_port=free_port(),
            arcadedb_bolt_port=free_port(),
            arcadedb_heap=args.heap,
        )
        print(f"starting embedded ArcadeDB (heap {args.heap}) in {data_dir}", flush=True)
        proc = spawn(settings, timeout=300.0)
        print(f"ArcadeDB pid {proc.pid}", flush=True)
        try:
            asyncio.run(run(settings, args, proc.pid))
        finally:
            stop_spawned(proc, timeout=120.0)


if __name__ == "__main__":
    main()
