"""Plain records for identity matching: a profile seen on one network (or in the CRM) and a decision.

These types are the contract between normalization, blocking, candidate search, the matcher and the
resolver; they carry no behaviour beyond validation so every stage stays a pure function over them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
