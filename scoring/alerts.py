"""Alert rules over scored posts. The alert JSON on ``crm.alerts`` is versioned (SCHEMA_VERSION)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from scoring.priority import ScoredPost

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Alert:
    alert_id: str  # stable: the same rule on the same event always gives the same id
    rule: str
    post: ScoredPost
    emitted_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "alert_id": self.alert_id,
            "rule": self.rule,
            "emitted_at": self.emitted_at,
            **self.post.to_dict(),
        }

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_dict())


@dataclass(frozen=True, slots=True)
class NegativeMentionRule:
    """A negative post mentioning the company from an author at or above an influence threshold."""

    sentiment_max: float
    influence_min: float
    name: str = "negative-mention-influential"

    def evaluate(self, post: ScoredPost, now: float) -> Alert | None:
        if post.sentiment > self.sentiment_max or post.influence < self.influence_min:
            return None
        alert_id = hashlib.sha256(f"{self.name}\x00{post.event_id}".encode()).hexdigest()[:24]
        return Alert(alert_id=alert_id, rule=self.name, post=post, emitted_at=now)
