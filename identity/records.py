"""Plain records for identity matching: a profile seen on one network (or in the CRM) and a decision.

These types are the contract between normalization, blocking, candidate search, the matcher and the
resolver; they carry no behaviour beyond validation so every stage stays a pure function over them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from activity.schema import AccountRef, Profile


@dataclass(frozen=True, slots=True)
class ProfileRecord:
    """What we know about one account (or one CRM customer) that can tell us who is behind it."""

    record_id: str  # account id as in the graph ("bluesky:did:plc:..", "mastodon:...") or "crm:<customer id>"
    source: str  # network name ("bluesky", "mastodon", "reddit", "x") or "crm"
    display_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    handle: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    websites: tuple[str, ...] = ()  # URLs or bare domains
    links: tuple[str, ...] = ()  # profile URLs, bridge links (e.g. Bridgy-Fed), other networks' handles
    bio: str | None = None
    location: str | None = None
    company: str | None = None
    recent_posts: tuple[str, ...] = ()
    customer_value: float | None = None  # CRM lifetime value
    tier: str | None = None  # CRM tier
    # further structured CRM fields as (name, value): "birth_date" (YYYY-MM-DD or YYYYMMDD), "postcode",
    # "address", "national_id", "gender", "occupation"; an addition to the contract, defaulted so that
    # every existing caller is unaffected
    attributes: tuple[tuple[str, str], ...] = ()

    def attribute(self, name: str) -> str | None:
        """The first value of a structured attribute, or ``None``."""
        for key, value in self.attributes:
            if key == name and value:
                return value
        return None


class MatchOutcome(StrEnum):
    """What to do with a candidate pair: merge automatically, ask a human, or keep apart."""

    MERGE = "merge"
    REVIEW = "review"
    NO_MATCH = "no_match"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One reason behind a decision: a feature's value and how much it moved the log-odds."""

    name: str
    value: float
    contribution: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class MatchDecision:
    """The matcher's verdict on a pair, kept with every piece of evidence so it can be audited or undone."""

    record_id: str
    other_id: str
    probability: float
    outcome: MatchOutcome
    evidence: tuple[Evidence, ...]


_URL = re.compile(r"https?://[^\s<>\"')]+", re.IGNORECASE)
_FEDI_HANDLE = re.compile(r"(?<![\w@/])@[a-z0-9_.\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)+", re.IGNORECASE)


def record_from_account(
    account: AccountRef, profile: Profile | None = None, recent_posts: Sequence[str] = ()
) -> ProfileRecord:
    """A network account (and its latest profile snapshot) as a record to match.

    The profile URL and URLs or fediverse handles written in the bio become ``links`` when they point
    at an account (another network's profile, a Bridgy-Fed bridge) and ``websites`` otherwise.
    """
    from identity.normalize import handle_from_url

    bio = profile.bio if profile else None
    urls = ([profile.url] if profile and profile.url else []) + _URL.findall(bio or "")
    links = [u for u in urls if handle_from_url(u)] + _FEDI_HANDLE.findall(bio or "")
    websites = [u.rstrip(".,;:!?") for u in urls if not handle_from_url(u)]
    return ProfileRecord(
        record_id=account.id,
        source=account.network.value,
        display_name=(profile.display_name if profile else None) or account.display_name,
        handle=account.handle,
        websites=tuple(dict.fromkeys(websites)),
        links=tuple(dict.fromkeys(links)),
        bio=bio,
        location=profile.location if profile else None,
        recent_posts=tuple(recent_posts),
    )
