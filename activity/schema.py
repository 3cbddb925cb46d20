"""The one activity schema every network is normalized into.

Plain frozen dataclasses, no I/O. Identifiers are network-qualified strings so that the same
native id on two networks can never collide:

- account ids: ``bluesky:did:plc:abc``, ``mastodon:https://fosstodon.org/users/jo`` (the actor
  URI), ``reddit:u/Volden``, ``x:68401342``
- post ids: ``bluesky:at://did:plc:abc/app.bsky.feed.post/3k``, ``mastodon:<status uri>``,
  ``reddit:t1_dbhn17b``, ``x:1589681856941002753``
- event ids are stable across replays (they key every idempotent effect downstream).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


def event_hash(event_id: str) -> int:
    """A 63-bit hash of an event id, for bounded "seen before" memories (8 bytes, not the id)."""
    return int.from_bytes(hashlib.blake2b(event_id.encode("utf-8"), digest_size=8).digest(), "big") >> 1


class Network(StrEnum):
    BLUESKY = "bluesky"
    MASTODON = "mastodon"
    REDDIT = "reddit"
    X = "x"
    SIMULATED = "sim"


class ActivityKind(StrEnum):
    POST = "post"  # an original post
    REPLY = "reply"  # a post answering another post
    MENTION = "mention"  # a mention notification delivered as such by the source
    REPOST = "repost"  # boost / retweet / repost, no own text
    QUOTE = "quote"  # a post embedding another post, with own text
    LIKE = "like"  # favourite / like
    FOLLOW = "follow"
    PROFILE = "profile"  # a profile snapshot or change (handle, bio, counts, status)
    DELETE = "delete"  # a post, like, repost or follow was deleted; or an account was removed


#: kinds whose activity carries text written by the actor
TEXT_KINDS = frozenset({ActivityKind.POST, ActivityKind.REPLY, ActivityKind.MENTION, ActivityKind.QUOTE})


@dataclass(frozen=True, slots=True)
class AccountRef:
    """A reference to an account, with whatever the event told us about it."""

    id: str
    network: Network
    handle: str | None = None
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    """A profile snapshot as the source delivered it (all fields optional)."""

    display_name: str | None = None
    bio: str | None = None
    url: str | None = None
    location: str | None = None
    followers: int | None = None
    following: int | None = None
    posts: int | None = None
    created_at: float | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class Activity:
    """One thing one account did, in the shape every network shares.

    ``created_at`` is the event time (epoch seconds, from the source), ``received_at`` when
    Groundswell received it. ``post_id`` is the post this activity creates (post, reply,
    mention, quote) or deletes; ``target_post_id``/``target_account`` what it answers,
    reposts, quotes, likes or follows, when the source says.
    """

    event_id: str
    kind: ActivityKind
    network: Network
    actor: AccountRef
    created_at: float
    received_at: float
    source: str
    post_id: str | None = None
    text: str | None = None
    lang: str | None = None
    target_post_id: str | None = None
    target_account: AccountRef | None = None
    mentions: tuple[AccountRef, ...] = ()
    hashtags: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    profile: Profile | None = None
    context: tuple[str, ...] = field(default=())  # community / subreddit / instance the event lives in

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "kind": self.kind.value,
            "network": self.network.value,
            "actor": _account_to_dict(self.actor),
            "created_at": self.created_at,
            "received_at": self.received_at,
            "source": self.source,
            "post_id": self.post_id,
            "text": self.text,
            "lang": self.lang,
            "target_post_id": self.target_post_id,
            "target_account": _account_to_dict(self.target_account) if self.target_account else None,
            "mentions": [_account_to_dict(m) for m in self.mentions],
            "hashtags": list(self.hashtags),
            "urls": list(self.urls),
            "profile": _profile_to_dict(self.profile) if self.profile else None,
            "context": list(self.context),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Activity:
        target = d.get("target_account")
        profile = d.get("profile")
        return cls(
            event_id=d["event_id"],
            kind=ActivityKind(d["kind"]),
            network=Network(d["network"]),
            actor=_account_from_dict(d["actor"]),
            created_at=float(d["created_at"]),
            received_at=float(d["received_at"]),
            source=d["source"],
            post_id=d.get("post_id"),
            text=d.get("text"),
            lang=d.get("lang"),
            target_post_id=d.get("target_post_id"),
            target_account=_account_from_dict(target) if target else None,
            mentions=tuple(_account_from_dict(m) for m in d.get("mentions") or ()),
            hashtags=tuple(d.get("hashtags") or ()),
            urls=tuple(d.get("urls") or ()),
            profile=Profile(**profile) if profile else None,
            context=tuple(d.get("context") or ()),
        )


def _account_to_dict(a: AccountRef) -> dict[str, Any]:
    return {"id": a.id, "network": a.network.value, "handle": a.handle, "display_name": a.display_name}


def _account_from_dict(d: dict[str, Any]) -> AccountRef:
    return AccountRef(
        id=d["id"], network=Network(d["network"]), handle=d.get("handle"), display_name=d.get("display_name")
    )


def _profile_to_dict(p: Profile) -> dict[str, Any]:
    return {
        "display_name": p.display_name,
        "bio": p.bio,
        "url": p.url,
        "location": p.location,
        "followers": p.followers,
        "following": p.following,
        "posts": p.posts,
        "created_at": p.created_at,
        "active": p.active,
    }
