"""The alert stages as plain classes for the stream (streams/app.py wraps them in Faust agents).

* :class:`PostAlerting`: ``scores.priority`` -> ``crm.alerts``; the subject's state (cooldowns,
  recent event ids) comes in and goes out as bytes, for a table keyed by subject; it also counts
  mentions per (topic, minute), drained about once a second to ``alerts.topic-volume`` keyed by
  topic.
* :class:`SpikeAlerting`: ``alerts.topic-volume`` -> ``crm.alerts``; the topic's volume state comes
  in and goes out as bytes, for a table keyed by topic.
* :class:`ErasureNotices`: ``identity.links`` -> ``crm.alerts``; an ``erase`` audit event becomes an
  ``erasure`` alert (ids only) for every subscriber, stateless (the alert id follows the event id).

Outputs are :class:`Emit` (topic, key, value) so this module does not depend on streams/.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from alerts.erasures import erase_event, erasure_alert
from alerts.metrics import AlertMetrics
from alerts.rules import AlertEngine, SubjectState, default_rules, parse_rules, subject_of
from alerts.schema import Alert
from alerts.spikes import SpikeDetector, TopicCount, TopicVolume, VolumeCounter
from groundswell.metrics import Metrics
from groundswell.settings import TOPIC_ALERTS, Settings
from scoring.priority import ScoredPost

#: internal: mentions per (topic, minute), keyed by topic, for the spike detector
TOPIC_TOPIC_VOLUME = "alerts.topic-volume"


@dataclass(frozen=True, slots=True)
class Emit:
    topic: str
    key: bytes
    value: bytes


def rules_from_settings(settings: Settings) -> AlertEngine:
    rules = (
        parse_rules(settings.alert_rules)
        if settings.alert_rules.strip()
        else default_rules(
            settings.alert_sentiment_max,
            settings.alert_influence_min,
            settings.alert_priority_min,
            settings.alert_intent_confidence_min,
        )
    )
    return AlertEngine(rules, settings.alert_cooldown_s, settings.alert_escalation_delta)


def alert_emit(alert: Alert) -> Emit:
    key = alert.subject_id or (alert.topics[0] if alert.topics else alert.alert_id)
    return Emit(TOPIC_ALERTS, key.encode(), alert.to_bytes())


class PostAlerting:
    def __init__(self, settings: Settings, metrics: Metrics, clock: Callable[[], float] = time.time) -> None:
        self.engine = rules_from_settings(settings)
        self._m = metrics
        self._am = AlertMetrics.for_registry(metrics.registry)
        self._clock = clock
        self._counter = VolumeCounter()

    @staticmethod
    def subject(post: ScoredPost) -> str:
        """The table key for this post's state (person id when known, else account id)."""
        return subject_of(post)

    def process(self, post: ScoredPost, state: SubjectState | None = None) -> list[Emit]:
        """Evaluate one post; ``state`` (the subject's) is updated in place when given."""
        now = self._clock()
        self._m.events_in.labels("alerting", post.network).inc()
        decision = self.engine.decide(post, now, state)
        self._am.decisions.labels(decision.outcome).inc()
        if decision.outcome != "duplicate":  # a redelivered post is not a new mention
            self._counter.add(post)
        if decision.alert is None:
            return []
        self._m.alerts.labels(decision.alert.rule).inc()
        latency = max(0.0, now - post.received_at)
        self._m.stage_latency.labels("alerting").observe(latency)
        self._am.source_to_channel.labels("kafka").observe(latency)
        return [alert_emit(decision.alert)]

    def drain_counts(self) -> list[Emit]:
        """The per (topic, minute) counts since the last drain, for ``alerts.topic-volume``."""
        return [Emit(TOPIC_TOPIC_VOLUME, c.topic.encode(), c.to_bytes()) for c in self._counter.drain()]


class SpikeAlerting:
    def __init__(self, settings: Settings, metrics: Metrics, clock: Callable[[], float] = time.time) -> None:
        self.detector = SpikeDetector(
            settings.spike_k, settings.spike_min_baseline_hours, settings.spike_min_count
        )
        self._m = metrics
        self._am = AlertMetrics.for_registry(metrics.registry)
        self._clock = clock

    def process(self, count: TopicCount, state: TopicVolume) -> list[Emit]:
        """Add one (topic, minute) count to the topic's ``state`` (in place); a spike alert or nothing."""
        now = self._clock()
        alert = self.detector.observe(state, count, now)
        if alert is None:
            return []
        self._am.spikes.inc()
        self._m.alerts.labels(alert.rule).inc()
        self._am.source_to_channel.labels("kafka").observe(max(0.0, now - alert.received_at))
        return [alert_emit(alert)]


class ErasureNotices:
    def __init__(self, metrics: Metrics, clock: Callable[[], float] = time.time) -> None:
        self._m = metrics
        self._clock = clock

    def process(self, value: bytes | None) -> list[Emit]:
        """One ``identity.links`` record: an ``erasure`` alert for an erase event, else nothing."""
        event = erase_event(value)
        alert = erasure_alert(event, self._clock()) if event is not None else None
        if alert is None:
            return []
        self._m.alerts.labels(alert.rule).inc()
        return [alert_emit(alert)]
