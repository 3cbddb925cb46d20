"""Normalization of the fields people are matched on: names, handles, emails, phones, domains, links.

Every function is pure and total: bad input gives ``None`` (or an empty result), never an exception,
because profile fields are free text typed by strangers. Account handles are turned into one
canonical, network-qualified form so that the same account seen through different doors compares
equal:

- Bluesky: ``bsky:alice.bsky.social`` (also from ``https://bsky.app/profile/alice.bsky.social``, the
  Bridgy-Fed fediverse mirror ``@alice.bsky.social@bsky.brid.gy`` and its redirect URL
  ``https://bsky.brid.gy/r/https://bsky.app/profile/alice.bsky.social``); a DID stays ``did:plc:..``.
- fediverse: ``fedi:jo@fosstodon.org`` (also from ``https://fosstodon.org/@jo``, ``.../users/jo`` and the
  Bridgy-Fed Bluesky mirror ``jo.fosstodon.org.ap.brid.gy``).
- X: ``x:jo``; Reddit: ``reddit:jo``; a website bridged by Bridgy-Fed (``@example.com@web.brid.gy``):
  ``web:example.com``.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote, urlsplit

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_EMAIL = re.compile(r"^[a-z0-9._%+\-]+@[a-z0-9\-]+(\.[a-z0-9\-]+)+$")
_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9\-]{1,62}$")
_DID = re.compile(r"^did:(plc:[a-z2-7]{24}|web:[a-z0-9.\-]+)$")
_USER = re.compile(r"^[a-z0-9_.\-]{1,64}$")
_BARE_URL = re.compile(r"^([a-z0-9\-]+\.)+[a-z]{2,}/\S")  # a profile URL written without its scheme

#: hosts that many unrelated people share: a link to them says nothing about who someone is
PLATFORM_DOMAINS = frozenset(
    {
        "bsky.app",
        "bsky.social",
        "brid.gy",
        "bsky.brid.gy",
        "fed.brid.gy",
        "web.brid.gy",
        "twitter.com",
        "x.com",
        "t.co",
        "reddit.com",
        "facebook.com",
        "instagram.com",
        "youtube.com",
        "youtu.be",
        "linkedin.com",
        "github.com",
        "gitlab.com",
        "medium.com",
        "substack.com",
        "linktr.ee",
        "tiktok.com",
        "threads.net",
        "patreon.com",
        "ko-fi.com",
        "google.com",
        "gmail.com",
        "wikipedia.org",
        "mastodon.social",
        "bit.ly",
        "doi.org",
    }
)

_GMAIL = frozenset({"gmail.com", "googlemail.com"})
_X_HOSTS = frozenset({"twitter.com", "x.com", "mobile.twitter.com"})
_REDDIT_HOSTS = frozenset({"reddit.com", "old.reddit.com", "np.reddit.com"})
_X_RESERVED = frozenset({"home", "search", "hashtag", "i", "intent", "share", "explore", "settings"})


def fold(text: str | None) -> str:
    """Lower-case ASCII with accents removed: ``"Zoë O'Brien"`` -> ``"zoe o'brien"``."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def name_tokens(text: str | None) -> tuple[str, ...]:
    """The alphanumeric words of a name, folded (emoji, punctuation and pronoun tags dropped)."""
    return tuple(t for t in _NON_ALNUM.split(fold(text)) if t)


def normalize_name(text: str | None) -> str:
    return " ".join(name_tokens(text))


def normalize_email(raw: str | None) -> str | None:
    """Lower-cased address; Gmail dots and every ``+tag`` removed (they reach the same mailbox)."""
    if not raw:
        return None
    value = fold(raw.strip().removeprefix("mailto:")).strip("<> ")
    if not _EMAIL.match(value):
        return None
    local, _, domain = value.rpartition("@")
    local = local.split("+", 1)[0]
    if domain in _GMAIL:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}" if local else None


def normalize_phone(raw: str | None) -> str | None:
    """The last nine digits (so ``+44 20 7946 0958`` and ``020 7946 0958`` agree); ``None`` if too short."""
    if not raw:
        return None
    digits = "".join(c for c in raw if c.isdigit())
    return digits[-9:] if len(digits) >= 7 else None


def normalize_domain(raw: str | None) -> str | None:
    """Host of a URL or a bare domain, lower-case, without ``www.``, port or trailing dot."""
    if not raw:
        return None
    value = raw.strip()
    if not value:
        return None
    if "://" not in value:
        value = "http://" + value
    try:
        host = urlsplit(value).hostname or ""
    except ValueError:
        return None
    host = host.rstrip(".").lower()
    host = host.removeprefix("www.")
    return host if _DOMAIN.match(host) else None


def registrable_domain(domain: str) -> str:
    """Crude registrable part (last two labels, three for ``co.uk``-style suffixes), enough here."""
    labels = domain.split(".")
    if len(labels) >= 3 and len(labels[-2]) <= 3 and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def personal_domain(raw: str | None) -> str | None:
    """The domain of a website that could identify its owner (platform hosts give ``None``)."""
    domain = normalize_domain(raw)
    if domain is None:
        return None
    if domain in PLATFORM_DOMAINS or registrable_domain(domain) in PLATFORM_DOMAINS:
        return None
    if domain.endswith(".brid.gy"):
        return None
    return domain


def _bsky(handle: str) -> str | None:
    handle = handle.lower().strip().lstrip("@").rstrip(".")
    if _DID.match(handle):
        return handle
    if handle.endswith(".ap.brid.gy"):  # a fediverse account mirrored into Bluesky by Bridgy-Fed
        return _fedi_from_bridged(handle.removesuffix(".ap.brid.gy"))
    return f"bsky:{handle}" if _DOMAIN.match(handle) else None


def _fedi_from_bridged(rest: str) -> str | None:
    user, _, instance = rest.partition(".")
    if user and _USER.match(user) and _DOMAIN.match(instance):
        return f"fedi:{user}@{instance}"
    return None


def _fedi(user: str, instance: str) -> str | None:
    user, instance = user.lower().strip(), instance.lower().strip().rstrip(".")
    if instance == "bsky.brid.gy":  # a Bluesky account mirrored into the fediverse
        return _bsky(user)
    if instance == "web.brid.gy":  # a website mirrored into the fediverse
        domain = normalize_domain(user)
        return f"web:{domain}" if domain else None
    if not (_USER.match(user) and _DOMAIN.match(instance)):
        return None
    return f"fedi:{user}@{instance}"


def canonical_handle(raw: str | None, network: str | None = None) -> str | None:
    """The canonical account key of a handle or profile URL, or ``None`` when it is not one.

    ``network`` ("bluesky", "mastodon", "x", "reddit") says how to read a bare handle such as
    ``jo``; handles that carry their own form (``@jo@host``, URLs, ``u/jo``) need no hint.
    """
    if not raw:
        return None
    value = raw.strip()
    if not value:
        return None
    if "://" in value or value.lower().startswith(("bsky.app/", "www.")) or _BARE_URL.match(value.lower()):
        return handle_from_url(value)  # "x.com/jo" as written in a bio is the profile URL
    low = value.lower()
    if low.startswith("did:"):
        return low if _DID.match(low) else None
    for prefix in ("bsky:", "fedi:", "x:", "reddit:", "web:"):
        if low.startswith(prefix):
            rest = low[len(prefix) :]
            if prefix == "bsky:":
                return _bsky(rest)
            if prefix == "fedi:":
                user, _, instance = rest.partition("@")
                return _fedi(user, instance)
            if prefix == "web:":
                domain = normalize_domain(rest)
                return f"web:{domain}" if domain else None
            return f"{prefix}{rest.lstrip('@')}" if _USER.match(rest.lstrip("@")) else None
    if low.startswith(("u/", "/u/")):
        user = low.split("u/", 1)[1]
        return f"reddit:{user}" if _USER.match(user) else None
    stripped = low.lstrip("@")
    if "@" in stripped:
        user, _, instance = stripped.partition("@")
        return _fedi(user, instance)
    net = (network or "").lower()
    if net in {"bluesky", "bsky"}:
        return _bsky(stripped)
    if net in {"x", "twitter"}:
        return f"x:{stripped}" if _USER.match(stripped) else None
    if net == "reddit":
        return f"reddit:{stripped}" if _USER.match(stripped) else None
    if stripped.endswith(".ap.brid.gy") or (net == "" and "." in stripped and _DOMAIN.match(stripped)):
        return _bsky(stripped)
    return None


def handle_from_url(url: str) -> str | None:
    """The account a profile URL points at (Bluesky, fediverse, X, Reddit, Bridgy-Fed forms), if any."""
    value = url.strip()
    if "://" not in value:
        value = "https://" + value
    try:
        parts = urlsplit(value)
        host = (parts.hostname or "").lower().removeprefix("www.")
    except ValueError:
        return None
    path = unquote(parts.path)
    segments = [s for s in path.split("/") if s]
    if host in {"bsky.brid.gy", "fed.brid.gy", "web.brid.gy"}:
        # https://bsky.brid.gy/r/https://bsky.app/profile/alice : redirect to the original profile
        marker = "/r/"
        if marker in value:
            return handle_from_url(value.split(marker, 1)[1])
        if len(segments) >= 2 and segments[0] in {"ap", "bsky"}:
            return _bsky(segments[1])  # /ap/did:plc:.. (actor) or /bsky/alice.bsky.social (bridge page)
        if len(segments) >= 2 and segments[0] == "web":
            domain = normalize_domain(segments[1])
            return f"web:{domain}" if domain else None
        return None
    if host == "bsky.app":
        if len(segments) >= 2 and segments[0] == "profile":
            return _bsky(segments[1])
        return None
    if host in _X_HOSTS:
        if segments and segments[0].lower() not in _X_RESERVED and _USER.match(segments[0].lower()):
            return f"x:{segments[0].lower()}"
        return None
    if host in _REDDIT_HOSTS:
        if len(segments) >= 2 and segments[0] in {"u", "user"} and _USER.match(segments[1].lower()):
            return f"reddit:{segments[1].lower()}"
        return None
    if host and segments:
        if segments[0].startswith("@"):  # https://fosstodon.org/@jo or /@jo@other.host
            user = segments[0][1:]
            if "@" in user:
                name, _, instance = user.partition("@")
                return _fedi(name, instance)
            return _fedi(user, host)
        if len(segments) >= 2 and segments[0] == "users":  # ActivityPub actor URI
            return _fedi(segments[1], host)
    return None


def handle_local(canonical: str | None) -> str:
    """The user-chosen part of a canonical handle (``bsky:jo.bsky.social`` -> ``jo``), folded to [a-z0-9]."""
    if not canonical:
        return ""
    kind, _, rest = canonical.partition(":")
    if kind == "did":
        return ""
    if kind == "fedi":
        rest = rest.partition("@")[0]
    elif kind in {"bsky", "web"}:
        labels = rest.split(".")
        rest = labels[0]
    return _NON_ALNUM.sub("", rest)


def handle_domain(canonical: str | None) -> str | None:
    """A personal domain proved by a handle (a Bluesky domain handle, a bridged website)."""
    if not canonical:
        return None
    kind, _, rest = canonical.partition(":")
    if kind == "web":
        return personal_domain(rest)
    if kind == "bsky":
        if rest.endswith(".bsky.social") or rest.endswith(".brid.gy"):
            return None
        return personal_domain(rest)
    return None


def network_of(record_id: str) -> str:
    return record_id.partition(":")[0]


def handle_from_record_id(record_id: str) -> str | None:
    """The account key inside a graph account id (``bluesky:did:plc:..``, ``mastodon:<actor uri>``, ...)."""
    network, _, native = record_id.partition(":")
    if network == "bluesky":
        return _bsky(native)
    if network == "mastodon":
        return handle_from_url(native)
    if network == "reddit":
        user = native.lower().removeprefix("u/")
        return f"reddit:{user}" if _USER.match(user) else None
    return None
