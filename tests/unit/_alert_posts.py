"""Scored posts for the alert tests, with the contract's newer fields (intent, person, topics ...)
whether or not scoring.priority.ScoredPost has them yet."""

from __future__ import annotations

import dataclasses
from typing import Any

from scoring.priority import ScoredPost

CONTRACT_FIELDS: dict[str, Any] = {
    "intent": None,
    "intent_confidence": 0.0,
    "person_id": None,
    "topics": (),
    "customer_value": None,
    "velocity": 0.0,
}

if all(name in ScoredPost.__dataclass_fields__ for name in CONTRACT_FIELDS):
    PostType: type[ScoredPost] = ScoredPost
else:

    @dataclasses.dataclass(frozen=True, slots=True)
    class _ContractPost(ScoredPost):
        intent: str | None = None
        intent_confidence: float = 0.0
        person_id: str | None = None
        topics: tuple[str, ...] = ()
        customer_value: float | None = None
        velocity: float = 0.0

    PostType = _ContractPost

T0 = 1_750_000_000.0


def scored(event_id: str = "e1", **kw: Any) -> ScoredPost:
    base: dict[str, Any] = {
        "event_id": event_id,
        "account_id": "bluesky:did:plc:alice",
        "post_id": f"p-{event_id}",
        "network": "bluesky",
        "text": "acme lost my order",
        "created_at": T0,
        "received_at": T0 + 0.2,
        "sentiment": -0.6,
        "influence": 5.0,
        "priority": 0.6,
        "reasons": ("sentiment -0.60",),
    }
    base.update(kw)
    return PostType(**base)
