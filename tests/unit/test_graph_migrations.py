"""graph.migrations: the registry's rules (pure; applying them is in the graph conformance suite)."""

from __future__ import annotations

import pytest

from graph import migrations
from graph.migrations import MigrationError, MigrationState, MigrationStatus, format_status, register


def test_graph_migrations_are_registered_in_order_with_stable_checksums() -> None:
    found = migrations.registered()
    assert [m.version for m in found] == sorted(m.version for m in found)
    first = found[0]
    assert (first.version, first.owner, first.ledger_id) == (1, "graph", "migration:000001")
    assert any("account_id" in s for s in first.statements)
    assert first.checksum == migrations.Migration(1, "renamed", first.statements).checksum  # statements only
    spaced = tuple("  " + s.replace(" ", "   ") for s in first.statements)
    assert migrations.Migration(1, first.name, spaced).checksum == first.checksum  # whitespace-blind


def test_registering_the_same_migration_again_is_a_no_op() -> None:
    first = migrations.registered()[0]
    assert register(first.version, first.name, first.statements) == first


def test_a_taken_version_is_refused() -> None:
    with pytest.raises(MigrationError, match="taken by graph"):
        register(1, "identity: customers", ["CREATE INDEX x IF NOT EXISTS FOR (n:Customer) ON (n.email)"])


@pytest.mark.parametrize(
    ("version", "name", "statements", "message"),
    [
        (0, "zero", ["MATCH (n) RETURN n"], "positive int"),
        (True, "bool", ["MATCH (n) RETURN n"], "positive int"),
        (5, " ", ["MATCH (n) RETURN n"], "needs a name"),
        (5, "empty", ["  "], "no statements"),
        (5, "bare create", ["CREATE INDEX i FOR (n:A) ON (n.x)"], "IF NOT EXISTS"),
        (5, "bare constraint", ["create constraint c for (n:A) require n.id is unique"], "IF NOT EXISTS"),
        (5, "bare drop", ["DROP INDEX i"], "IF EXISTS"),
    ],
)
def test_migrations_that_are_not_idempotent_or_malformed_are_refused(
    version: int, name: str, statements: list[str], message: str
) -> None:
    with pytest.raises(MigrationError, match=message):
        register(version, name, statements)
    assert version not in {m.version for m in migrations.registered()} or version == 1


def test_status_table() -> None:
    table = format_status(
        [
            MigrationStatus(1, "unique ids", "graph", MigrationState.APPLIED, 0.0),
            MigrationStatus(100, "customers", "identity", MigrationState.PENDING),
        ]
    )
    lines = table.splitlines()
    assert lines[0].split() == ["version", "state", "owner", "applied", "at", "(UTC)", "name"]
    assert lines[1].split()[:3] == ["1", "applied", "graph"] and "1970-01-01 00:00:00" in lines[1]
    assert lines[2].split() == ["100", "pending", "identity", "-", "customers"]
