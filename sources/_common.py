"""What the simulator's network encoders share: a post reference and the action to encode."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sources._people import Account


@dataclass(slots=True)
class PostRef:
    """A post the simulator made earlier (or made up), so later events can answer, like or share it."""

    author: Account
    id: str  # at:// URI, Mastodon status id, tweet id, reddit fullname
    text: str
    created_at: float
    cid: str = ""  # bluesky
    extra: dict[str, Any] = field(default_factory=dict)  # per network: full status, tweet, link ids


@dataclass(slots=True)
class Action:
    """One thing to encode: ``kind`` is post, reply, like, repost, quote, follow, profile or identity."""

    kind: str
    actor: Account
    t: float  # simulated event time (epoch seconds)
    template: str = ""  # filled content, still holding {co} {p} {url} {tag}
    company: Account | None = None  # the company account {co} stands for
    mentioned: Account | None = None  # the account {p} stands for
    target: PostRef | None = None  # what a reply / like / repost / quote is about
    target_account: Account | None = None  # who a follow is for
    tag: str = ""


@lru_cache(maxsize=4096)
def _second(sec: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))


def iso_ms(t: float) -> str:
    """``2026-07-04T14:38:08.999Z``."""
    ms = int(t * 1000)
    return f"{_second(ms // 1000)}.{ms % 1000:03d}Z"


def iso_s(t: float) -> str:
    """``2021-04-01T15:52:31.000Z`` (X has second precision)."""
    return _second(int(t)) + ".000Z"


def text_tokens(action: Action, url: str | None) -> tuple[dict[str, str], dict[str, Account]]:
    """The template tokens of an action's text (company, mentioned person, link, hashtag) and the
    accounts behind the mention tokens."""
    tokens: dict[str, str] = {}
    who: dict[str, Account] = {}
    if action.company is not None:
        tokens["co"], who["co"] = "@" + action.company.handle, action.company
    if action.mentioned is not None:
        tokens["p"], who["p"] = "@" + action.mentioned.handle, action.mentioned
    if url:
        tokens["url"] = url
    if action.tag:
        tokens["tag"] = "#" + action.tag
    return tokens, who
