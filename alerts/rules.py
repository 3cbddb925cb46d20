"""The pure rule engine: threshold rules over scored posts, de-duplication and a cooldown.

* A rule is a conjunction of thresholds (priority, sentiment, influence, intent, topics, customer
  value). Rules come from settings (``alert_rules`` JSON) or the built-in defaults.
* One post gives at most one alert: every matching rule is listed in ``matched_rules`` and the most
  severe one names the alert (a CRM wants one ticket per post, not one per rule).
* De-duplication: the alert id is a hash of (rule, event id), and the subject's state remembers the
  subject's last ``DEDUP_KEEP`` decided event ids (alerted, held back, or matching no rule), so a
  redelivered event is answered "duplicate": it never alerts twice and is not counted again.
* Cooldown per (subject, topic) in *event time* (deterministic on replay): a subject (person id,
  else account id) that alerted on a topic is quiet on it for ``cooldown_s``, unless the new post's
  priority is at least ``escalation_delta`` above the one that alerted. A post is suppressed only
  when every one of its topics is cooling down.

State is per subject (``SubjectState``, bytes in and out) so the stream can keep it in a table
keyed by subject; :meth:`AlertEngine.process` without a state keeps it in a bounded in-memory map.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from activity.recent import RecentEvents
from activity.schema import event_hash
from alerts.schema import SEVERITY_ORDER, Alert, AlertKind, Severity, stable_id
from scoring.priority import ScoredPost

#: the topic key for posts that matched no specific topic (a plain company mention)
ANY_TOPIC = "*"
#: per subject, the event ids of this many latest mentions are remembered for de-duplication
DEDUP_KEEP = 128


class RuleConfigError(ValueError):
    """A rule list that cannot be used (raised at start-up, with the offending rule named)."""


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    """All the given thresholds must hold (None / empty means "not checked")."""

    name: str
    severity: Severity = Severity.MEDIUM
    priority_min: float | None = None
    sentiment_max: float | None = None
    influence_min: float | None = None
    intents: frozenset[str] = frozenset()  # any of these intents ...
    intent_confidence_min: float = 0.0  # ... with at least this confidence
    topics: frozenset[str] = frozenset()  # any of these topics
    customer_value_min: float | None = None

    def matches(self, post: ScoredPost) -> bool:
        if self.priority_min is not None and post.priority < self.priority_min:
            return False
        if self.sentiment_max is not None and post.sentiment > self.sentiment_max:
            return False
        if self.influence_min is not None and post.influence < self.influence_min:
            return False
        if self.intents:
            intent = getattr(post, "intent", None)
            confidence = float(getattr(post, "intent_confidence", 0.0) or 0.0)
            if intent not in self.intents or confidence < self.intent_confidence_min:
                return False
        if self.topics and not self.topics.intersection(topics_of(post)):
            return False
        if self.customer_value_min is not None:
            value = getattr(post, "customer_value", None)
            if value is None or float(value) < self.customer_value_min:
                return False
        return True

    def alert_id(self, post: ScoredPost) -> str:
        return stable_id(self.name, post.event_id)

    def evaluate(self, post: ScoredPost, now: float) -> Alert | None:
        """This rule alone, without de-duplication or cooldown (kept for scoring.alerts callers)."""
        if not self.matches(post):
            return None
        return post_alert(post, (self,), now)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ThresholdRule:
        known = {
            "name",
            "severity",
            "priority_min",
            "sentiment_max",
            "influence_min",
            "intents",
            "intent_confidence_min",
            "topics",
            "customer_value_min",
        }
        name = d.get("name")
        if not isinstance(name, str) or not name.strip():
            raise RuleConfigError(f"a rule needs a non-empty name: {d!r}")
        unknown = set(d) - known
        if unknown:
            raise RuleConfigError(f"rule {name!r}: unknown keys {sorted(unknown)}")
        try:
            rule = cls(
                name=name.strip(),
                severity=Severity(d.get("severity", Severity.MEDIUM.value)),
                priority_min=_opt_float(d.get("priority_min")),
                sentiment_max=_opt_float(d.get("sentiment_max")),
                influence_min=_opt_float(d.get("influence_min")),
                intents=frozenset(str(i) for i in d.get("intents") or ()),
                intent_confidence_min=float(d.get("intent_confidence_min", 0.0)),
                topics=frozenset(str(t).lower() for t in d.get("topics") or ()),
                customer_value_min=_opt_float(d.get("customer_value_min")),
            )
        except (TypeError, ValueError) as e:
            raise RuleConfigError(f"rule {name!r}: {e}") from e
        if not rule.has_condition():
            raise RuleConfigError(f"rule {name!r} has no condition: it would alert on every post")
        return rule

    def has_condition(self) -> bool:
        return any(
            (
                self.priority_min is not None,
                self.sentiment_max is not None,
                self.influence_min is not None,
                bool(self.intents),
                bool(self.topics),
                self.customer_value_min is not None,
            )
        )


def _opt_float(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    if math.isnan(f):
        raise ValueError("NaN threshold")
    return f


def parse_rules(text: str) -> tuple[ThresholdRule, ...]:
    """Rules from a JSON list (the ``alert_rules`` setting). Names must be unique."""
    try:
        items = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise RuleConfigError(f"alert rules are not JSON: {e}") from e
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise RuleConfigError("alert rules must be a JSON list of objects")
    rules = tuple(ThresholdRule.from_dict(i) for i in items)
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise RuleConfigError(f"duplicate rule names in {names}")
    return rules


def default_rules(
    sentiment_max: float = -0.3,
    influence_min: float = 3.0,
    priority_min: float = 0.8,
    intent_confidence_min: float = 0.6,
) -> tuple[ThresholdRule, ...]:
    return (
        ThresholdRule(
            "negative-mention-influential",
            Severity.HIGH,
            sentiment_max=sentiment_max,
            influence_min=influence_min,
        ),
        ThresholdRule("high-priority", Severity.HIGH, priority_min=priority_min),
        ThresholdRule(
            "churn-risk",
            Severity.CRITICAL,
            intents=frozenset({"churn_risk"}),
            intent_confidence_min=intent_confidence_min,
        ),
        ThresholdRule(
            "complaint",
            Severity.MEDIUM,
            intents=frozenset({"complaint"}),
            intent_confidence_min=intent_confidence_min,
        ),
        ThresholdRule(
            "purchase-intent",
            Severity.MEDIUM,
            intents=frozenset({"purchase_intent"}),
            intent_confidence_min=intent_confidence_min,
        ),
    )


def topics_of(post: ScoredPost) -> tuple[str, ...]:
    topics = getattr(post, "topics", ()) or ()
    return tuple(sorted({str(t).lower() for t in topics}))


def subject_of(post: ScoredPost) -> str:
    """Whom a cooldown is about: the resolved person when known, else the author's account."""
    person = getattr(post, "person_id", None)
    return str(person) if person else post.account_id


def post_alert(post: ScoredPost, matched: Sequence[ThresholdRule], now: float) -> Alert:
    """One alert for a post; the most severe matched rule (first on ties) names it."""
    top = max(matched, key=lambda r: SEVERITY_ORDER[r.severity])  # max keeps the first on ties
    return Alert(
        alert_id=top.alert_id(post),
        kind=AlertKind.POST,
        rule=top.name,
        severity=top.severity,
        emitted_at=now,
        received_at=post.received_at,
        subject_id=subject_of(post),
        topics=topics_of(post),
        matched_rules=tuple(r.name for r in matched),
        post=post,
    )


@dataclass
class SubjectState:
    """One subject's alerting memory: cooldowns per topic and its recently decided event ids."""

    #: topic -> (event time of the alert, its priority)
    cooldowns: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: the subject's recently decided event ids (``activity.recent``): a redelivered event gets the
    #: answer "duplicate"
    seen: RecentEvents = field(default_factory=lambda: RecentEvents(capacity=DEDUP_KEEP))

    def to_bytes(self) -> bytes:
        return orjson.dumps({"v": 2, "c": self.cooldowns, "h": self.seen.hashes})

    @classmethod
    def from_bytes(cls, data: bytes | None) -> SubjectState:
        if not data:
            return cls()
        d = orjson.loads(data)
        hashes = d.get("h") or [event_hash(str(e)) for e in d.get("a", ())]  # v1 kept the ids
        return cls(
            cooldowns={str(t): (float(v[0]), float(v[1])) for t, v in d.get("c", {}).items()},
            seen=RecentEvents.of(hashes, DEDUP_KEEP),
        )

    def prune(self, event_time: float, cooldown_s: float) -> None:
        self.cooldowns = {t: v for t, v in self.cooldowns.items() if event_time - v[0] < cooldown_s}


@dataclass(frozen=True, slots=True)
class Decision:
    """Why a post did or did not alert (for metrics and tests)."""

    alert: Alert | None
    outcome: str  # "alerted", "no_match", "duplicate", "cooldown"


class AlertEngine:
    """Rules + de-duplication + cooldown. Pure: time comes in, state comes in (or is kept here)."""

    def __init__(
        self,
        rules: Iterable[ThresholdRule],
        cooldown_s: float = 1800.0,
        escalation_delta: float = 0.2,
        max_subjects: int = 100_000,
    ) -> None:
        self.rules = tuple(rules)
        if not self.rules:
            raise RuleConfigError("no alert rules")
        self.cooldown_s = cooldown_s
        self.escalation_delta = escalation_delta
        self._max_subjects = max_subjects
        self._states: OrderedDict[str, SubjectState] = OrderedDict()

    def process(self, post: ScoredPost, now: float, state: SubjectState | None = None) -> list[Alert]:
        decision = self.decide(post, now, state)
        return [decision.alert] if decision.alert is not None else []

    def decide(self, post: ScoredPost, now: float, state: SubjectState | None = None) -> Decision:
        """Evaluate ``post``; ``state`` (the subject's) is updated in place when given. Every post is
        remembered, matched or not, so a redelivered one is a "duplicate" whatever it matched."""
        if state is None:
            state = self._state_of(subject_of(post))
        if not state.seen.add(post.event_id):
            return Decision(None, "duplicate")
        at = post.created_at
        state.prune(at, self.cooldown_s)
        matched = [r for r in self.rules if r.matches(post)]
        if not matched:
            return Decision(None, "no_match")
        topics = topics_of(post) or (ANY_TOPIC,)
        if all(self._cooling(state, t, at, post.priority) for t in topics):
            return Decision(None, "cooldown")
        alert = post_alert(post, matched, now)
        for t in topics:
            previous = state.cooldowns.get(t)
            if previous is None or at >= previous[0]:  # keep the newest alert per topic
                state.cooldowns[t] = (at, post.priority)
        return Decision(alert, "alerted")

    def _cooling(self, state: SubjectState, topic: str, at: float, priority: float) -> bool:
        last = state.cooldowns.get(topic)
        if last is None or abs(at - last[0]) >= self.cooldown_s:
            return False
        return priority < last[1] + self.escalation_delta

    def _state_of(self, subject: str) -> SubjectState:
        state = self._states.get(subject)
        if state is None:
            state = self._states[subject] = SubjectState()
            if len(self._states) > self._max_subjects:
                self._states.popitem(last=False)
        else:
            self._states.move_to_end(subject)
        return state
