"""Independent expectations for the graph a Jetstream file implies, computed from the raw JSON
with nothing from the product but the file: what each real event means in the graph schema of
graph/plan.py (README "Graph schema")."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HANDLED = {
    "app.bsky.feed.post",
    "app.bsky.feed.like",
    "app.bsky.feed.repost",
    "app.bsky.graph.follow",
    "app.bsky.actor.profile",
}


def did_of(uri: str) -> str:
    return uri.removeprefix("at://").split("/")[0]


def raw_events(paths: list[Path]) -> Iterator[dict[str, Any]]:
    """Every JSON line of the files (plain or gzip)."""
    for path in paths:
        opener: Any = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)


def expected_counts(paths: list[Path], company_word: str) -> dict[str, int]:
    actors: set[str] = set()
    accounts: set[str] = set()
    posts: set[str] = set()
    edges: dict[str, Counter[tuple[str, str]]] = {
        k: Counter()
        for k in (
            "AUTHORED",
            "LIKED",
            "REPOSTED",
            "FOLLOWS",
            "REPLIED_TO",
            "QUOTED",
            "MENTIONED",
            "REPLY_TO",
            "QUOTES",
        )
    }
    company = re.compile(r"(?<![\w])[@#]?" + re.escape(company_word) + r"(?![\w])", re.I)
    company_mentions = 0
    seen: set[str] = set()
    for e in raw_events(paths):
        did = e["did"]
        if e["kind"] in ("identity", "account"):
            actors.add(did)
            continue
        c = e["commit"]
        coll, op = c["collection"], c["operation"]
        if coll not in HANDLED:
            continue
        key = f"{did}/{coll}/{c['rkey']}/{op}/{c.get('rev')}"
        if key in seen:
            continue
        seen.add(key)
        actors.add(did)
        if op == "delete":
            continue
        r = c.get("record") or {}

        def edge(kind: str, src: str, dst: str) -> None:
            if src != dst or kind in ("AUTHORED", "REPLY_TO", "QUOTES"):
                edges[kind][(src, dst)] += 1
                if kind not in ("AUTHORED", "REPLY_TO", "QUOTES"):
                    accounts.add(dst)

        if coll == "app.bsky.feed.like":
            edge("LIKED", did, did_of(r["subject"]["uri"]))
        elif coll == "app.bsky.feed.repost":
            edge("REPOSTED", did, did_of(r["subject"]["uri"]))
        elif coll == "app.bsky.graph.follow":
            edge("FOLLOWS", did, r["subject"])
        elif coll == "app.bsky.feed.post":
            uri = f"at://{did}/{coll}/{c['rkey']}"
            posts.add(uri)
            edge("AUTHORED", did, uri)
            mentioned = {
                feat["did"]
                for facet in r.get("facets") or ()
                for feat in facet.get("features") or ()
                if feat.get("$type") == "app.bsky.richtext.facet#mention"
            }
            for m in mentioned:
                edge("MENTIONED", did, m)
            parent = ((r.get("reply") or {}).get("parent") or {}).get("uri")
            embed = r.get("embed") or {}
            quoted = None
            if embed.get("$type") == "app.bsky.embed.record":
                quoted = embed["record"]["uri"]
            elif embed.get("$type") == "app.bsky.embed.recordWithMedia":
                quoted = embed["record"]["record"]["uri"]
            if parent:
                posts.add(parent)
                edge("REPLIED_TO", did, did_of(parent))
                edge("REPLY_TO", uri, parent)
            elif quoted and "/app.bsky.feed.post/" in quoted:
                posts.add(quoted)
                edge("QUOTED", did, did_of(quoted))
                edge("QUOTES", uri, quoted)
            if company.search(r.get("text") or ""):
                company_mentions += 1
    accounts |= actors
    out = {
        "Account": len(accounts),
        "Person": len(actors),
        "Post": len(posts),
        "ACCOUNT_OF": len(actors),
        "Company": 1 if company_mentions else 0,
    }
    for kind, pairs in edges.items():
        out[kind] = len(pairs)
    out["MENTIONED"] += 1 if company_mentions else 0  # (author)-[:MENTIONED]->(Company), one per author
    out["_company_mentions"] = company_mentions
    return out


WEIGHTS = {"LIKED": 0.5, "REPOSTED": 2.0, "FOLLOWS": 1.0, "REPLIED_TO": 2.0, "QUOTED": 3.0, "MENTIONED": 1.0}


def weighted_in_degree(paths: list[Path]) -> dict[str, float]:
    """Influence each account receives, undecayed (the events of a capture lie minutes apart)."""
    received: Counter[str] = Counter()
    seen: set[str] = set()
    for e in raw_events(paths):
        if e["kind"] != "commit" or e["commit"]["operation"] != "create":
            continue
        c, did = e["commit"], e["did"]
        key = f"{did}/{c['collection']}/{c['rkey']}"
        if key in seen:
            continue
        seen.add(key)
        r = c.get("record") or {}
        per_event: dict[str, float] = {}
        if c["collection"] == "app.bsky.feed.like":
            per_event[did_of(r["subject"]["uri"])] = WEIGHTS["LIKED"]
        elif c["collection"] == "app.bsky.feed.repost":
            per_event[did_of(r["subject"]["uri"])] = WEIGHTS["REPOSTED"]
        elif c["collection"] == "app.bsky.graph.follow":
            per_event[r["subject"]] = WEIGHTS["FOLLOWS"]
        elif c["collection"] == "app.bsky.feed.post":
            parent = ((r.get("reply") or {}).get("parent") or {}).get("uri")
            embed = r.get("embed") or {}
            quoted = (embed.get("record") or {}).get("uri") or (
                (embed.get("record") or {}).get("record") or {}
            ).get("uri")
            if parent:
                per_event[did_of(parent)] = WEIGHTS["REPLIED_TO"]
            elif quoted and "/app.bsky.feed.post/" in quoted:
                per_event[did_of(quoted)] = WEIGHTS["QUOTED"]
            for facet in r.get("facets") or ():
                for feat in facet.get("features") or ():
                    if feat.get("$type") == "app.bsky.richtext.facet#mention":
                        m = feat["did"]
                        per_event[m] = max(per_event.get(m, 0.0), WEIGHTS["MENTIONED"])
        per_event.pop(did, None)
        for account, w in per_event.items():
            received["bluesky:" + account] += w
    return dict(received)
