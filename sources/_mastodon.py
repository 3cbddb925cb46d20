"""Mastodon Status entities, as the streaming API's ``update`` event delivers them (seen from one server)."""

from __future__ import annotations

import html
import random
from typing import Any

from sources import _ids
from sources._common import Action, PostRef, iso_ms, text_tokens
from sources._people import MASTODON_HOME, Account
from sources._text import render


def _acct(acc: Account) -> str:
    return acc.handle if acc.instance == MASTODON_HOME else f"{acc.handle}@{acc.instance}"


def _profile_url(acc: Account) -> str:
    return f"https://{acc.instance}/@{acc.handle}"


def _link(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return (
        f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener" translate="no">'
        f'<span class="invisible">{scheme}://</span><span class="">{html.escape(rest)}</span>'
        '<span class="invisible"></span></a>'
    )


def account_entity(acc: Account, t: float) -> dict[str, Any]:
    """The Account entity (memoised per account and day: only ``last_status_at`` changes here)."""
    day = iso_ms(t)[:10]
    cached: tuple[str, dict[str, Any]] | None = acc.cache.get("mastodon_account")
    if cached is None or cached[0] != day:
        cached = acc.cache["mastodon_account"] = (day, _account_entity(acc, day))
    return cached[1]


def _account_entity(acc: Account, last_status_day: str) -> dict[str, Any]:
    media = f"https://files.{MASTODON_HOME}/accounts"
    path = "/".join(acc.numeric_id[i : i + 3] for i in range(0, len(acc.numeric_id), 3))
    fields = []
    if acc.website:
        fields.append({"name": "Website", "value": _link(acc.website), "verified_at": None})
    created_day = int(acc.created_at // 86400 * 86400)
    return {
        "id": acc.numeric_id,
        "username": acc.handle,
        "acct": _acct(acc),
        "display_name": acc.display_name,
        "locked": False,
        "bot": False,
        "discoverable": True,
        "indexable": True,
        "group": False,
        "created_at": iso_ms(created_day),
        "note": f"<p>{html.escape(acc.bio)}</p>",
        "url": _profile_url(acc),
        "uri": acc.native,
        "avatar": f"{media}/avatars/{path}/original/{acc.numeric_id[-16:]}.png",
        "avatar_static": f"{media}/avatars/{path}/original/{acc.numeric_id[-16:]}.png",
        "header": f"https://{MASTODON_HOME}/headers/original/missing.png",
        "header_static": f"https://{MASTODON_HOME}/headers/original/missing.png",
        "followers_count": acc.followers,
        "following_count": acc.following,
        "statuses_count": acc.posts,
        "last_status_at": last_status_day,
        "hide_collections": False,
        "noindex": False,
        "emojis": [],
        "roles": [],
        "fields": fields,
    }


def _mention_html(acc: Account) -> str:
    return (
        f'<span class="h-card" translate="no"><a href="{_profile_url(acc)}" class="u-url mention">'
        f"@<span>{html.escape(acc.handle)}</span></a></span>"
    )


def _status(action: Action, rng: random.Random, created: float, sid: str) -> tuple[dict[str, Any], str]:
    acc = action.actor
    tokens, who = text_tokens(action, acc.website)
    text, spans = render(action.template, tokens)
    parts: list[str] = []
    pos = 0
    mentions: list[dict[str, Any]] = []
    tags: list[dict[str, Any]] = []
    for key, s, e in spans:
        parts.append(html.escape(text[pos:s]))
        pos = e
        if key in who:
            m = who[key]
            parts.append(_mention_html(m))
            mentions.append(
                {"id": m.numeric_id, "username": m.handle, "url": _profile_url(m), "acct": _acct(m)}
            )
        elif key == "url":
            parts.append(_link(tokens["url"]))
        else:
            tag_url = f"https://{acc.instance}/tags/{action.tag}"
            parts.append(
                f'<a href="{tag_url}" class="mention hashtag" rel="tag">#<span>{action.tag}</span></a>'
            )
            tags.append({"name": action.tag, "url": f"https://{MASTODON_HOME}/tags/{action.tag}"})
    parts.append(html.escape(text[pos:]))
    reply_to = action.target if action.kind == "reply" else None
    status = {
        "id": sid,
        "created_at": iso_ms(created),
        "in_reply_to_id": reply_to.id if reply_to else None,
        "in_reply_to_account_id": reply_to.author.numeric_id if reply_to else None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "public",
        "language": "en",
        "uri": f"{acc.native}/statuses/{sid}",
        "url": f"{_profile_url(acc)}/{sid}",
        "replies_count": 0,
        "reblogs_count": 0,
        "favourites_count": 0,
        "edited_at": None,
        "content": "<p>" + "".join(parts) + "</p>",
        "reblog": None,
        "application": {"name": rng.choice(("Web", "Ivory", "Tusky", "Elk", "Mona")), "website": None},
        "account": account_entity(acc, action.t),
        "media_attachments": [],
        "mentions": mentions,
        "tags": tags,
        "emojis": [],
        "quote": None,
        "card": None,
        "poll": None,
    }
    return status, text


def encode(action: Action, rng: random.Random) -> tuple[dict[str, Any], PostRef | None]:
    created = action.t - rng.uniform(0.2, 3.0)
    sid = _ids.mastodon_id(created * 1000, rng)
    if action.kind in ("post", "reply"):
        status, text = _status(action, rng, created, sid)
        return status, PostRef(action.actor, sid, text, created, extra={"status": status})
    if action.kind == "repost" and action.target is not None:
        inner = action.target.extra["status"]
        acc = action.actor
        status = {
            "id": sid,
            "created_at": iso_ms(created),
            "in_reply_to_id": None,
            "in_reply_to_account_id": None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": "public",
            "language": None,
            "uri": f"{acc.native}/statuses/{sid}/activity",
            "url": f"{_profile_url(acc)}/{sid}",
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "edited_at": None,
            "content": "",
            "reblog": inner,
            "account": account_entity(acc, action.t),
            "media_attachments": [],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "quote": None,
            "card": None,
            "poll": None,
        }
        return status, None
    raise ValueError(f"mastodon cannot encode {action.kind!r}")


def synth_post(author: Account, text: str, t: float, rng: random.Random) -> PostRef:
    """A status made before the simulation started, so an early boost or reply has a subject."""
    sid = _ids.mastodon_id(t * 1000, rng)
    status, rendered = _status(Action("post", author, t, template=text), rng, t, sid)
    return PostRef(author, sid, rendered, t, extra={"status": status})
