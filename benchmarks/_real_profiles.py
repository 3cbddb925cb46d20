"""The real social profiles the identity benchmarks start from, read from ``../shared/data/social``.

- Mastodon: every ``account`` (and reblogged status's account) in ``mastodon/statuses.jsonl``,
  including Bridgy-Fed accounts bridged from Bluesky (their bsky.app profile link is kept as a link).
- X: every user object (``id`` + ``username``) anywhere in ``twitter_v2/*.jsonl``
  (``includes.users``, twarc-flattened ``author`` objects, ``data`` of users responses).

Fields are taken as the networks deliver them (Mastodon's HTML bio via ``activity.extract.html_to_text``,
profile-field links as websites; X's expanded profile url). Deduplicated by account id; sorted by id,
so every benchmark sees them in the same order.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activity.extract import html_to_text

REPO = Path(__file__).resolve().parents[1]
SOCIAL = REPO.parent / "shared" / "data" / "social"
_HREF = re.compile(r'href="([^"]+)"')


@dataclass(frozen=True, slots=True)
class RealProfile:
    account_id: str  # "mastodon:<actor uri>" or "x:<user id>", as the normalizers name accounts
    network: str  # "mastodon" or "x"
    handle: str
    display_name: str | None
    bio: str | None
    location: str | None
    websites: tuple[str, ...]
    links: tuple[str, ...]  # other networks' profile urls (Bridgy-Fed: the bsky.app profile)
    bridged_from_bluesky: bool = False


def social_dir() -> Path:
    if not SOCIAL.is_dir():
        sys.exit(f"real data not found at {SOCIAL} (this benchmark reads ../shared/data/social)")
    return SOCIAL


def _mastodon(acc: dict[str, Any]) -> RealProfile | None:
    uri = acc.get("uri") or acc.get("url")
    acct = acc.get("acct")
    if not isinstance(uri, str) or not isinstance(acct, str):
        return None
    url = acc.get("url") or ""
    if "@" not in acct:
        host = re.sub(r"^https?://([^/]+).*$", r"\1", url) if url else ""
        acct = f"{acct}@{host}" if host else acct
    note = acc.get("note") or ""
    bio = html_to_text(note, keep_invisible=True).strip() if note else None
    hrefs: list[str] = []
    for f in acc.get("fields") or []:
        if isinstance(f, dict) and isinstance(f.get("value"), str):
            hrefs += _HREF.findall(f["value"])
    bridged = "brid.gy" in uri
    links = tuple(dict.fromkeys(h for h in hrefs if "bsky.app/profile/" in h))
    websites = tuple(dict.fromkeys(h for h in hrefs if h not in links))
    if bio and bridged:  # Bridgy-Fed appends "bridged from ... on Bluesky by Bridgy Fed"
        bio = bio.split("🌉")[0].strip() or None
    return RealProfile(
        account_id=f"mastodon:{uri}",
        network="mastodon",
        handle=acct,
        display_name=acc.get("display_name") or None,
        bio=bio or None,
        location=None,
        websites=websites,
        links=links,
        bridged_from_bluesky=bridged,
    )


def _x(user: dict[str, Any]) -> RealProfile:
    urls = ((user.get("entities") or {}).get("url") or {}).get("urls") or []
    websites = tuple(
        dict.fromkeys(u.get("expanded_url") or u.get("url") for u in urls if isinstance(u, dict))
    )
    return RealProfile(
        account_id=f"x:{user['id']}",
        network="x",
        handle=user["username"],
        display_name=user.get("name") or None,
        bio=user.get("description") or None,
        location=user.get("location") or None,
        websites=tuple(w for w in websites if w),
        links=(),
    )


def _walk_users(obj: Any, out: dict[str, dict[str, Any]]) -> None:
    if isinstance(obj, dict):
        if isinstance(obj.get("id"), str) and isinstance(obj.get("username"), str):
            out.setdefault(obj["id"], obj)
        for v in obj.values():
            _walk_users(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _walk_users(v, out)


def load_real_profiles() -> list[RealProfile]:
    base = social_dir()
    found: dict[str, RealProfile] = {}
    for line in (base / "mastodon" / "statuses.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            st = json.loads(line)
        except json.JSONDecodeError:
            continue
        for s in (st, st.get("reblog") or {}):
            acc = s.get("account") if isinstance(s, dict) else None
            if isinstance(acc, dict) and (p := _mastodon(acc)) is not None:
                found.setdefault(p.account_id, p)
    users: dict[str, dict[str, Any]] = {}
    for path in sorted((base / "twitter_v2").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                _walk_users(json.loads(line), users)
            except json.JSONDecodeError:
                continue  # the capture with an error frame and the compliance files hold non-JSON lines
    for u in users.values():
        p = _x(u)
        found.setdefault(p.account_id, p)
    return [found[k] for k in sorted(found)]


def simple_text(p: RealProfile) -> str:
    """A profile's text when identity.profile_text is not importable (kept close to it)."""
    parts = [p.display_name or "", f"@{p.handle}", p.bio or "", p.location or ""]
    return " | ".join(x for x in parts if x)
