"""Hashtags in a post's text (pure).

The graph keeps each post's text (``Post.text``) but no hashtag nodes, so "influencers on
#coffee" finds candidate posts with a case-insensitive ``CONTAINS '#coffee'`` and keeps those
whose text really carries the tag by this rule (``#coffeetime`` is not ``#coffee``).

The rule follows twitter-text's in spirit: ``#`` (or the full-width ``＃``) not preceded by a
letter, digit, ``_`` or ``&`` (``&#39;`` is an HTML entity, not a tag), then letters, digits,
marks and ``_``, at least one of which is not a digit. Tags compare case-folded.
"""

from __future__ import annotations

import re

_TAG = re.compile(r"(?<![\w&])[#＃]([\w]*[^\W\d][\w]*)", re.UNICODE)
MAX_TAG_CHARS = 100


def normalize_tag(tag: str) -> str | None:
    """``"#Coffee"`` / ``"coffee"`` -> ``"coffee"``; None if it cannot be a hashtag."""
    t = tag.strip().lstrip("#＃").casefold()
    if not t or len(t) > MAX_TAG_CHARS or not _TAG.fullmatch("#" + t):
        return None
    return t


def hashtags(text: str | None) -> tuple[str, ...]:
    """Distinct case-folded hashtags of ``text``, in order of first appearance."""
    if not text:
        return ()
    seen: dict[str, None] = {}
    for m in _TAG.finditer(text):
        seen.setdefault(m.group(1).casefold(), None)
    return tuple(seen)


def has_hashtag(text: str | None, tag: str) -> bool:
    return tag in hashtags(text)
