from __future__ import annotations

import math

import orjson
import pytest

from alerts.rules import RuleConfigError, SubjectState
from alerts.spikes import HOUR, MINUTE, TopicCount, TopicVolume
from alerts.stage import TOPIC_TOPIC_VOLUME, PostAlerting, SpikeAlerting
from groundswell.metrics import Metrics
from groundswell.settings import TOPIC_ALERTS, Settings
from tests.unit._alert_posts import T0, scored

SETTINGS = Settings(alert_cooldown_s=600, spike_min_baseline_hours=2, spike_min_count=5)


def test_post_stage_emits_once_per_subject_and_topic_with_state_through_bytes() -> None:
    metrics = Metrics.create()
    stage = PostAlerting(SETTINGS, metrics, clock=lambda: T0 + 0.4)
    post = scored("a", topics=("billing",), person_id="person:7")
    assert stage.subject(post) == "person:7"
    stored: bytes | None = None
    outs = []
    for event_id, dt in (("a", 0), ("a", 1), ("b", 60), ("c", 700)):
        state = SubjectState.from_bytes(stored)  # what the Faust table gives back
        p = scored(event_id, topics=("billing",), person_id="person:7", created_at=T0 + dt)
        outs.append(stage.process(p, state))
        stored = state.to_bytes()
    assert [len(o) for o in outs] == [1, 0, 0, 1]  # alert, duplicate, cooldown, after the cooldown
    emit = outs[0][0]
    assert emit.topic == TOPIC_ALERTS and emit.key == b"person:7"
    assert orjson.loads(emit.value)["emitted_at"] == T0 + 0.4
    assert metrics.alerts.labels("negative-mention-influential")._value.get() == 2
    counts = stage.drain_counts()
    assert [(c.topic, c.key) for c in counts] == [(TOPIC_TOPIC_VOLUME, b"billing")] * 3  # 3 minutes
    assert [orjson.loads(c.value)[2] for c in counts] == [1, 1, 1]  # the duplicate is not counted
    assert stage.drain_counts() == []


def test_a_redelivered_mention_that_matched_no_rule_is_not_counted_again() -> None:
    """Mentions reach alerting straight from normalize, so a redelivered one must not count twice
    in the topic volumes (the spike baselines) either, whatever it matched."""
    metrics = Metrics.create()
    stage = PostAlerting(SETTINGS, metrics, clock=lambda: T0)
    quiet = scored("q", topics=("billing",), sentiment=0.5, priority=0.1, influence=0.0)
    stored: bytes | None = None
    outcomes = []
    for _ in range(2):
        state = SubjectState.from_bytes(stored)
        outcomes.append(stage.process(quiet, state))
        stored = state.to_bytes()
    assert outcomes == [[], []]
    assert [orjson.loads(c.value)[2] for c in stage.drain_counts()] == [1]
    decisions = "groundswell_alert_decisions_total"
    assert metrics.registry.get_sample_value(decisions, {"outcome": "duplicate"}) == 1


def test_rules_come_from_settings_json_and_bad_rules_fail_at_start() -> None:
    custom = Settings(alert_rules='[{"name": "vip", "customer_value_min": 100}]')
    stage = PostAlerting(custom, Metrics.create(), clock=lambda: T0)
    assert [r.name for r in stage.engine.rules] == ["vip"]
    assert not stage.process(scored("a"))
    assert stage.process(scored("b", customer_value=500.0))
    with pytest.raises(RuleConfigError):
        PostAlerting(Settings(alert_rules="[{}]"), Metrics.create())


def test_spike_stage_alerts_on_a_burst_with_state_through_bytes() -> None:
    start = math.floor(T0 / HOUR) * HOUR
    stage = SpikeAlerting(SETTINGS, Metrics.create(), clock=lambda: start + 10 * HOUR)
    stored: bytes | None = None
    fired = []
    for h in range(5):
        state = TopicVolume.from_bytes(stored)
        n = 1 if h < 4 else 40
        fired += stage.process(
            TopicCount("billing", int((start + h * HOUR) // MINUTE), n, start + h * HOUR), state
        )
        stored = state.to_bytes()
    assert len(fired) == 1 and fired[0].key == b"billing"
    assert orjson.loads(fired[0].value)["spike"]["count"] == 40
