"""Bluesky Jetstream v1 events.

- ``commit`` events: app.bsky.feed.post (POST; REPLY when ``record.reply.parent`` is set; QUOTE when
  the embed is a record or recordWithMedia pointing at a post), feed.like (LIKE), feed.repost
  (REPOST), graph.follow (FOLLOW), actor.profile (PROFILE); ``delete`` operations on posts, likes,
  reposts and follows become DELETE with ``post_id`` = the deleted record's at-uri. Any other
  collection (blocks, lists, threadgates, third-party lexicons...) is an UNKNOWN_KIND dead letter.
- ``identity`` events: PROFILE carrying the (new) handle; ``account`` events: PROFILE with
  ``active``; an account whose status is ``deleted`` also yields a DELETE (account removed).
- Ids: accounts ``bluesky:<did>``, records ``bluesky:at://<did>/<collection>/<rkey>``. Commit event
  ids are ``bluesky:<did>:<collection>:<rkey>:<operation>:<rev>``.
- Mentions come from mention facets (they carry DIDs); links and tags from facets, else extracted
  from the text. Text @handles without a facet are not turned into mentions (no DID to name).
"""

from __future__ import annotations

from typing import Any

from activity.deadletter import DeadLetterReason
from activity.extract import extract_hashtags, extract_urls
from activity.normalize._common import (
    Batch,
    epoch,
    fail,
    iso_time,
    opt,
    opt_list_of_dicts,
    profile_event_id,
    req,
)
from activity.raw import RawEvent
from activity.schema import AccountRef, Activity, ActivityKind, Network, Profile

POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"
REPOST = "app.bsky.feed.repost"
FOLLOW = "app.bsky.graph.follow"
PROFILE = "app.bsky.actor.profile"
_DELETABLE = frozenset({POST, LIKE, REPOST, FOLLOW})
_NET = Network.BLUESKY


def account(did: str, handle: str | None = None, display_name: str | None = None) -> AccountRef:
    return AccountRef(id=f"bluesky:{did}", network=_NET, handle=handle, display_name=display_name)


def record_id(uri: str) -> str:
    return f"bluesky:{uri}"


def _uri_author(uri: str) -> AccountRef | None:
    if not uri.startswith("at://"):
        return None
    did = uri[5:].split("/", 1)[0]
    return account(did) if did.startswith("did:") else None


def normalize_jetstream(obj: dict[str, Any], raw: RawEvent, batch: Batch) -> None:
    did = req(obj, "did", str)
    kind = req(obj, "kind", str)
    time_us = opt(obj, "time_us", int)
    fallback = epoch(time_us / 1e6, "time_us") if time_us is not None else raw.received_at
    if kind == "commit":
        _commit(did, req(obj, "commit", dict), fallback, raw, batch)
    elif kind == "identity":
        ident = opt(obj, "identity", dict) or {}
        handle = opt(ident, "handle", str, "identity")
        when = _time(ident, "time", fallback, "identity")
        actor = account(did, handle=handle)
        batch.add(
            _activity(
                profile_event_id("bluesky:identity", actor, None), ActivityKind.PROFILE, actor, when, raw
            )
        )
    elif kind == "account":
        acc = req(obj, "account", dict)
        active = req(acc, "active", bool, "account")
        status = opt(acc, "status", str, "account")
        when = _time(acc, "time", fallback, "account")
        actor = account(did)
        profile = Profile(active=active)
        batch.add(
            _activity(
                profile_event_id("bluesky:account", actor, profile),
                ActivityKind.PROFILE,
                actor,
                when,
                raw,
                profile=profile,
            )
        )
        if status == "deleted":
            seq = opt(acc, "seq", int, "account")
            batch.add(
                _activity(
                    f"bluesky:account-deleted:{did}:{seq if seq is not None else time_us}",
                    ActivityKind.DELETE,
                    actor,
                    when,
                    raw,
                )
            )
    else:
        raise fail(DeadLetterReason.UNKNOWN_KIND, f"jetstream event kind {kind!r}")


def _time(obj: dict[str, Any], key: str, fallback: float, where: str) -> float:
    value = opt(obj, key, str, where)
    return iso_time(value, f"{where}.{key}") if value else fallback


def _activity(
    event_id: str, kind: ActivityKind, actor: AccountRef, when: float, raw: RawEvent, **fields: Any
) -> Activity:
    return Activity(
        event_id=event_id,
        kind=kind,
        network=_NET,
        actor=actor,
        created_at=when,
        received_at=raw.received_at,
        source=raw.source,
        **fields,
    )


def _commit(did: str, commit: dict[str, Any], fallback: float, raw: RawEvent, batch: Batch) -> None:
    op = req(commit, "operation", str, "commit")
    coll = req(commit, "collection", str, "commit")
    rkey = req(commit, "rkey", str, "commit")
    rev = opt(commit, "rev", str, "commit") or f"t{fallback!r}"
    uri = f"at://{did}/{coll}/{rkey}"
    event_id = f"bluesky:{did}:{coll}:{rkey}:{op}:{rev}"
    actor = account(did)
    if op == "delete":
        if coll not in _DELETABLE:
            raise fail(DeadLetterReason.UNKNOWN_KIND, f"delete in collection {coll!r}")
        batch.add(_activity(event_id, ActivityKind.DELETE, actor, fallback, raw, post_id=record_id(uri)))
        return
    if op not in ("create", "update"):
        raise fail(DeadLetterReason.INVALID_VALUE, f"commit.operation {op!r}")
    record = req(commit, "record", dict, "commit")
    when = _time(record, "createdAt", fallback, "record")
    if coll == POST:
        batch.add(_post(event_id, actor, uri, record, when, raw))
    elif coll in (LIKE, REPOST):
        subject = req(record, "subject", dict, "record")
        target = req(subject, "uri", str, "record.subject")
        kind = ActivityKind.LIKE if coll == LIKE else ActivityKind.REPOST
        batch.add(
            _activity(
                event_id,
                kind,
                actor,
                when,
                raw,
                post_id=record_id(uri),
                target_post_id=record_id(target),
                target_account=_uri_author(target),
            )
        )
    elif coll == FOLLOW:
        followed = req(record, "subject", str, "record")
        batch.add(
            _activity(
                event_id,
                ActivityKind.FOLLOW,
                actor,
                when,
                raw,
                post_id=record_id(uri),
                target_account=account(followed),
            )
        )
    elif coll == PROFILE:
        name = opt(record, "displayName", str, "record")
        profile = Profile(
            display_name=name,
            bio=opt(record, "description", str, "record"),
            created_at=when if "createdAt" in record else None,
        )
        actor = account(did, display_name=name)
        batch.add(
            _activity(
                profile_event_id("bluesky:profile", actor, profile),
                ActivityKind.PROFILE,
                actor,
                fallback,
                raw,
                profile=profile,
            )
        )
    else:
        raise fail(DeadLetterReason.UNKNOWN_KIND, f"collection {coll!r}")


def _embedded_post_uri(record: dict[str, Any]) -> str | None:
    embed = opt(record, "embed", dict, "record")
    if embed is None:
        return None
    etype = opt(embed, "$type", str, "record.embed") or ""
    inner: dict[str, Any] | None = None
    if etype.startswith("app.bsky.embed.recordWithMedia"):
        outer = opt(embed, "record", dict, "record.embed")
        inner = opt(outer, "record", dict, "record.embed.record") if outer else None
    elif etype.startswith("app.bsky.embed.record"):
        inner = opt(embed, "record", dict, "record.embed")
    uri = opt(inner, "uri", str, "record.embed.record") if inner else None
    return uri if uri and f"/{POST}/" in uri else None


def _post(
    event_id: str, actor: AccountRef, uri: str, record: dict[str, Any], when: float, raw: RawEvent
) -> Activity:
    text = opt(record, "text", str, "record") or ""
    langs = opt(record, "langs", list, "record") or []
    lang = langs[0] if langs and isinstance(langs[0], str) else None
    kind, target_post, target_account = ActivityKind.POST, None, None
    reply = opt(record, "reply", dict, "record")
    quoted = _embedded_post_uri(record)
    if reply is not None:
        parent = req(reply, "parent", dict, "record.reply")
        target_post = req(parent, "uri", str, "record.reply.parent")
        kind = ActivityKind.REPLY
    elif quoted is not None:
        kind, target_post = ActivityKind.QUOTE, quoted
    if target_post is not None:
        target_account = _uri_author(target_post)
    mentions: list[AccountRef] = []
    urls: list[str] = []
    tags: list[str] = []
    facets = opt_list_of_dicts(record, "facets", "record")
    for i, facet in enumerate(facets):
        for feature in opt_list_of_dicts(facet, "features", f"record.facets[{i}]"):
            ftype = opt(feature, "$type", str, "facet.feature") or ""
            if ftype.endswith("#mention"):
                mentions.append(account(req(feature, "did", str, "facet.feature")))
            elif ftype.endswith("#link"):
                urls.append(req(feature, "uri", str, "facet.feature"))
            elif ftype.endswith("#tag"):
                tags.append(req(feature, "tag", str, "facet.feature"))
    if not facets:
        urls, tags = extract_urls(text), extract_hashtags(text)
    return _activity(
        event_id,
        kind,
        actor,
        when,
        raw,
        post_id=record_id(uri),
        text=text,
        lang=lang,
        target_post_id=record_id(target_post) if target_post else None,
        target_account=target_account,
        mentions=tuple(dict.fromkeys(mentions)),
        hashtags=tuple(dict.fromkeys(tags)),
        urls=tuple(dict.fromkeys(urls)),
    )
