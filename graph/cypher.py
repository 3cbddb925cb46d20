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
# edges took ~60 ms a row, the same MERGE written from the other end well under 1 ms. So each
# edge statement exists twice, expanding from the source (index 0) or from the target (index 1),
# and the store sends each row to the one that starts from its sparser end (``graph.plan.
# EndpointFrequency``). Neo4j picks its own side and is indifferent.
def _on_match(conf: bool) -> str:
    """The SET of an edge upsert that met an existing edge: add the count, widen first/last seen
    (and keep the highest link confidence)."""
    keep_highest = "CASE WHEN r.conf > e.confidence THEN r.conf ELSE e.confidence END"
    return (
        "e.count = e.count + r.n, "
        "e.first_seen = CASE WHEN r.fs < e.first_seen THEN r.fs ELSE e.first_seen END, "
        "e.last_seen = CASE WHEN r.ls > e.last_seen THEN r.ls ELSE e.last_seen END"
        + (f", e.confidence = {keep_highest}" if conf else "")
    )


def _on_create(conf: bool) -> str:
    """The SET of a new edge: its count, first/last seen (and the link confidence)."""
    return "e.count = r.n, e.first_seen = r.fs, e.last_seen = r.ls" + (
        ", e.confidence = r.conf" if conf else ""
    )


def _endpoints(kind: str) -> str:
    spec = EDGE_KINDS[kind]
    return (
        f"UNWIND $rows AS r MATCH (s:{spec.src_label} {{id: r.src}}) "
        f"MATCH (t:{spec.dst_label} {{id: r.dst}}) "
    )


def _merge(kind: str, pattern: str) -> str:
    conf = kind == "ACCOUNT_OF"
    return (
        _endpoints(kind)
        + f"MERGE {pattern} ON CREATE SET "
        + _on_create(conf)
        + " ON MATCH SET "
        + _on_match(conf)
    )


def _update(kind: str, pattern: str) -> str:
    return _endpoints(kind) + f"MATCH {pattern} SET " + _on_match(kind == "ACCOUNT_OF")


def _decrement(kind: str, pattern: str) -> str:
    delete_spent = "WITH e WHERE e.count <= 0 DELETE e"
    return _endpoints(kind) + f"MATCH {pattern} SET e.count = e.count - r.n {delete_spent}"


def _both_ways(kind: str) -> tuple[str, str]:
    rel = EDGE_KINDS[kind].rel_type
    return f"(s)-[e:{rel}]->(t)", f"(t)<-[e:{rel}]-(s)"


#: per kind: (expanding from the source, expanding from the target)
EDGE_MERGE = {kind: tuple(_merge(kind, p) for p in _both_ways(kind)) for kind in EDGE_KINDS}
EDGE_DECREMENT = {kind: tuple(_decrement(kind, p) for p in _both_ways(kind)) for kind in EDGE_KINDS}

# Upserts between busy nodes where the writers take turns (the embedded store:
# ``graph.write_locks``; ``graph.write_path.merge_edges`` picks the rows): CREATE the edges that do not
# exist yet, in one statement that tests adjacency first, then update the ones that existed.
# ArcadeDB tests a pattern predicate without loading each edge record, where MERGE loads every
# edge of the node it expands from to read the far end: at 1M accounts / 5M edges MERGE's edge
# scan took ~60 % of the store's write CPU (JFR). Where writers do not take turns (Neo4j with
# several workers) this check-then-create would race, and MERGE stays.
#: per kind: CREATE the absent edges; returns the ``r.i`` of the rows created (one collected record,
#: or none at all on ArcadeDB when no row was created)
EDGE_CREATE_ABSENT = {
    kind: _endpoints(kind)
    + f"WITH s, t, r WHERE NOT (s)-[:{spec.rel_type}]->(t) "
    + f"CREATE (s)-[e:{spec.rel_type}]->(t) SET {_on_create(kind == 'ACCOUNT_OF')}"
    + " RETURN collect(r.i) AS created"
    for kind, spec in EDGE_KINDS.items()
}
#: per kind: (expanding from the source, from the target), for edges known to exist
EDGE_UPDATE = {kind: tuple(_update(kind, p) for p in _both_ways(kind)) for kind in EDGE_KINDS}
#: an edge touching a node created in the same transaction cannot exist yet: CREATE, no scan
EDGE_CREATE = {
    kind: (_endpoints(kind) + f"CREATE (s)-[e:{spec.rel_type}]->(t) SET {_on_create(kind == 'ACCOUNT_OF')}")
    for kind, spec in EDGE_KINDS.items()
}
EVENT_CREATE = (
    "UNWIND $rows AS r CREATE (e:Event {id: r.id}) SET e.kind = r.kind, e.at = r.at, "
    "e.edge_kinds = r.ek, e.edge_srcs = r.es, e.edge_dsts = r.ed, e.undone = false, e += r.props"
)
