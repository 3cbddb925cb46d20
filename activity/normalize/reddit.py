"""Reddit comments (``t1``) and submissions (``t3``), bare data objects or ``{"kind", "data"}`` things.

- A comment is a REPLY to its ``parent_id`` (``t1_`` comment or ``t3_`` submission):
  ``target_post_id`` is ``reddit:<parent fullname>``. ``target_account`` is set only when the data
  says who wrote the parent: for a top-level comment (parent is the submission), ``link_author``.
  For replies to comments the parent's author is not in the payload, so it stays None.
- A submission is a POST (text: title, a blank line, selftext; link submissions add their url).
- Deleted authors: ``[deleted]`` / ``[removed]`` (or missing) authors still count, the thread
  structure needs them, but they are not merged into one giant account: the actor gets the
  per-item id ``reddit:deleted:<fullname>`` (see :data:`DELETED_PREFIX`) and no handle. A body of
  ``[deleted]`` / ``[removed]`` gives ``text=None``.
- Ids: accounts ``reddit:u/<name>``, posts ``reddit:<fullname>``; event id ``reddit:<fullname>``,
  plus ``:edited:<epoch>`` when ``edited`` is a timestamp (an edit is a new event).
- ``context`` is ``("r/<subreddit>",)``; ``u/name`` mentions in the text become mentions.
"""

from __future__ import annotations

import re
from typing import Any

from activity.deadletter import DeadLetterReason
from activity.extract import extract_urls
from activity.normalize._common import Batch, epoch, fail, opt, req
from activity.raw import RawEvent
from activity.schema import AccountRef, Activity, ActivityKind, Network

_NET = Network.REDDIT
DELETED_PREFIX = "reddit:deleted:"
_GONE = frozenset({"[deleted]", "[removed]", ""})
_USER_MENTION = re.compile(r"(?<![\w/])/?u/([A-Za-z0-9_-]{3,20})\b")


def account(name: str) -> AccountRef:
    return AccountRef(id=f"reddit:u/{name}", network=_NET, handle=name)


def _fullname(obj: dict[str, Any], thing_kind: str | None) -> str:
    name = opt(obj, "name", str)
    if name:
        return name
    local = req(obj, "id", str)
    if thing_kind is None:
        thing_kind = "t1" if "body" in obj or "parent_id" in obj else "t3" if "title" in obj else None
    if thing_kind is None:
        raise fail(DeadLetterReason.UNKNOWN_KIND, "neither a comment nor a submission")
    return f"{thing_kind}_{local}"


def normalize_reddit(obj: dict[str, Any], raw: RawEvent, batch: Batch) -> None:
    thing_kind: str | None = None
    if "data" in obj and "kind" in obj:
        thing_kind = req(obj, "kind", str)
        obj = req(obj, "data", dict)
    name = _fullname(obj, thing_kind)
    prefix = name.split("_", 1)[0]
    if prefix not in ("t1", "t3"):
        raise fail(DeadLetterReason.UNKNOWN_KIND, f"reddit thing {prefix!r}")
    created = epoch(req(obj, "created_utc", float), "created_utc")
    author = opt(obj, "author", str) or ""
    actor = AccountRef(id=f"{DELETED_PREFIX}{name}", network=_NET) if author in _GONE else account(author)
    edited = obj.get("edited")
    event_id = f"reddit:{name}"
    if isinstance(edited, int | float) and not isinstance(edited, bool) and edited:
        event_id += f":edited:{epoch(float(edited), 'edited')!r}"
    subreddit = opt(obj, "subreddit", str)
    common: dict[str, Any] = {
        "event_id": event_id,
        "network": _NET,
        "actor": actor,
        "created_at": created,
        "received_at": raw.received_at,
        "source": raw.source,
        "post_id": f"reddit:{name}",
        "context": (f"r/{subreddit}",) if subreddit else (),
    }
    if prefix == "t1":
        body = opt(obj, "body", str)
        text = None if body is None or body in _GONE else body
        parent = req(obj, "parent_id", str)
        if not parent.startswith(("t1_", "t3_")):
            raise fail(DeadLetterReason.INVALID_VALUE, f"parent_id {parent[:40]!r}")
        target_account = None
        link_author = opt(obj, "link_author", str)
        if parent.startswith("t3_") and link_author and link_author not in _GONE:
            target_account = account(link_author)
        batch.add(
            Activity(
                kind=ActivityKind.REPLY,
                text=text,
                target_post_id=f"reddit:{parent}",
                target_account=target_account,
                **_entities(text),
                **common,
            )
        )
    else:
        title = opt(obj, "title", str) or ""
        selftext = opt(obj, "selftext", str) or ""
        text = "\n\n".join(p for p in (title, "" if selftext in _GONE else selftext) if p) or None
        entities = _entities(text)
        link = opt(obj, "url", str)
        if link and not opt(obj, "is_self", bool) and link not in entities["urls"]:
            entities["urls"] = (link, *entities["urls"])
        batch.add(Activity(kind=ActivityKind.POST, text=text, **entities, **common))


def _entities(text: str | None) -> dict[str, Any]:
    if not text:
        return {"mentions": (), "urls": ()}
    names = dict.fromkeys(m.group(1) for m in _USER_MENTION.finditer(text))
    return {"mentions": tuple(account(n) for n in names), "urls": tuple(dict.fromkeys(extract_urls(text)))}
