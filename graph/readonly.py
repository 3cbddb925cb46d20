"""Read-only Cypher for power users: checked, READ access mode, timed out, row-capped, rolled back.

Defences, each enough on its own for the common case:

1. ``graph.query_guard.check_read_only`` refuses write and admin clauses, procedures and more than
   one statement before anything is sent;
2. the transaction is opened in READ access mode with a server-side timeout (Neo4j enforces both;
   ArcadeDB's Bolt plugin enforces neither, hence the others);
3. the transaction is always rolled back, never committed: on ArcadeDB a write that got past (1)
   is undone (measured: ``CREATE`` in a READ transaction then rollback leaves nothing);
4. a client-side deadline (``timeout_s``) abandons the query and closes its connection, and at
   most ``row_limit`` records are read (``truncated`` tells when more were there).

The caller's parameters are sent as Bolt parameters, never spliced into the text.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections.abc import Mapping
from typing import Any

import neo4j
from neo4j.exceptions import Neo4jError

from graph.query_graph import QueryError
from graph.query_guard import check_read_only
from graph.store import GraphStore

MAX_ROW_LIMIT = 10_000
MAX_TIMEOUT_S = 120.0
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class QueryTimeout(Exception):
    """The query ran past its deadline and was abandoned."""


class QueryFailed(Exception):
    """The store refused the query (syntax, semantics): the message is the store's."""


def json_safe(value: Any, depth: int = 0) -> Any:
    """Record values as JSON: nodes and relationships become their properties (plus labels / type),
    other driver types their string form, non-finite floats None."""
    if depth > 20:
        return str(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, neo4j.graph.Node):
        return {"labels": sorted(value.labels), "properties": json_safe(dict(value), depth + 1)}
    if isinstance(value, neo4j.graph.Relationship):
        return {"type": value.type, "properties": json_safe(dict(value), depth + 1)}
    if isinstance(value, neo4j.graph.Path):
        return {
            "nodes": [json_safe(n, depth + 1) for n in value.nodes],
            "relationships": [json_safe(r, depth + 1) for r in value.relationships],
        }
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value]
    return str(value)


def _check_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise QueryError("params must be an object")
    if len(params) > 100:
        raise QueryError("at most 100 parameters")
    for k in params:
        if not isinstance(k, str) or not _PARAM_NAME.fullmatch(k):
            raise QueryError(f"bad parameter name {str(k)[:70]!r}")
    return dict(params)


async def readonly_cypher(
    store: GraphStore,
    text: str,
    params: Mapping[str, Any] | None = None,
    timeout_s: float = 10.0,
    row_limit: int = 1_000,
) -> dict[str, Any]:
    """``{"columns", "rows", "truncated", "elapsed_s"}``; raises ``ReadOnlyViolation`` (refused),
    ``QueryError`` (bad arguments), ``QueryFailed`` (the store's error), ``QueryTimeout``."""
    statement = check_read_only(text)
    values = _check_params(params)
    if isinstance(row_limit, bool) or not isinstance(row_limit, int) or not 1 <= row_limit <= MAX_ROW_LIMIT:
        raise QueryError(f"row_limit must be an integer in [1, {MAX_ROW_LIMIT}]")
    if not isinstance(timeout_s, int | float) or not 0 < timeout_s <= MAX_TIMEOUT_S:
        raise QueryError(f"timeout_s must be in (0, {MAX_TIMEOUT_S}]")
    started = time.perf_counter()

    async def run(
        driver: neo4j.AsyncDriver, database: str | None
    ) -> tuple[list[str], list[dict[str, Any]], bool]:
        # the store's driver: this needs a transaction it never commits
        async with driver.session(database=database, default_access_mode=neo4j.READ_ACCESS) as session:
            tx = await session.begin_transaction(timeout=timeout_s)
            try:
                result = await tx.run(statement, values)
                keys = list(result.keys())
                rows: list[dict[str, Any]] = []
                truncated = False
                async for record in result:
                    if len(rows) >= row_limit:
                        truncated = True
                        break
                    rows.append({k: json_safe(record[k]) for k in keys})
                return keys, rows, truncated
            finally:
                with contextlib.suppress(Exception):  # the query's own error is the one to see
                    await tx.rollback()

    try:
        async with asyncio.timeout(timeout_s):
            columns, rows, truncated = await store.with_driver(run)
    except TimeoutError as exc:
        raise QueryTimeout(f"query abandoned after {timeout_s:g} s") from exc
    except Neo4jError as exc:
        code = exc.code or ""
        if "TimedOut" in code or "Terminated" in code:
            raise QueryTimeout(f"query stopped by the store after {timeout_s:g} s") from exc
        raise QueryFailed(exc.message or str(exc)) from exc
    return {
        "columns": columns,
        "rows": rows,
        "truncated": truncated,
        "elapsed_s": round(time.perf_counter() - started, 4),
    }
