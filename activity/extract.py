"""Entity extraction from plain post text: mentions, replies, hashtags, URLs, cashtags.

Follows the twitter-text extraction rules (the conformance suite twitter/twitter-text
``conformance/extract.yml`` is run over it in tests/unit/test_extract_conformance.py), written
here for Python's ``re``: letters are ``[^\\W\\d_]``, marks come from a generated table. Indices are
code-point offsets into the given ``str`` (twitter-text's Unicode indices).

Also :func:`html_to_text` for Mastodon's HTML ``content`` (stdlib ``html.parser`` only).

Pure functions, no I/O. Every regex here is written to stay near-linear on hostile input: domain
labels are bounded at 63 characters (as DNS bounds them) and a host at 20 labels, and TLDs are
matched through a trie-shaped pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from activity._textdata import CCTLDS, GTLDS, MARKS

# --- shared character classes -------------------------------------------------------------------

_SPACES = "\\s\u180e"
_INVALID = "\ufffe\ufeff\uffff"
_DIRECTIONAL = "\u202a-\u202e\u061c\u200e\u200f\u2066-\u2069"
_PUNCT = "!-/:-@\\[-`{-~"  # ASCII punctuation: !"#$%&'()*+,-./ :;<=>?@ [\]^_` {|}~
_LATIN_ACCENTS = (
    "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263"
    "\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_AT_SIGNS = "@\uff20"
_HASH_SIGNS = "#\uff03"

# --- mentions and replies -----------------------------------------------------------------------

_MENTION_OR_LIST = re.compile(
    "(^|[^a-zA-Z0-9_!#$%&*@\uff20]|(?:^|[^a-zA-Z0-9_+~.-])(?:rt|RT|rT|Rt):?)"
    f"([{_AT_SIGNS}])([a-zA-Z0-9_]{{1,20}})(/[a-zA-Z][a-zA-Z0-9_\\-]{{0,24}})?"
)
_END_MENTION = re.compile(f"[{_AT_SIGNS}{_LATIN_ACCENTS}]|://")
_REPLY = re.compile(f"^(?:[{_SPACES}]|\u200e|\u200f)*[{_AT_SIGNS}]([a-zA-Z0-9_]{{1,20}})")

# --- hashtags -----------------------------------------------------------------------------------

_HASHTAG_SPECIALS = (
    "_\u200c\u200d\ua67e\u05be\u05f3\u05f4\uff5e\u301c\u309b\u309c\u30a0\u30fb\u3003\u0f0b\u0f0c\u00b7"
)
_HASHTAG_ALNUM = f"[\\w{MARKS}{_HASHTAG_SPECIALS}]"
_HASHTAG_ALPHA = f"(?:[^\\W\\d_]|[{MARKS}])"
_HASHTAG = re.compile(
    f"(?:(?<=[\ufe0e\ufe0f])|(?<![\\w{MARKS}{_HASHTAG_SPECIALS}&]))"
    f"[{_HASH_SIGNS}](?!\ufe0f|\u20e3)({_HASHTAG_ALNUM}*{_HASHTAG_ALPHA}{_HASHTAG_ALNUM}*)"
)
_END_HASHTAG = re.compile(f"[{_HASH_SIGNS}]|://")

# --- cashtags -----------------------------------------------------------------------------------

_CASHTAG = re.compile(
    f"(?<![^{_SPACES}])\\$([A-Za-z]{{1,6}}(?:[._][A-Za-z]{{1,2}})?)(?=$|[{_SPACES}]|[{_PUNCT}])"
)

# --- URLs ---------------------------------------------------------------------------------------


def _tld_alternation(tlds: frozenset[str]) -> str:
    """A trie-shaped regex for a set of literals (``re`` tries flat alternatives one by one)."""
    trie: dict[str, Any] = {}
    for tld in tlds:
        node = trie
        for ch in tld.lower():
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:
            return f"(?:{body})?"
        return body

    return emit(trie)


_TLD_END = "(?=[^a-zA-Z0-9@+-]|$)"
_GTLD = f"(?:(?:{_tld_alternation(GTLDS)}){_TLD_END})"
_CCTLD = f"(?:(?:{_tld_alternation(CCTLDS)}){_TLD_END})"
_PUNYCODE = "(?:xn--[\\-0-9a-z]+)"
_D = f"[^{_PUNCT}{_SPACES}{_INVALID}{_DIRECTIONAL}]"  # a domain character
_SUBDOMAIN = f"(?:{_D}(?:[_-]*{_D}){{0,62}}\\.)"
_DOMAIN_NAME = f"(?:{_D}(?:-*{_D}){{0,62}}\\.)"
_DOMAIN = f"(?:{_SUBDOMAIN}{{0,19}}{_DOMAIN_NAME}(?:{_GTLD}|{_CCTLD}|{_PUNYCODE}))"
_G = f"[a-z\u0400-\u04ff0-9!*';:=+,.$/%#\\[\\]\\-\u2013_~&|@{_LATIN_ACCENTS}]"  # general path char
_PARENS = f"(?:\\((?:{_G}+|(?:{_G}*\\({_G}+\\){_G}*))\\))"
_PATH_END = f"(?:[+\\-a-z\u0400-\u04ff0-9=_#/{_LATIN_ACCENTS}]|{_PARENS})"
_PATH = f"(?:(?:{_G}*(?:{_PARENS}{_G}*)*{_PATH_END})|(?:{_G}+/))"
_QUERY_CHARS = "[a-z0-9!?*'@();:&=+$/%#\\[\\]\\-_.,~|]"
_QUERY_END = "[a-z0-9\\-_&=#/]"
_QUERY = f"(?:\\?{_QUERY_CHARS}*{_QUERY_END})"
_PRECEDING = f"(?:[^A-Za-z0-9{_AT_SIGNS}${_HASH_SIGNS}{_INVALID}]|[{_DIRECTIONAL}]|^)"

_URL = re.compile(
    f"({_PRECEDING})((https?://)?({_DOMAIN})(?::([0-9]+))?(/{_PATH}*)?({_QUERY})?)",
    re.IGNORECASE,
)
_ASCII_DOMAIN = re.compile(
    f"(?:[\\-a-z0-9{_LATIN_ACCENTS}]{{1,63}}\\.){{1,20}}(?:{_GTLD}|{_CCTLD}|{_PUNYCODE})", re.IGNORECASE
)
_TCO = re.compile(f"^https?://t\\.co/([a-z0-9]+)(?:{_QUERY})?", re.IGNORECASE)
_INVALID_BEFORE_NO_PROTOCOL = re.compile("[-_./]$")
MAX_TCO_SLUG_LENGTH = 40
MAX_URL_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class Entity:
    """One extracted entity: its value (without @, # or $) and its [start, end) code-point range."""

    value: str
    start: int
    end: int
    list_slug: str = ""  # only for mentions of lists: "/list-name"


@dataclass(frozen=True, slots=True)
class TextEntities:
    mentions: tuple[str, ...]
    hashtags: tuple[str, ...]
    urls: tuple[str, ...]
    cashtags: tuple[str, ...]


def extract_mentions_or_lists_with_indices(text: str) -> list[Entity]:
    if not any(c in text for c in _AT_SIGNS):
        return []
    out: list[Entity] = []
    for m in _MENTION_OR_LIST.finditer(text):
        if _END_MENTION.match(text, m.end()):
            continue
        start = m.start(2)
        out.append(Entity(m.group(3), start, m.end(), m.group(4) or ""))
    return out


def extract_mentions_with_indices(text: str) -> list[Entity]:
    return [e for e in extract_mentions_or_lists_with_indices(text) if not e.list_slug]


def extract_mentions(text: str) -> list[str]:
    return [e.value for e in extract_mentions_with_indices(text)]


def extract_reply_screen_name(text: str) -> str | None:
    """The account a post replies to by starting with an @mention, or None."""
    m = _REPLY.match(text)
    if m is None or _END_MENTION.match(text, m.end()):
        return None
    return m.group(1)


def extract_hashtags_with_indices(text: str, check_url_overlap: bool = True) -> list[Entity]:
    if not any(c in text for c in _HASH_SIGNS):
        return []
    tags: list[Entity] = []
    for m in _HASHTAG.finditer(text):
        if _END_HASHTAG.match(text, m.end()):
            continue
        tags.append(Entity(m.group(1), m.start(), m.end()))
    if check_url_overlap and tags:
        urls = extract_urls_with_indices(text)
        tags = [t for t in tags if not any(u.start < t.end and t.start < u.end for u in urls)]
    return tags


def extract_hashtags(text: str) -> list[str]:
    return [e.value for e in extract_hashtags_with_indices(text)]


def extract_cashtags_with_indices(text: str) -> list[Entity]:
    if "$" not in text:
        return []
    return [Entity(m.group(1), m.start(), m.end()) for m in _CASHTAG.finditer(text)]


def extract_cashtags(text: str) -> list[str]:
    return [e.value for e in extract_cashtags_with_indices(text)]


def _valid_domain(url: str, protocol: str, domain: str) -> bool:
    try:
        encoded = domain.encode("idna")
    except UnicodeError:
        return False
    if not encoded:
        return False
    return len(protocol) + len(url) + len(encoded) - len(domain) <= MAX_URL_LENGTH


def extract_urls_with_indices(text: str, without_protocol: bool = True) -> list[Entity]:
    if "." not in text:
        return []
    urls: list[Entity] = []
    for m in _URL.finditer(text):
        before, url, protocol, domain, path = m.group(1), m.group(2), m.group(3), m.group(4), m.group(6)
        start, end = m.start(2), m.end(2)
        if not protocol:
            if not without_protocol or _INVALID_BEFORE_NO_PROTOCOL.search(before):
                continue
            last: Entity | None = None
            ascii_end = 0
            for am in _ASCII_DOMAIN.finditer(domain):
                a_start = domain.index(am.group(0), ascii_end)
                ascii_end = a_start + len(am.group(0))
                last = Entity(am.group(0), start + a_start, start + ascii_end)
                urls.append(last)
            if last is None:
                continue
            if path:
                urls[-1] = Entity(url.replace(domain, last.value, 1), last.start, end)
        else:
            tco = _TCO.match(url)
            if tco is not None:
                if len(tco.group(1)) > MAX_TCO_SLUG_LENGTH:
                    continue
                url = tco.group(0)
                end = start + len(url)
            if not _valid_domain(url, protocol, domain):
                continue
            urls.append(Entity(url, start, end))
    return urls


def extract_urls(text: str) -> list[str]:
    return [e.value for e in extract_urls_with_indices(text)]


def extract_entities(text: str) -> TextEntities:
    """All four kinds at once (hashtags inside URLs are dropped, as twitter-text does)."""
    return TextEntities(
        mentions=tuple(extract_mentions(text)),
        hashtags=tuple(extract_hashtags(text)),
        urls=tuple(extract_urls(text)),
        cashtags=tuple(extract_cashtags(text)),
    )


# --- HTML to text (Mastodon content) ------------------------------------------------------------

_BLOCK_TAGS = frozenset({"p", "div", "blockquote", "li", "ul", "ol", "pre", "h1", "h2", "h3", "h4"})


class _TextCollector(HTMLParser):
    def __init__(self, keep_invisible: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._keep_invisible = keep_invisible
        self._invisible_depth = 0  # inside <span class="invisible"> (Mastodon's hidden URL parts)
        self._span_stack: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK_TAGS:
            self._block_break()
        elif tag == "span":
            classes = (dict(attrs).get("class") or "").split()
            hidden = "invisible" in classes
            self._span_stack.append(hidden)
            self._invisible_depth += hidden

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self._block_break()
        elif tag == "span" and self._span_stack:
            self._invisible_depth -= self._span_stack.pop()

    def handle_data(self, data: str) -> None:
        if self._keep_invisible or not self._invisible_depth:
            self.parts.append(data)

    def _block_break(self) -> None:
        text = "".join(self.parts)
        if text and not text.endswith("\n\n"):
            self.parts.append("\n" if text.endswith("\n") else "\n\n")


def html_to_text(html: str, keep_invisible: bool = True) -> str:
    """Visible text of an HTML fragment: tags stripped, entities unescaped, <br> and <p> as newlines.

    Mastodon hides the scheme and the tail of long links in ``<span class="invisible">``; they are
    kept by default (so URLs come out whole) unless ``keep_invisible`` is False.
    """
    parser = _TextCollector(keep_invisible)
    parser.feed(html)
    parser.close()
    return "".join(parser.parts).strip()
