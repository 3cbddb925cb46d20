"""Bluesky Jetstream v1 events: commits (posts, replies, likes, reposts, follows, profiles), identity."""

from __future__ import annotations

import random
from typing import Any

from sources import _ids
from sources._common import Action, PostRef, iso_ms
from sources._text import byte_span, render


def _commit(
    action: Action, collection: str, rkey: str, record: dict[str, Any], cid: str, op: str, rng: random.Random
) -> dict[str, Any]:
    time_us = int(action.t * 1_000_000)
    return {
        "did": action.actor.native,
        "time_us": time_us,
        "kind": "commit",
        "commit": {
            "rev": _ids.tid(time_us - rng.randrange(1, 400), action.actor.clock_id),
            "operation": op,
            "collection": collection,
            "rkey": rkey,
            "record": record,
            "cid": cid,
        },
    }


def uri(did: str, collection: str, rkey: str) -> str:
    return f"at://{did}/{collection}/{rkey}"


def text_record(action: Action, created: float) -> tuple[dict[str, Any], str]:
    tokens: dict[str, str] = {}
    if action.company is not None:
        tokens["co"] = "@" + action.company.handle
    if action.mentioned is not None:
        tokens["p"] = "@" + action.mentioned.handle
    if action.actor.website:
        tokens["url"] = action.actor.website
    if action.tag:
        tokens["tag"] = "#" + action.tag
    text, spans = render(action.template, tokens)
    facets = []
    for key, s, e in spans:
        b0, b1 = byte_span(text, s, e)
        if key == "co" and action.company is not None:
            feat = {"$type": "app.bsky.richtext.facet#mention", "did": action.company.native}
        elif key == "p" and action.mentioned is not None:
            feat = {"$type": "app.bsky.richtext.facet#mention", "did": action.mentioned.native}
        elif key == "url":
            feat = {"$type": "app.bsky.richtext.facet#link", "uri": tokens["url"]}
        else:
            feat = {"$type": "app.bsky.richtext.facet#tag", "tag": action.tag}
        facets.append({"features": [feat], "index": {"byteEnd": b1, "byteStart": b0}})
    record: dict[str, Any] = {"$type": "app.bsky.feed.post", "createdAt": iso_ms(created)}
    if facets:
        record["facets"] = facets
    record["langs"] = ["en"]
    tgt = action.target
    if action.kind == "reply" and tgt is not None:
        root = tgt.extra.get("root") or {"cid": tgt.cid, "uri": tgt.id}
        record["reply"] = {"parent": {"cid": tgt.cid, "uri": tgt.id}, "root": root}
    record["text"] = text
    return record, text


def encode(action: Action, rng: random.Random) -> tuple[dict[str, Any], PostRef | None]:
    created = action.t - rng.uniform(0.05, 1.5)
    time_us = int(created * 1_000_000)
    rkey = _ids.tid(time_us, action.actor.clock_id)
    did = action.actor.native
    kind = action.kind
    if kind in ("post", "reply"):
        record, text = text_record(action, created)
        cid = _ids.cid(rng)
        ref = PostRef(action.actor, uri(did, "app.bsky.feed.post", rkey), text, created, cid)
        if "reply" in record:
            ref.extra["root"] = record["reply"]["root"]
        return _commit(action, "app.bsky.feed.post", rkey, record, cid, "create", rng), ref
    if kind in ("like", "repost") and action.target is not None:
        coll = f"app.bsky.feed.{kind}"
        record = {
            "$type": coll,
            "createdAt": iso_ms(created),
            "subject": {"cid": action.target.cid, "uri": action.target.id},
        }
        return _commit(action, coll, rkey, record, _ids.cid(rng), "create", rng), None
    if kind == "follow" and action.target_account is not None:
        record = {
            "$type": "app.bsky.graph.follow",
            "createdAt": iso_ms(created),
            "subject": action.target_account.native,
        }
        return _commit(action, "app.bsky.graph.follow", rkey, record, _ids.cid(rng), "create", rng), None
    if kind == "profile":
        acc = action.actor
        desc = acc.bio + (f"\n{acc.website}" if acc.website else "")
        record = {
            "$type": "app.bsky.actor.profile",
            "avatar": {
                "$type": "blob",
                "ref": {"$link": _ids.cid(rng, blob=True)},
                "mimeType": "image/jpeg",
                "size": rng.randrange(20_000, 900_000),
            },
            "createdAt": iso_ms(acc.created_at),
            "description": desc,
            "displayName": acc.display_name,
        }
        return _commit(action, "app.bsky.actor.profile", "self", record, _ids.cid(rng), "update", rng), None
    if kind == "identity":
        seq = int(action.t * 10)  # relay sequence numbers: positive, increasing, ~3e10 today
        ident = {"did": did, "handle": action.actor.handle, "seq": seq, "time": iso_ms(created)}
        return {"did": did, "time_us": int(action.t * 1_000_000), "kind": "identity", "identity": ident}, None
    raise ValueError(f"bluesky cannot encode {kind!r}")


def synth_post(author: Any, text: str, t: float, rng: random.Random) -> PostRef:
    """A post made before the simulation started (so early likes and replies have a subject)."""
    rkey = _ids.tid(int(t * 1_000_000), author.clock_id)
    return PostRef(author, uri(author.native, "app.bsky.feed.post", rkey), text, t, _ids.cid(rng))
