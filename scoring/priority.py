"""Which posts concern the company, how they feel, and how urgent they are."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from activity.schema import TEXT_KINDS, Activity


class CompanyMatcher:
    """Does an activity mention the company? By its accounts, its handles, keywords or hashtags."""

    def __init__(self, keywords: Iterable[str], accounts: Iterable[str]) -> None:
        words = sorted({k.strip().lower() for k in keywords if k.strip()})
        self._accounts = frozenset(accounts)
        self._words = frozenset(w.lstrip("@#") for w in words)
        self._pattern = (
            re.compile(
                r"(?<![\w])[@#]?(" + "|".join(re.escape(w.lstrip("@#")) for w in words) + r")(?![\w])", re.I
            )
            if words
            else None
        )

    def mentions_company(self, activity: Activity) -> bool:
        if activity.kind not in TEXT_KINDS:
            return False
        if any(m.id in self._accounts for m in activity.mentions):
            return True
        if activity.target_account is not None and activity.target_account.id in self._accounts:
            return True
        if any(
            (m.handle or "").lower().split("@")[0].split(".")[0] in self._words for m in activity.mentions
        ):
            return True
        if any(h.lower() in self._words for h in activity.hashtags):
            return True
        return bool(self._pattern and activity.text and self._pattern.search(activity.text))


class Sentiment:
    """VADER (a lexicon and rules made for social text): compound score in [-1, 1]."""

    def __init__(self) -> None:
        self._analyzer = SentimentIntensityAnalyzer()

    def compound(self, text: str) -> float:
        return float(self._analyzer.polarity_scores(text[:5000])["compound"])


@dataclass(frozen=True, slots=True)
class ScoredPost:
    """A post that mentions the company, with its sentiment, its author's influence and a priority."""

    event_id: str
    account_id: str
    post_id: str | None
    network: str
    text: str
    created_at: float
    received_at: float
    sentiment: float
    influence: float
    priority: float
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "account_id": self.account_id,
            "post_id": self.post_id,
            "network": self.network,
            "text": self.text,
            "created_at": self.created_at,
            "received_at": self.received_at,
            "sentiment": self.sentiment,
            "influence": self.influence,
            "priority": self.priority,
            "reasons": list(self.reasons),
        }

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScoredPost:
        return cls(**{**d, "reasons": tuple(d["reasons"])})


#: influence at which the influence half of the priority reaches 0.5
INFLUENCE_SCALE = 10.0


def score_post(activity: Activity, sentiment: float, influence: float) -> ScoredPost:
    """Priority in [0, 1]: half from negativity, half from the author's (saturating) influence."""
    negativity = max(0.0, -sentiment)
    reach = 1.0 - math.exp(-math.log(2.0) * max(influence, 0.0) / INFLUENCE_SCALE)
    priority = round(0.5 * negativity + 0.5 * reach, 4)
    reasons = [f"sentiment {sentiment:+.2f}", f"author influence {influence:.2f}"]
    if negativity >= 0.5:
        reasons.append("strongly negative")
    if reach >= 0.5:
        reasons.append("influential author")
    return ScoredPost(
        event_id=activity.event_id,
        account_id=activity.actor.id,
        post_id=activity.post_id,
        network=activity.network.value,
        text=(activity.text or "")[:1000],
        created_at=activity.created_at,
        received_at=activity.received_at,
        sentiment=round(sentiment, 4),
        influence=round(influence, 4),
        priority=priority,
        reasons=tuple(reasons),
    )
