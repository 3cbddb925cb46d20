"""Audit events of identity decisions, as published on ``identity.links`` (JSON, one per change).

Every change to who-is-who is one event: an account joining a person (``link``), leaving it
(``unlink``), two persons becoming one (``merge``: the younger one becomes an alias of the older),
records split off into another person (``split``), a pair queued for or decided by a human
(``review``), and an erasure (``erase``: ids only, never the erased data). Events carry the
matcher's evidence so a decision can be explained or undone later.

The id is derived from what the event says and what caused it, so a decision replayed after a
restart publishes the same id (consumers de-duplicate on it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from identity.records import Evidence


class AuditAction(StrEnum):
    LINK = "link"
    UNLINK = "unlink"
    MERGE = "merge"
    SPLIT = "split"
    REVIEW = "review"
    ERASE = "erase"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    action: AuditAction
    at: float
    actor: str  # "auto" for the matcher, "user:<name>" for a person acting through the API
    person_id: str | None = None  # the person the change leaves records in (the survivor of a merge)
    record_ids: tuple[str, ...] = ()
    other_person_id: str | None = None  # merge: the alias; split/unlink: the person records left
    probability: float | None = None
    evidence: tuple[Evidence, ...] = ()
    reason: str = ""
    review_id: str | None = None
    status: str | None = None  # review: pending / accepted / rejected
    cause: str = ""  # the event id, import row or request that caused it
    id: str = field(default="")

    def __post_init__(self) -> None:
        if not self.id:
            key = "|".join(
                [
                    self.action.value,
                    self.person_id or "",
                    ",".join(self.record_ids),
                    self.other_person_id or "",
                    self.review_id or "",
                    self.status or "",
                    self.cause,
                ]
            )
            object.__setattr__(self, "id", "audit:" + hashlib.sha256(key.encode()).hexdigest()[:24])

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "identity.audit",
            "id": self.id,
            "action": self.action.value,
            "at": self.at,
            "actor": self.actor,
            "person_id": self.person_id,
            "record_ids": list(self.record_ids),
            "other_person_id": self.other_person_id,
            "probability": self.probability,
            "evidence": [evidence_to_dict(e) for e in self.evidence],
            "reason": self.reason,
            "review_id": self.review_id,
            "status": self.status,
            "cause": self.cause,
        }

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @property
    def key(self) -> bytes:
        """The record key on identity.links: the person, so one person's history stays in order."""
        return (self.person_id or (self.record_ids[0] if self.record_ids else self.id)).encode()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AuditEvent:
        return cls(
            action=AuditAction(d["action"]),
            at=float(d["at"]),
            actor=str(d["actor"]),
            person_id=d.get("person_id"),
            record_ids=tuple(d.get("record_ids") or ()),
            other_person_id=d.get("other_person_id"),
            probability=None if d.get("probability") is None else float(d["probability"]),
            evidence=evidence_from_list(d.get("evidence") or ()),
            reason=str(d.get("reason") or ""),
            review_id=d.get("review_id"),
            status=d.get("status"),
            cause=str(d.get("cause") or ""),
            id=str(d.get("id") or ""),
        )


def evidence_to_dict(e: Evidence) -> dict[str, Any]:
    return {"name": e.name, "value": e.value, "contribution": e.contribution, "detail": e.detail}


def evidence_from_list(items: Iterable[dict[str, Any]]) -> tuple[Evidence, ...]:
    return tuple(
        Evidence(str(i["name"]), float(i["value"]), float(i["contribution"]), str(i.get("detail") or ""))
        for i in items
    )


def evidence_json(evidence: Iterable[Evidence]) -> str:
    """Evidence as one JSON string (a graph property: lists of maps are not portable)."""
    return orjson.dumps([evidence_to_dict(e) for e in evidence]).decode()
