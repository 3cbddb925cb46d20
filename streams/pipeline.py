"""The stream stages as plain classes: each turns consumed records into records to send.

Faust agents (streams/app.py) are thin loops around these, so the same code runs in unit tests,
benchmarks and the stream. Output records are ``Out(topic, key, value, headers)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from activity.deadletter import DeadLetter, DeadLetterReason
from activity.normalize import normalize
from activity.raw import RawEvent
from activity.schema import Activity
from groundswell.metrics import Metrics
from groundswell.settings import (
    TOPIC_ACTIVITY,
    TOPIC_ALERTS,
    TOPIC_DEADLETTER,
    TOPIC_IDENTITY,
    TOPIC_INFLUENCE,
    TOPIC_PRIORITY,
    TOPIC_SIGNALS,
    Settings,
)
from identity.resolver import resolve_single
from scoring import influence
from scoring.alerts import NegativeMentionRule
from scoring.priority import CompanyMatcher, ScoredPost, Sentiment, score_post

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Out:
    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, bytes] | None = None


def dead_letter_out(dl: DeadLetter, metrics: Metrics) -> Out:
    metrics.dead_letters.labels(dl.stage, dl.reason.value).inc()
    return Out(TOPIC_DEADLETTER, dl.source.encode(), dl.to_bytes())


class NormalizeStage:
    """social.raw -> social.activity (keyed by actor account) + social.deadletter."""

    def __init__(self, settings: Settings, metrics: Metrics, clock: Clock = time.time) -> None:
        self._max = settings.max_payload_bytes
        self._m = metrics
        self._clock = clock

    def process(self, raw: RawEvent) -> list[Out]:
        self._m.events_in.labels("normalize", raw.format or "unknown").inc()
        result = normalize(raw, max_bytes=self._max)
        outs = [dead_letter_out(dl, self._m) for dl in result.dead_letters]
        for a in result.activities:
            outs.append(Out(TOPIC_ACTIVITY, a.actor.id.encode(), orjson.dumps(a.to_dict())))
        if result.activities:
            self._m.events_out.labels("normalize", raw.format).inc(len(result.activities))
            self._m.stage_latency.labels("normalize").observe(max(0.0, self._clock() - raw.received_at))
        return outs


class IdentityStage:
    """social.activity -> identity.links, once per account this worker has not linked yet."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def seen(self) -> None:
        """An activity of an account already linked: counted, nothing to emit."""
        self._m.events_in.labels("identity", "linked").inc()

    def process(self, activity: Activity, already_linked: bool) -> Out | None:
        self._m.events_in.labels("identity", activity.network.value).inc()
        if already_linked:
            return None
        link = resolve_single(activity.actor.id, activity.event_id, activity.created_at)
        self._m.events_out.labels("identity", activity.network.value).inc()
        return Out(TOPIC_IDENTITY, link.account_id.encode(), link.to_bytes())


class SignalStage:
    """social.activity -> scores.signals: the influence each account receives, and company mentions
    (with sentiment) keyed by their author, so one keyed stream carries all a scorer needs."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._m = metrics
        self._matcher = CompanyMatcher(settings.company_keywords, settings.company_accounts)
        self._sentiment = Sentiment()

    def process(self, activities: Iterable[Activity]) -> list[Out]:
        """One record per account concerned by the batch: the influence it received (weight, time
        pairs) and the company mentions it wrote (with sentiment), so the scorer does one table
        update per account and batch instead of one per interaction."""
        per_account: dict[str, dict[str, list[Any]]] = {}
        for activity in activities:
            self._m.events_in.labels("signals", activity.network.value).inc()
            for e in influence.in_edges(activity):
                per_account.setdefault(e.account_id, {"edges": [], "mentions": []})["edges"].append(
                    [e.weight, e.at]
                )
            if self._matcher.mentions_company(activity):
                sentiment = self._sentiment.compound(activity.text or "")
                per_account.setdefault(activity.actor.id, {"edges": [], "mentions": []})["mentions"].append(
                    {"activity": activity.to_dict(), "sentiment": sentiment}
                )
        return [
            Out(TOPIC_SIGNALS, account.encode(), orjson.dumps(sig)) for account, sig in per_account.items()
        ]


@dataclass
class InfluenceState:
    log_score: float = influence.NO_SCORE
    last_offset: int = -1  # highest scores.signals offset applied: a redelivered record changes nothing

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {"l": None if self.log_score == influence.NO_SCORE else self.log_score, "o": self.last_offset}
        )

    @classmethod
    def from_bytes(cls, data: bytes | None) -> InfluenceState:
        if not data:
            return cls()
        d = orjson.loads(data)
        return cls(influence.NO_SCORE if d["l"] is None else float(d["l"]), int(d["o"]))


@dataclass
class ScoringResult:
    outs: list[Out] = field(default_factory=list)
    updated: dict[str, InfluenceState] = field(default_factory=dict)


class ScoringStage:
    """scores.signals -> influence table + scores.influence + scores.priority."""

    def __init__(self, settings: Settings, metrics: Metrics, clock: Clock = time.time) -> None:
        self._m = metrics
        self._half_life = settings.influence_half_life_hours * 3600.0
        self._clock = clock

    def apply(
        self,
        account_id: str,
        state: InfluenceState,
        offset: int,
        signal: dict[str, Any],
        result: ScoringResult,
    ) -> None:
        """Apply one signal record (at ``offset``) for ``account_id`` in place."""
        self._m.events_in.labels("scoring", "signals").inc()
        if offset <= state.last_offset:
            return
        state.last_offset = offset
        edges = signal.get("edges") or ()
        for weight, at in edges:
            state.log_score = influence.add(state.log_score, float(weight), float(at), self._half_life)
        if edges:
            result.updated[account_id] = state
        for mention in signal.get("mentions") or ():
            activity = Activity.from_dict(mention["activity"])
            current = influence.value_at(state.log_score, activity.created_at, self._half_life)
            post = score_post(activity, float(mention["sentiment"]), current)
            result.outs.append(Out(TOPIC_PRIORITY, account_id.encode(), post.to_bytes()))
            self._m.events_out.labels("scoring", post.network).inc()
            self._m.stage_latency.labels("scoring").observe(max(0.0, self._clock() - activity.received_at))

    def finish(self, result: ScoringResult) -> None:
        now = self._clock()
        for account_id, state in result.updated.items():
            result.outs.append(
                Out(
                    TOPIC_INFLUENCE,
                    account_id.encode(),
                    orjson.dumps(
                        {
                            "account_id": account_id,
                            "influence_log": state.log_score,
                            "influence": influence.value_at(state.log_score, now, self._half_life),
                            "at": now,
                        }
                    ),
                )
            )


class AlertStage:
    """scores.priority -> crm.alerts."""

    def __init__(self, settings: Settings, metrics: Metrics, clock: Clock = time.time) -> None:
        self._m = metrics
        self._rules = [NegativeMentionRule(settings.alert_sentiment_max, settings.alert_influence_min)]
        self._clock = clock

    def process(self, post: ScoredPost) -> list[Out]:
        outs: list[Out] = []
        now = self._clock()
        self._m.events_in.labels("alerting", post.network).inc()
        for rule in self._rules:
            alert = rule.evaluate(post, now)
            if alert is not None:
                outs.append(Out(TOPIC_ALERTS, post.account_id.encode(), alert.to_bytes()))
                self._m.alerts.labels(rule.name).inc()
                self._m.stage_latency.labels("alerting").observe(max(0.0, now - post.received_at))
        return outs


def bad_record(stage: str, topic: str, value: bytes | None, error: Exception, metrics: Metrics) -> Out:
    """A record an internal stage could not decode: dead-lettered with the exception as reason."""
    raw = RawEvent(format=topic, source=f"internal:{topic}", received_at=time.time(), payload=value or b"")
    return dead_letter_out(
        DeadLetter.of(raw, DeadLetterReason.INVALID_VALUE, repr(error), stage=stage), metrics
    )
