"""How the embedded store finds nodes for a batch of rows: by an indexed key, or by record id.

Every edge statement of the write path looks its two endpoints up by ``id`` (a unique index) and
at 1M accounts those lookups were ~23 % of the store's write CPU (JFR, ``benchmarks/RESULTS.md``).
This measures the alternative, a seek by record id (``id(n)`` / ``elementId(n)``), on a fresh
embedded ArcadeDB: a batch of rows looked up each way, medians side by side, plus the single-row
form WITH a label, which ArcadeDB plans as a scan of the label (the trap to avoid).

    python -m benchmarks.graph_node_seek [--nodes 200000] [--rows 5000] [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import neo4j

from benchmarks._scratch_store import scratch_store

BATCH_QUERIES = {
    "indexed key": "UNWIND $rows AS r MATCH (n:Probe {pid: r.pid}) RETURN count(n) AS c",
    "id(n), no label": "UNWIND $rows AS r MATCH (n) WHERE id(n) = r.rid RETURN count(n) AS c",
    "elementId(n), no label": "UNWIND $rows AS r MATCH (n) WHERE elementId(n) = r.eid RETURN count(n) AS c",
    "elementId(n) + key guard": (
        "UNWIND $rows AS r MATCH (n) WHERE elementId(n) = r.eid AND n.pid = r.pid RETURN count(n) AS c"
    ),
}
ONE_ROW_QUERIES = {
    "id(n), no label": "MATCH (n) WHERE id(n) = $rid RETURN n.pid AS pid",
    "id(n) WITH label": "MATCH (n:Probe) WHERE id(n) = $rid RETURN n.pid AS pid",
}


def timed(driver: neo4j.Driver, db: str, query: str, runs: int, **params: Any) -> tuple[float, Any]:
    times: list[float] = []
    result: Any = None
    for _ in range(runs):
        started = time.perf_counter()
        records, _, _ = driver.execute_query(query, database_=db, **params)
        times.append((time.perf_counter() - started) * 1000)
        result = records[0][0] if records else None
    return statistics.median(times), result


def measure(driver: neo4j.Driver, db: str, args: argparse.Namespace) -> None:
    driver.execute_query(
        "CREATE CONSTRAINT probe_pid IF NOT EXISTS FOR (n:Probe) REQUIRE n.pid IS UNIQUE", database_=db
    )
    step = 10_000
    for lo in range(0, args.nodes, step):
        ids = list(range(lo, min(lo + step, args.nodes)))
        driver.execute_query("UNWIND $ids AS i CREATE (n:Probe {pid: i})", ids=ids, database_=db)
        print(f"nodes: {lo + len(ids):,}/{args.nodes:,}", flush=True)
    records, _, _ = driver.execute_query(
        "MATCH (n:Probe) WHERE n.pid < $k "
        "RETURN collect({pid: n.pid, rid: id(n), eid: elementId(n)}) AS rows",
        k=args.rows,
        database_=db,
    )
    rows = records[0]["rows"]
    print(f"\n{args.nodes:,} Probe nodes; a batch of {len(rows):,} rows, median of {args.runs} runs each")
    for name, query in BATCH_QUERIES.items():
        ms, found = timed(driver, db, query, args.runs, rows=rows)
        print(f"  batch lookup by {name:<24} {ms:8.1f} ms  ({found:,} found)")
    for name, query in ONE_ROW_QUERIES.items():
        ms, found = timed(driver, db, query, args.runs, rid=rows[-1]["rid"])
        print(f"  one row by {name:<28} {ms:8.1f} ms  (pid {found})")
    # a cached record id whose node was deleted: the seek must find nothing (not fail)
    gone = rows[0]
    driver.execute_query("MATCH (n:Probe {pid: $pid}) DETACH DELETE n", pid=gone["pid"], database_=db)
    _, found = timed(driver, db, BATCH_QUERIES["elementId(n), no label"], 1, rows=[gone])
    print(f"  a deleted node's elementId finds {found or 0} node(s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=200_000)
    parser.add_argument("--rows", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--heap", default="2g")
    args = parser.parse_args(argv)
    with scratch_store(args.heap, "gs-seek-") as settings:
        auth = (settings.graph_user, settings.graph_password.get_secret_value())
        with neo4j.GraphDatabase.driver(settings.effective_graph_uri, auth=auth) as driver:
            measure(driver, settings.graph_database, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
