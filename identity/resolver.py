"""The first resolver: one account, one person.

A deterministic person id derived from the account id, so two workers (or a replay) resolving the
same account always agree without coordination. The embedding resolver (issue "Identity
resolution") replaces the decision, not this contract: an ``IdentityLink`` with its evidence.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

RESOLVER_NAME = "one-account-one-person"


@dataclass(frozen=True, slots=True)
class IdentityLink:
    account_id: str
    person_id: str
    confidence: float
    evidence: tuple[str, ...]
    event_id: str  # the activity that first showed us the account
    at: float

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "account_id": self.account_id,
                "person_id": self.person_id,
                "confidence": self.confidence,
                "evidence": list(self.evidence),
                "event_id": self.event_id,
                "at": self.at,
            }
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IdentityLink:
        return cls(
            account_id=d["account_id"],
            person_id=d["person_id"],
            confidence=float(d["confidence"]),
            evidence=tuple(d.get("evidence") or ()),
            event_id=d["event_id"],
            at=float(d["at"]),
        )


def person_id_for(account_id: str) -> str:
    return "person:" + hashlib.sha256(account_id.encode()).hexdigest()[:20]


def resolve_single(account_id: str, event_id: str, at: float) -> IdentityLink:
    return IdentityLink(
        account_id=account_id,
        person_id=person_id_for(account_id),
        confidence=1.0,
        evidence=(RESOLVER_NAME,),
        event_id=event_id,
        at=at,
    )
