"""The Cypher the graph store runs: statement templates (the schema is in ``graph.migrations``).

Built once at import from the fixed whitelists in ``graph.plan`` (labels, relationship types):
no value is ever formatted into a statement; every value is a parameter (``$rows``, ``$ids``).
Everything here runs unchanged on ArcadeDB (Bolt plugin) and Neo4j 5.
"""

from __future__ import annotations

from graph.plan import EDGE_KINDS, NODE_LABELS

# MERGE of a new node costs ~10x a CREATE on ArcadeDB: look up which ids exist, CREATE the rest
# (a concurrent writer creating the same id makes the unique constraint fail the transaction,
# which is retried), SET the properties of the existing ones.
# (one collected record, not one record per row: ArcadeDB streams records slowly over Bolt)
NODE_EXISTING = {
    label: f"UNWIND $ids AS id MATCH (n:{label} {{id: id}}) RETURN collect(n.id) AS ids"
    for label in NODE_LABELS
}
ACCOUNT_EXISTING = "UNWIND $ids AS id MATCH (n:Account {id: id}) RETURN collect(properties(n)) AS props"
NODE_CREATE = {
    label: f"UNWIND $rows AS r CREATE (n:{label} {{id: r.id}}) SET n += r.props" for label in NODE_LABELS
}
NODE_UPDATE = {
    label: f"UNWIND $rows AS r MATCH (n:{label} {{id: r.id}}) SET n += r.props" for label in NODE_LABELS
}
# Dense nodes. ArcadeDB expands a MERGE (and a MATCH between two bound nodes) from the node
# written first in the pattern, reading its edges one by one: a MERGE from a hub with 20,000
# edges took ~60 ms a row, the same MERGE written from the other end well under 1 ms. Every node
# therefore keeps ``degree``, the number of relationships the store created on it minus those
# it deleted (a hint only, never a result: nodes written before it existed start from 0), and
# each row expands from its end of lower degree. One statement does both orientations, one
# FOREACH each, with only one of them non-empty per row (Neo4j picks its own side and is
# indifferent). Counting only what the store itself creates keeps it exact for its own writes.
_DEGREE_UP = "s.degree = coalesce(s.degree, 0) + 1, t.degree = coalesce(t.degree, 0) + 1"
_FROM_SOURCE = "coalesce(s.degree, 0) <= coalesce(t.degree, 0)"


def _merge_clause(kind: str, rel: str, pattern: str) -> str:
    conf = kind == "ACCOUNT_OF"
    return (
        f"MERGE {pattern} "
        "ON CREATE SET e.count = r.n, e.first_seen = r.fs, e.last_seen = r.ls, "
        + _DEGREE_UP
        + (", e.confidence = r.conf" if conf else "")
        + " ON MATCH SET e.count = e.count + r.n, "
        "e.first_seen = CASE WHEN r.fs < e.first_seen THEN r.fs ELSE e.first_seen END, "
        "e.last_seen = CASE WHEN r.ls > e.last_seen THEN r.ls ELSE e.last_seen END"
        + (
            ", e.confidence = CASE WHEN r.conf > e.confidence THEN r.conf ELSE e.confidence END"
            if conf
            else ""
        )
    )


EDGE_MERGE = {
    kind: (
        f"UNWIND $rows AS r MATCH (s:{spec.src_label} {{id: r.src}}) "
        f"MATCH (t:{spec.dst_label} {{id: r.dst}}) "
        f"WITH r, s, t, {_FROM_SOURCE} AS fwd "
        "FOREACH (_ IN CASE WHEN fwd THEN [1] ELSE [] END | "
        + _merge_clause(kind, spec.rel_type, f"(s)-[e:{spec.rel_type}]->(t)")
        + ") FOREACH (_ IN CASE WHEN fwd THEN [] ELSE [1] END | "
        + _merge_clause(kind, spec.rel_type, f"(t)<-[e:{spec.rel_type}]-(s)")
        + ")"
    )
    for kind, spec in EDGE_KINDS.items()
}
EDGE_CREATE = {
    kind: (
        f"UNWIND $rows AS r MATCH (s:{spec.src_label} {{id: r.src}}) "
        f"MATCH (t:{spec.dst_label} {{id: r.dst}}) "
        f"CREATE (s)-[e:{spec.rel_type}]->(t) SET e.count = r.n, e.first_seen = r.fs, e.last_seen = r.ls, "
        + _DEGREE_UP
        + (", e.confidence = r.conf" if kind == "ACCOUNT_OF" else "")
    )
    for kind, spec in EDGE_KINDS.items()
}
#: per kind, two statements (run both): rows with ``r.fwd`` expand from the source, the others
#: from the target. ``fwd`` is decided before either runs (``DEGREES``), so that a deletion in the
#: first statement, which lowers degrees, cannot move a row into the second as well.
EDGE_DECREMENT = {
    kind: tuple(
        f"UNWIND $rows AS r WITH r WHERE {'' if fwd else 'NOT '}r.fwd "
        f"MATCH (s:{spec.src_label} {{id: r.src}}) MATCH (t:{spec.dst_label} {{id: r.dst}}) "
        f"MATCH {pattern} SET e.count = e.count - r.n "
        "WITH s, t, e WHERE e.count <= 0 "
        "SET s.degree = coalesce(s.degree, 1) - 1, t.degree = coalesce(t.degree, 1) - 1 DELETE e"
        for fwd, pattern in (
            (True, f"(s)-[e:{spec.rel_type}]->(t)"),
            (False, f"(t)<-[e:{spec.rel_type}]-(s)"),
        )
    )
    for kind, spec in EDGE_KINDS.items()
}
#: the ``degree`` hint of nodes of a label (missing nodes are left out)
DEGREES = {
    label: (
        f"UNWIND $ids AS id MATCH (n:{label} {{id: id}}) RETURN collect([n.id, coalesce(n.degree, 0)]) AS d"
    )
    for label in NODE_LABELS
}
EVENT_CREATE = (
    "UNWIND $rows AS r CREATE (e:Event {id: r.id}) SET e.kind = r.kind, e.at = r.at, "
    "e.edge_kinds = r.ek, e.edge_srcs = r.es, e.edge_dsts = r.ed, e.undone = false, e += r.props"
)
