"""Versioned graph schema migrations (constraints, indexes), applied at start.

A migration is a version, a name and idempotent statements (``CREATE ... IF NOT EXISTS``,
``DROP ... IF EXISTS``, or data statements written to be re-runnable). Every migration that ran
is recorded as its own ``(:SchemaVersion {id: "migration:<version>"})`` node with its checksum, so:

- packages contribute migrations in code (``register``) in any import order: a migration is
  applied when it is not recorded, not when its version is above a high-water mark, so a lower
  version registered later is not skipped;
- concurrent starts (several workers and the API at once) are safe: each statement is
  idempotent, and two processes recording the same migration meet on the unique constraint on
  ``SchemaVersion.id``; the loser's error is retried by the caller (``GraphStore.setup``) and
  finds it recorded;
- ``status`` shows what is applied, pending, changed since it was applied (checksum drift), or
  recorded by code this process does not have (a newer release ran).

Versions order the application. Ranges by owner keep them apart: graph 1-99, identity 100-199,
alerts/priority 200-299, api 300-399, others from 1000. ``SchemaVersion {id: 'graph'}.version``
keeps the highest applied version (what ``GraphStore.schema_version`` reports).

Everything here runs unchanged on ArcadeDB and Neo4j 5 (see ../shared/DESIGN.md, "Cypher that
works on both").
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from graph.plan import NODE_LABELS

if TYPE_CHECKING:
    from groundswell.settings import Settings

#: modules that register migrations when imported (``register`` at module level); imported by
#: ``registered()`` so that every process (worker, API, CLI) applies the same set. A module named
#: here that cannot be imported is an error, never silently skipped.
CONTRIBUTORS: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Contribution:
    """Schema statements a package keeps next to its own code (``module.attribute``, a tuple of
    idempotent statements), registered as migration ``version`` when ``registered()`` runs (lazily:
    those modules import the store, which imports this one). To change one once applied, add a new
    contribution with a new version: an edited one shows as ``changed`` in ``status``."""

    version: int
    name: str
    module: str
    attribute: str
    owner: str


CONTRIBUTIONS: tuple[Contribution, ...] = (
    Contribution(
        100, "persons, review items, manual rules", "identity.persons", "IDENTITY_SCHEMA", "identity"
    ),
)

#: the ledger shares the label of the ``SchemaVersion {id: 'graph'}`` summary node, which graph
#: wipes (tests, resets) keep: wiping the data must not make the schema look unapplied
LEDGER_LABEL = "SchemaVersion"
LEDGER_PREFIX = "migration:"
#: runs before anything else: the ledger's own constraint is what makes concurrent recording safe
#: (the same definition as in migration 1, so the name is the same)
BOOTSTRAP = (
    f"CREATE CONSTRAINT schemaversion_id IF NOT EXISTS FOR (n:{LEDGER_LABEL}) REQUIRE n.id IS UNIQUE",
)

_SCHEMA_DDL = re.compile(r"^\s*(CREATE|DROP)\s+(CONSTRAINT|INDEX)\b", re.I)
_IF_NOT_EXISTS = re.compile(r"\bIF\s+NOT\s+EXISTS\b", re.I)
_IF_EXISTS = re.compile(r"\bIF\s+EXISTS\b", re.I)


class MigrationError(ValueError):
    """A migration that cannot be registered (not idempotent, or a version taken by another)."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]
    owner: str = "graph"

    @property
    def ledger_id(self) -> str:
        return f"{LEDGER_PREFIX}{self.version:06d}"

    @property
    def checksum(self) -> str:
        """Of the statements as run (whitespace-normalised): a changed migration shows in status."""
        text = "\n".join(" ".join(s.split()) for s in self.statements)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class MigrationState(StrEnum):
    APPLIED = "applied"
    PENDING = "pending"
    CHANGED = "changed"  # recorded with another checksum: edited after it ran (write a new one)
    UNKNOWN = "unknown"  # recorded, but this code does not register it (a newer release ran)


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    version: int
    name: str
    owner: str
    state: MigrationState
    applied_at: float | None = None


class SchemaTarget(Protocol):
    """What migrations need from a store (``GraphStore`` fits): reads, and auto-commit
    statements (schema DDL cannot share a transaction with data writes on Neo4j)."""

    async def read(self, query: str, **params: Any) -> list[dict[str, Any]]: ...
    async def execute(self, query: str, **params: Any) -> None: ...


def _check(version: int, name: str, statements: Sequence[str]) -> tuple[str, ...]:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise MigrationError(f"migration version must be a positive int, not {version!r}")
    if not name.strip():
        raise MigrationError(f"migration {version} needs a name")
    out = tuple(s.strip() for s in statements if s.strip())
    if not out:
        raise MigrationError(f"migration {version} ({name}) has no statements")
    for s in out:
        ddl = _SCHEMA_DDL.match(s)
        if ddl is None:
            continue
        needed = _IF_NOT_EXISTS if ddl.group(1).upper() == "CREATE" else _IF_EXISTS
        if not needed.search(s):
            word = "IF NOT EXISTS" if ddl.group(1).upper() == "CREATE" else "IF EXISTS"
            raise MigrationError(f"migration {version} ({name}): schema statement without {word}: {s!r}")
    return out


_REGISTRY: dict[int, Migration] = {}


def register(version: int, name: str, statements: Sequence[str], *, owner: str = "graph") -> Migration:
    """Add a migration to this process's registry (call at import time of the owning module and
    list that module in ``CONTRIBUTORS``). Registering the same migration again is a no-op; a
    different one under a taken version is an error."""
    migration = Migration(version, name.strip(), _check(version, name, statements), owner)
    taken = _REGISTRY.get(version)
    if taken is not None and taken != migration:
        raise MigrationError(
            f"migration version {version} is taken by {taken.owner}:{taken.name!r}; "
            f"{owner}:{name!r} needs another"
        )
    _REGISTRY[version] = migration
    return migration


def registered() -> list[Migration]:
    """Every registered migration (the contributors imported first), in version order."""
    for module in CONTRIBUTORS:
        importlib.import_module(module)
    for c in CONTRIBUTIONS:
        statements = getattr(importlib.import_module(c.module), c.attribute)
        register(c.version, c.name, tuple(statements), owner=c.owner)
    return sorted(_REGISTRY.values(), key=lambda m: m.version)


# -- the graph's own migrations -----------------------------------------------------------------
register(
    1,
    "unique ids and the influence index",
    (
        *(
            f"CREATE CONSTRAINT {label.lower()}_id IF NOT EXISTS FOR (n:{label}) REQUIRE n.id IS UNIQUE"
            for label in (*NODE_LABELS, "SchemaVersion")
        ),
        "CREATE INDEX account_influence IF NOT EXISTS FOR (n:Account) ON (n.influence_log)",
    ),
)

#: the highest version the graph package itself defines
GRAPH_SCHEMA_VERSION = max(m.version for m in _REGISTRY.values() if m.owner == "graph")


# -- applying ------------------------------------------------------------------------------------
async def recorded(target: SchemaTarget) -> dict[str, dict[str, Any]]:
    """The ledger: ledger id -> {version, name, checksum, applied_at}."""
    rows = await target.read(
        f"MATCH (m:{LEDGER_LABEL}) WHERE m.id STARTS WITH $prefix "
        "RETURN m.id AS id, m.version AS version, m.name AS name, m.checksum AS checksum, "
        "m.applied_at AS applied_at, m.owner AS owner",
        prefix=LEDGER_PREFIX,
    )
    return {str(r["id"]): r for r in rows}


async def status(
    target: SchemaTarget, migrations: Sequence[Migration] | None = None
) -> list[MigrationStatus]:
    """Each registered migration's state, then recorded ones this code does not know."""
    wanted = list(migrations) if migrations is not None else registered()
    ledger = await recorded(target)
    out: list[MigrationStatus] = []
    for m in wanted:
        row = ledger.pop(m.ledger_id, None)
        if row is None:
            out.append(MigrationStatus(m.version, m.name, m.owner, MigrationState.PENDING))
            continue
        state = MigrationState.APPLIED if row["checksum"] == m.checksum else MigrationState.CHANGED
        out.append(MigrationStatus(m.version, m.name, m.owner, state, _float(row["applied_at"])))
    for row in ledger.values():
        out.append(
            MigrationStatus(
                int(row["version"] or 0),
                str(row["name"] or ""),
                str(row["owner"] or ""),
                MigrationState.UNKNOWN,
                _float(row["applied_at"]),
            )
        )
    return sorted(out, key=lambda s: s.version)


async def apply(
    target: SchemaTarget,
    migrations: Sequence[Migration] | None = None,
    clock: Callable[[], float] = time.time,
) -> list[Migration]:
    """Run the migrations not recorded yet, in version order, recording each after its
    statements ran. -> the ones this call ran. Safe to run concurrently (see the module doc):
    a lost race on a record raises ConstraintValidationFailed, which the caller retries."""
    wanted = list(migrations) if migrations is not None else registered()
    for statement in BOOTSTRAP:
        await target.execute(statement)
    ledger = await recorded(target)
    ran: list[Migration] = []
    for m in sorted(wanted, key=lambda m: m.version):
        if m.ledger_id in ledger:
            continue
        for statement in m.statements:
            await target.execute(statement)
        # CREATE, not MERGE: a concurrent start that recorded it first makes this fail on the
        # unique constraint (retried by the caller), rather than two processes both "applying" it
        await target.execute(
            f"CREATE (m:{LEDGER_LABEL} {{id: $id}}) SET m.version = $version, m.name = $name, "
            "m.owner = $owner, m.checksum = $checksum, m.applied_at = $at",
            id=m.ledger_id,
            version=m.version,
            name=m.name,
            owner=m.owner,
            checksum=m.checksum,
            at=clock(),
        )
        ran.append(m)
    if ran:
        top = max(m.version for m in ran)
        await target.execute(
            "MERGE (s:SchemaVersion {id: 'graph'}) WITH s "
            "WHERE s.version IS NULL OR s.version < $v SET s.version = $v, s.updated_at = $at",
            v=top,
            at=clock(),
        )
    return ran


def format_status(states: Iterable[MigrationStatus]) -> str:
    """A table for ``groundswell graph migrate --status``."""
    lines = [f"{'version':>7}  {'state':<8}  {'owner':<10}  {'applied at (UTC)':<19}  name"]
    for s in states:
        at = "-" if s.applied_at is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s.applied_at))
        lines.append(f"{s.version:>7}  {s.state.value:<8}  {s.owner:<10}  {at:<19}  {s.name}")
    return "\n".join(lines)


def _float(v: Any) -> float | None:
    return float(v) if v is not None else None


# -- command line (until ``groundswell graph migrate`` wires the same two functions) -------------
async def run_cli(show_status: bool, settings: Settings | None = None) -> int:
    """``--status``: print the table, exit 1 if anything is pending or changed; else migrate
    and print the table. -> the exit status."""
    from graph.store import GraphStore
    from groundswell.settings import Settings

    store = await GraphStore.connect(settings or Settings())
    try:
        if not show_status:
            await store.setup()
        states = await status(store)
    finally:
        await store.close()
    print(format_status(states))
    return int(any(s.state in (MigrationState.PENDING, MigrationState.CHANGED) for s in states))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Apply (or show) the graph schema migrations")
    parser.add_argument("--status", action="store_true", help="show each migration's state; change nothing")
    args = parser.parse_args(argv)
    raise SystemExit(asyncio.run(run_cli(args.status)))


if __name__ == "__main__":
    main()
