"""The alert record on ``crm.alerts``: one JSON object per alert, versioned by ``schema_version``.

The JSON Schema (draft 2020-12) lives beside this module in ``alert.schema.json``; docs/alerts.md
documents the fields, examples and the versioning policy. Consumers get the same bytes on every
channel: the Kafka record value, the webhook body and the server-sent event's data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import orjson

from scoring.priority import ScoredPost

#: bumped on a breaking change only (a field removed, renamed or its meaning changed); additive
#: optional fields keep the version (docs/alerts.md "Versioning")
SCHEMA_VERSION = 2

SCHEMA_FILE = "alert.schema.json"


class AlertKind(StrEnum):
    POST = "post"  # one scored post matched a threshold rule
    VOLUME_SPIKE = "volume_spike"  # a topic's mentions in the last hour are far above its baseline
    ERASURE = "erasure"  # accounts were erased: receivers erase what earlier alerts told them about them


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


SEVERITY_ORDER = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


def stable_id(*parts: str) -> str:
    """The same inputs always give the same id, so a replayed event gives the same alert id."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Spike:
    """A topic's volume in the hour ``[window_start, window_end)`` against its 7-day baseline."""

    topic: str
    window_start: float
    window_end: float
    count: int
    baseline_mean: float
    baseline_std: float
    baseline_hours: int
    threshold: float
    k: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "count": self.count,
            "baseline_mean": self.baseline_mean,
            "baseline_std": self.baseline_std,
            "baseline_hours": self.baseline_hours,
            "threshold": self.threshold,
            "k": self.k,
        }


@dataclass(frozen=True, slots=True)
class ErasureNotice:
    """Accounts erased by identity (a platform delete or deactivation, or an erasure request): ids
    only. A receiver erases what earlier alerts told it about them (``post`` texts, names)."""

    audit_id: str  # the erase event's id on identity.links
    account_ids: tuple[str, ...]
    person_id: str | None  # the person the accounts belonged to, when known
    erased_at: float
    reason: str  # "account deleted on bluesky", "erasure request", ...

    def to_dict(self) -> dict[str, Any]:
        return {
            "audit_id": self.audit_id,
            "account_ids": list(self.account_ids),
            "person_id": self.person_id,
            "erased_at": self.erased_at,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Alert:
    """What a CRM is told. ``received_at`` is the source receive time of the event that caused the
    alert (its newest event for a spike), so ``emitted_at - received_at`` is the pipeline latency."""

    alert_id: str  # stable: the same rule on the same event (or topic hour) always gives the same id
    kind: AlertKind
    rule: str  # the most severe matched rule
    severity: Severity
    emitted_at: float
    received_at: float
    subject_id: str | None = None  # person id when known, else the author's account id
    topics: tuple[str, ...] = ()
    matched_rules: tuple[str, ...] = ()
    post: ScoredPost | None = None
    spike: Spike | None = None
    reasons: tuple[str, ...] = ()  # for alerts without a post (a post alert uses the post's)
    erasure: ErasureNotice | None = None

    def to_dict(self) -> dict[str, Any]:
        post = self.post
        return {
            "schema_version": SCHEMA_VERSION,
            "alert_id": self.alert_id,
            "kind": self.kind.value,
            "rule": self.rule,
            "matched_rules": list(self.matched_rules or (self.rule,)),
            "severity": self.severity.value,
            "emitted_at": self.emitted_at,
            "received_at": self.received_at,
            "subject_id": self.subject_id,
            "topics": list(self.topics),
            "event_id": post.event_id if post else None,
            "account_id": post.account_id if post else None,
            "person_id": getattr(post, "person_id", None) if post else None,
            "priority": post.priority if post else None,
            "reasons": list(post.reasons) if post else list(self.reasons),
            "post": post.to_dict() if post else None,
            "spike": self.spike.to_dict() if self.spike else None,
            "erasure": self.erasure.to_dict() if self.erasure else None,
        }

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_dict())


@cache
def alert_schema() -> dict[str, Any]:
    """The JSON Schema of :meth:`Alert.to_dict` (shipped as package data)."""
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_bytes()
    schema: dict[str, Any] = orjson.loads(text)
    return schema


@dataclass(frozen=True, slots=True)
class AlertHeader:
    """The few fields a router needs, read from an alert record without trusting the rest."""

    alert_id: str
    kind: str
    rule: str
    matched_rules: tuple[str, ...]
    topics: tuple[str, ...]
    priority: float | None
    emitted_at: float
    received_at: float
    #: the post's author (None for spikes): an erasure of this account holds the alert back
    account_id: str | None = None


class BadAlert(ValueError):
    """An alert record that is not JSON or lacks a required field: it is dead-lettered, not sent."""


@dataclass(frozen=True, slots=True)
class ReadAlert:
    """A consumed ``crm.alerts`` record, its header read once: ``header`` None (and ``error`` why)
    for a record that is not an alert."""

    partition: int
    offset: int
    value: bytes
    header: AlertHeader | None
    error: str = ""


def read_alerts(messages: Iterable[Any]) -> list[ReadAlert]:
    """The consumed records (confluent-kafka messages) that are not consumer errors, headers read."""
    out: list[ReadAlert] = []
    for msg in messages:
        if msg.error() is not None:
            continue
        value = msg.value() or b""
        try:
            out.append(ReadAlert(msg.partition(), msg.offset(), value, read_header(value)))
        except BadAlert as e:
            out.append(ReadAlert(msg.partition(), msg.offset(), value, None, str(e)))
    return out


def read_header(value: bytes) -> AlertHeader:
    try:
        d = orjson.loads(value)
    except orjson.JSONDecodeError as e:
        raise BadAlert(f"not JSON: {e}") from e
    if not isinstance(d, dict):
        raise BadAlert("not a JSON object")
    try:
        alert_id = d["alert_id"]
        rule = d["rule"]
        if not isinstance(alert_id, str) or not alert_id or not isinstance(rule, str):
            raise BadAlert("alert_id and rule must be non-empty strings")
        priority = d.get("priority")
        return AlertHeader(
            alert_id=alert_id,
            kind=str(d.get("kind", AlertKind.POST.value)),
            rule=rule,
            matched_rules=tuple(str(r) for r in d.get("matched_rules") or (rule,)),
            topics=tuple(str(t) for t in d.get("topics") or ()),
            priority=None if priority is None else float(priority),
            emitted_at=float(d["emitted_at"]),
            received_at=float(d.get("received_at") or d["emitted_at"]),
            account_id=d["account_id"] if isinstance(d.get("account_id"), str) else None,
        )
    except BadAlert:
        raise
    except KeyError as e:
        raise BadAlert(f"missing field {e.args[0]!r}") from e
    except (TypeError, ValueError) as e:
        raise BadAlert(f"wrong type: {e}") from e
