"""What of a profile gets embedded: one short text per record, the same shape for every network.

Fields go in a fixed order with a label each, so the sentence embedding compares like with like; the
most identifying fields come first because the model reads at most 256 word pieces. Handles are
given by their user-chosen part and websites by their domain (URL paths and bridge prefixes carry no
identity). HTML left in bios is stripped.
"""

from __future__ import annotations

import html
import re

from identity.normalize import canonical_handle, handle_local, personal_domain
from identity.records import ProfileRecord

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
MAX_POSTS = 2
MAX_FIELD_CHARS = 200  # short texts: embedding cost grows with length, identity sits up front
_EMBEDDED_ATTRIBUTES = ("birth_date", "address", "postcode", "occupation")


def clean_text(text: str | None, limit: int = MAX_FIELD_CHARS) -> str:
    if not text:
        return ""
    plain = html.unescape(_TAG.sub(" ", text))
    return _SPACE.sub(" ", plain).strip()[:limit]


def display_name_of(record: ProfileRecord) -> str:
    if record.display_name:
        return clean_text(record.display_name, 120)
    return " ".join(p for p in (record.first_name, record.last_name) if p)


def profile_text(record: ProfileRecord) -> str:
    """The text embedded for ``record`` (deterministic: the same record always gives the same text)."""
    parts: list[str] = []
    name = display_name_of(record)
    if name:
        parts.append(f"name: {name}")
    handle = handle_local(canonical_handle(record.handle, record.source)) or clean_text(record.handle, 60)
    if handle:
        parts.append(f"handle: {handle}")
    if record.company:
        parts.append(f"company: {clean_text(record.company, 100)}")
    if record.location:
        parts.append(f"location: {clean_text(record.location, 100)}")
    domains = sorted({d for d in (personal_domain(w) for w in record.websites) if d})
    if domains:
        parts.append("web: " + " ".join(domains))
    for key in _EMBEDDED_ATTRIBUTES:
        value = record.attribute(key)
        if value:
            parts.append(f"{key.replace('_', ' ')}: {clean_text(value, 100)}")
    bio = clean_text(record.bio)
    if bio:
        parts.append(f"bio: {bio}")
    posts = [clean_text(p, 140) for p in record.recent_posts[:MAX_POSTS]]
    posts = [p for p in posts if p]
    if posts:
        parts.append("posts: " + " / ".join(posts))
    return " | ".join(parts)
