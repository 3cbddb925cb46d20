"""Mastodon Status entities (the payload of a streaming ``update``; a whole streaming frame
``{"event": "update", "payload": "<json>"}`` is accepted too).

- Kinds: REPOST when ``reblog`` is set (target: the reblogged status and its account; the reblogged
  status itself is emitted too, as its author's activity); otherwise REPLY when ``in_reply_to_id``
  is set, QUOTE when a ``quote`` with a ``quoted_status`` is present, else POST. Every status also
  yields a PROFILE snapshot of its account (id ends in a content hash, so unchanged profiles dedupe).
- Account ids are ``mastodon:<actor uri>``. Mention entities carry no actor uri, only the profile
  url: ``https://host/@name`` is mapped to ``https://host/users/name`` (Mastodon's actor uri scheme,
  right for Mastodon servers); other urls are used as they are. Handles are full ``name@host``.
- ``in_reply_to_id`` is a server-local id, not a uri, so a reply's ``target_post_id`` is
  ``mastodon:local:<in_reply_to_id>``; resolve it with the serving instance's id map when needed.
  ``target_account`` is set when ``in_reply_to_account_id`` is the author (self-reply) or one of the
  mentioned accounts, else left None.
- Post ids ``mastodon:<status uri>``; event ids ``mastodon:status:<uri>`` (plus ``@<edited_at>``
  for an edited status); context: the host of the status uri (the instance it lives on).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import orjson

from activity.deadletter import DeadLetterReason
from activity.extract import extract_urls, html_to_text
from activity.normalize._common import Batch, fail, iso_time, opt, opt_list_of_dicts, profile_event_id, req
from activity.raw import RawEvent
from activity.schema import AccountRef, Activity, ActivityKind, Network, Profile

_NET = Network.MASTODON
_PROFILE_URL = re.compile(r"^(https?://[^/]+)/@([^/@]+)$")


def _host(url: str | None) -> str | None:
    return urlsplit(url).hostname if url else None


def _full_handle(acct: str | None, url: str | None) -> str | None:
    if not acct:
        return None
    if "@" in acct:
        return acct
    host = _host(url)
    return f"{acct}@{host}" if host else acct


def actor_id_from_profile_url(url: str) -> str:
    """Best-effort actor uri for a Mastodon profile url (``https://h/@n`` -> ``https://h/users/n``)."""
    m = _PROFILE_URL.match(url)
    return f"mastodon:{m.group(1)}/users/{m.group(2)}" if m else f"mastodon:{url}"


def _account(acc: dict[str, Any], where: str) -> tuple[AccountRef, Profile, str]:
    """The author's ref, its profile snapshot and its server-local id."""
    local_id = str(req(acc, "id", str, where))
    uri = opt(acc, "uri", str, where)
    url = opt(acc, "url", str, where)
    if not uri and not url:
        raise fail(DeadLetterReason.MISSING_FIELD, f"{where}.uri is missing")
    name = opt(acc, "display_name", str, where) or None
    ref = AccountRef(
        id=f"mastodon:{uri}" if uri else actor_id_from_profile_url(url or ""),
        network=_NET,
        handle=_full_handle(opt(acc, "acct", str, where), url),
        display_name=name,
    )
    created = opt(acc, "created_at", str, where)
    note = opt(acc, "note", str, where)
    profile = Profile(
        display_name=name,
        bio=html_to_text(note) if note else None,
        url=url,
        followers=opt(acc, "followers_count", int, where),
        following=opt(acc, "following_count", int, where),
        posts=opt(acc, "statuses_count", int, where),
        created_at=iso_time(created, f"{where}.created_at") if created else None,
        active=not bool(opt(acc, "suspended", bool, where)),
    )
    return ref, profile, local_id


def normalize_mastodon(obj: dict[str, Any], raw: RawEvent, batch: Batch) -> None:
    if "event" in obj and "payload" in obj:  # a streaming frame
        event = opt(obj, "event", str)
        if event not in ("update", "status.update"):
            raise fail(DeadLetterReason.UNKNOWN_KIND, f"mastodon streaming event {event!r}")
        payload = obj["payload"]
        if isinstance(payload, str):
            try:
                payload = orjson.loads(payload)
            except orjson.JSONDecodeError as exc:
                raise fail(DeadLetterReason.MALFORMED_JSON, f"payload: {exc}") from exc
        if not isinstance(payload, dict):
            raise fail(DeadLetterReason.WRONG_TYPE, "payload is not an object")
        obj = payload
    _status(obj, raw, batch, "status", depth=0)


def _status(st: dict[str, Any], raw: RawEvent, batch: Batch, where: str, depth: int) -> Activity:
    uri = req(st, "uri", str, where)
    req(st, "id", str, where)
    when = iso_time(req(st, "created_at", str, where), f"{where}.created_at")
    actor, profile, actor_local_id = _account(req(st, "account", dict, where), f"{where}.account")
    edited = opt(st, "edited_at", str, where)
    event_id = f"mastodon:status:{uri}" + (f"@{edited}" if edited else "")
    host = _host(uri)
    common: dict[str, Any] = {
        "network": _NET,
        "actor": actor,
        "created_at": when,
        "received_at": raw.received_at,
        "source": raw.source,
        "post_id": f"mastodon:{uri}",
        "context": (host,) if host else (),
    }
    reblog = opt(st, "reblog", dict, where)
    if reblog is not None and depth == 0:
        inner = _status(reblog, raw, batch, f"{where}.reblog", depth + 1)
        activity = Activity(
            event_id=event_id,
            kind=ActivityKind.REPOST,
            target_post_id=inner.post_id,
            target_account=inner.actor,
            **common,
        )
    else:
        activity = _own_status(st, event_id, actor, actor_local_id, common, raw, batch, where, depth)
    batch.add(activity)
    batch.add(
        Activity(
            event_id=profile_event_id("mastodon:profile", actor, profile),
            kind=ActivityKind.PROFILE,
            network=_NET,
            actor=actor,
            created_at=when,
            received_at=raw.received_at,
            source=raw.source,
            profile=profile,
        )
    )
    return activity


def _own_status(
    st: dict[str, Any],
    event_id: str,
    actor: AccountRef,
    actor_local_id: str,
    common: dict[str, Any],
    raw: RawEvent,
    batch: Batch,
    where: str,
    depth: int,
) -> Activity:
    content = opt(st, "content", str, where) or ""
    text = html_to_text(content)
    mentions: list[AccountRef] = []
    by_local_id: dict[str, AccountRef] = {actor_local_id: actor}
    for i, m in enumerate(opt_list_of_dicts(st, "mentions", where)):
        mw = f"{where}.mentions[{i}]"
        url = req(m, "url", str, mw)
        ref = AccountRef(
            id=actor_id_from_profile_url(url), network=_NET, handle=_full_handle(opt(m, "acct", str, mw), url)
        )
        mentions.append(ref)
        local = opt(m, "id", str, mw)
        if local:
            by_local_id[local] = ref
    tags = [req(t, "name", str, f"{where}.tags") for t in opt_list_of_dicts(st, "tags", where)]
    kind, target_post, target_account = ActivityKind.POST, None, None
    reply_to = opt(st, "in_reply_to_id", str, where)
    quote = opt(st, "quote", dict, where)
    quoted = opt(quote, "quoted_status", dict, f"{where}.quote") if quote else None
    if reply_to is not None:
        kind, target_post = ActivityKind.REPLY, f"mastodon:local:{reply_to}"
        reply_account = opt(st, "in_reply_to_account_id", str, where)
        target_account = by_local_id.get(reply_account) if reply_account else None
    elif quoted is not None and depth == 0:
        inner = _status(quoted, raw, batch, f"{where}.quote.quoted_status", depth + 1)
        kind, target_post, target_account = ActivityKind.QUOTE, inner.post_id, inner.actor
    return Activity(
        event_id=event_id,
        kind=kind,
        text=text,
        lang=opt(st, "language", str, where),
        target_post_id=target_post,
        target_account=target_account,
        mentions=tuple(dict.fromkeys(mentions)),
        hashtags=tuple(dict.fromkeys(tags)),
        urls=tuple(dict.fromkeys(extract_urls(text))),
        **common,
    )
