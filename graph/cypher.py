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
EDGE_MERGE = {
    kind: (
        f"UNWIND $rows AS r MATCH (s:{spec.src_label} {{id: r.src}}) "
        f"MATCH (t:{spec.dst_label} {{id: r.dst}}) "
        f"MERGE (s)-[e:{spec.rel_type}]->(t) "
        "ON CREATE SET e.count = r.n, e.first_seen = r.fs, e.last_seen = r.ls"
        + (", e.confidence = r.conf" if kind == "ACCOUNT_OF" else "")
        + " ON MATCH SET e.count = e.count + r.n, "
        "e.first_seen = CASE WHEN r.fs < e.first_seen THEN r.fs ELSE e.first_seen END, "
        "e.last_seen = CASE WHEN r.ls > e.last_seen THEN r.ls ELSE e.last_seen END"
        + (
            ", e.confidence = CASE WHEN r.conf > e.confidence THEN r.conf ELSE e.confidence END"
            if kind == "ACCOUNT_OF"
            else ""
        )
    )
    for kind, spec in EDGE_KINDS.items()
}
EDGE_CREATE = {
    kind: (
        f"UNWIND $rows AS r MATCH (s:{spec.src_label} {{id: r.src}}) "
        f"MATCH (t:{spec.dst_label} {{id: r.dst}}) "
        f"CREATE (s)-[e:{spec.rel_type}]->(t) SET e.count = r.n, e.first_seen = r.fs, e.last_seen = r.ls"
        + (", e.confidence = r.conf" if kind == "ACCOUNT_OF" else "")
    )
    for kind, spec in EDGE_KINDS.items()
}
EDGE_DECREMENT = {
    kind: (
        f"UNWIND $rows AS r MATCH (s:{spec.src_label} {{id: r.src}})-[e:{spec.rel_type}]->"
        f"(t:{spec.dst_label} {{id: r.dst}}) SET e.count = e.count - r.n WITH e WHERE e.count <= 0 DELETE e"
    )
    for kind, spec in EDGE_KINDS.items()
}
EVENT_CREATE = (
    "UNWIND $rows AS r CREATE (e:Event {id: r.id}) SET e.kind = r.kind, e.at = r.at, "
    "e.edge_kinds = r.ek, e.edge_srcs = r.es, e.edge_dsts = r.ed, e.undone = false, e += r.props"
)
