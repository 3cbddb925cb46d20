from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

import jsonschema
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.rules import (
    DEDUP_KEEP,
    AlertEngine,
    RuleConfigError,
    SubjectState,
    ThresholdRule,
    default_rules,
    parse_rules,
)
from alerts.schema import SCHEMA_VERSION, AlertKind, Severity, alert_schema, read_header
from alerts.stage import ErasureNotices
from alerts.subscriptions import AlertFilter
from groundswell.metrics import Metrics
from identity.audit import AuditAction, AuditEvent
from tests.unit._alert_posts import T0, scored

VALIDATOR = jsonschema.Draft202012Validator(alert_schema(), format_checker=None)


def engine(cooldown_s: float = 1800.0) -> AlertEngine:
    return AlertEngine(default_rules(), cooldown_s=cooldown_s, escalation_delta=0.2)


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(alert_schema())
    assert alert_schema()["properties"]["schema_version"]["const"] == SCHEMA_VERSION


def test_default_rules_match_by_thresholds_and_intent() -> None:
    eng = engine()
    negative = eng.process(scored("a", sentiment=-0.6, influence=5.0), now=T0 + 1)
    assert [a.rule for a in negative] == ["negative-mention-influential"]
    assert not eng.process(scored("b", sentiment=0.2, influence=50.0, priority=0.3), now=T0 + 1)
    assert not eng.process(scored("c", sentiment=-0.9, influence=1.0, priority=0.5), now=T0 + 1)
    churn = eng.process(
        scored(
            "d", account_id="x:bob", sentiment=0.0, priority=0.9, intent="churn_risk", intent_confidence=0.8
        ),
        now=T0 + 1,
    )
    assert churn[0].rule == "churn-risk" and churn[0].severity is Severity.CRITICAL
    assert set(churn[0].matched_rules) == {"high-priority", "churn-risk"}
    weak = scored("e", account_id="x:carol", sentiment=0.0, intent="complaint", intent_confidence=0.3)
    assert not eng.process(weak, now=T0)


def test_emitted_alerts_validate_against_the_schema_and_keep_v1_top_level_fields() -> None:
    eng = engine()
    post = scored("a", topics=("Shipping",), person_id="person:1", customer_value=1200.0)
    (alert,) = eng.process(post, now=T0 + 0.5)
    d = orjson.loads(alert.to_bytes())
    VALIDATOR.validate(d)
    assert d["schema_version"] == SCHEMA_VERSION and d["kind"] == AlertKind.POST.value
    assert d["event_id"] == "a" and d["received_at"] == post.received_at and d["emitted_at"] == T0 + 0.5
    assert d["subject_id"] == "person:1" and d["topics"] == ["shipping"]
    assert d["post"]["text"] == post.text
    header = read_header(alert.to_bytes())
    assert header.alert_id == alert.alert_id and header.priority == post.priority


def test_schema_rejects_a_broken_alert() -> None:
    (alert,) = engine().process(scored("a"), now=T0)
    d = alert.to_dict()
    for broken in (
        {**d, "schema_version": 1},
        {**d, "severity": "urgent"},
        {**d, "post": None},
        {k: v for k, v in d.items() if k != "alert_id"},
        {**d, "priority": 1.5},
    ):
        with pytest.raises(jsonschema.ValidationError):
            VALIDATOR.validate(broken)


def test_a_redelivered_event_alerts_once_with_the_same_id() -> None:
    eng = engine(cooldown_s=0.0)
    first = eng.process(scored("a"), now=T0)
    assert first and not eng.process(scored("a"), now=T0 + 5)
    # the id is stable across engines (a restarted worker emits the same id)
    assert engine().process(scored("a"), now=T0 + 9)[0].alert_id == first[0].alert_id


def test_cooldown_per_subject_and_topic_in_event_time_with_escalation() -> None:
    eng = engine(cooldown_s=600)
    assert eng.process(scored("a", topics=("billing",)), now=T0)
    # same person, same topic, 5 minutes later: quiet
    assert not eng.process(scored("b", topics=("billing",), created_at=T0 + 300), now=T0)
    # another topic, or another person: alerts
    assert eng.process(scored("c", topics=("shipping",), created_at=T0 + 300), now=T0)
    assert eng.process(scored("d", account_id="x:other", topics=("billing",), created_at=T0 + 300), now=T0)
    # much more urgent: breaks through
    assert eng.process(scored("e", topics=("billing",), created_at=T0 + 320, priority=0.85), now=T0)
    # after the cooldown: alerts again
    assert eng.process(scored("f", topics=("billing",), created_at=T0 + 1000, priority=0.6), now=T0)
    # one of two topics cooling down is not enough to suppress
    assert eng.process(scored("g", topics=("billing", "returns"), created_at=T0 + 1010), now=T0)


def test_cooldown_follows_the_person_across_accounts() -> None:
    eng = engine(cooldown_s=600)
    assert eng.process(scored("a", account_id="bluesky:alice", person_id="p1"), now=T0)
    assert not eng.process(
        scored("b", account_id="mastodon:alice", person_id="p1", created_at=T0 + 1), now=T0
    )


def test_subject_state_round_trips_through_bytes() -> None:
    eng = engine(cooldown_s=600)
    state = SubjectState()
    assert eng.process(scored("a", topics=("billing",)), now=T0, state=state)
    restored = SubjectState.from_bytes(state.to_bytes())
    assert restored == state
    assert not eng.process(scored("a", topics=("billing",)), now=T0, state=restored)  # duplicate
    assert not eng.process(scored("b", topics=("billing",), created_at=T0 + 1), now=T0, state=restored)
    assert SubjectState.from_bytes(None) == SubjectState()


def test_subject_state_remembers_the_latest_mentions_matched_or_not_and_reads_version_1() -> None:
    eng = engine(cooldown_s=600)
    state = SubjectState()
    quiet = [scored(f"q{i}", sentiment=0.5, priority=0.1, created_at=T0 + i) for i in range(DEDUP_KEEP + 1)]
    assert [eng.decide(p, T0, state).outcome for p in quiet] == ["no_match"] * (DEDUP_KEEP + 1)
    assert len(state.seen.hashes) == DEDUP_KEEP
    assert eng.decide(quiet[-1], T0, state).outcome == "duplicate"
    assert eng.decide(quiet[0], T0, state).outcome == "no_match"  # beyond the bound: forgotten
    old = orjson.dumps({"v": 1, "c": {"billing": [T0, 0.9]}, "a": ["a", "b"]})
    restored = SubjectState.from_bytes(old)
    assert restored.cooldowns == {"billing": (T0, 0.9)}
    assert eng.decide(scored("b", topics=("billing",)), T0, restored).outcome == "duplicate"


def test_rules_from_json_and_clear_config_errors() -> None:
    rules = parse_rules(
        '[{"name": "vip", "customer_value_min": 1000, "severity": "critical"},'
        ' {"name": "billing", "topics": ["Billing"], "sentiment_max": -0.2}]'
    )
    assert rules[0].severity is Severity.CRITICAL and rules[1].topics == frozenset({"billing"})
    assert rules[0].matches(scored("a", customer_value=5000.0))
    assert not rules[0].matches(scored("a"))
    for bad, why in (
        ("{", "not JSON"),
        ('{"name": "x"}', "JSON list"),
        ('[{"name": "x"}]', "no condition"),
        ('[{"name": "x", "priority_mn": 0.5}]', "unknown keys"),
        ('[{"name": "x", "severity": "urgent", "priority_min": 1}]', "urgent"),
        ('[{"name": "x", "priority_min": 1}, {"name": "x", "priority_min": 1}]', "duplicate"),
        ('[{"priority_min": 1}]', "name"),
    ):
        with pytest.raises(RuleConfigError, match=why):
            parse_rules(bad)


def test_compat_scoring_alerts_rule_keeps_its_id_scheme() -> None:
    from scoring.alerts import NegativeMentionRule

    rule = NegativeMentionRule(sentiment_max=-0.3, influence_min=3.0)
    assert isinstance(rule, ThresholdRule)
    alert = rule.evaluate(scored("x:tweet:1"), now=1.0)
    assert alert is not None
    assert alert.alert_id == hashlib.sha256(b"negative-mention-influential\x00x:tweet:1").hexdigest()[:24]


posts = st.builds(
    lambda i, dt, pr, topic, person: scored(
        f"e{i}-{person}",  # an event has one author
        created_at=T0 + dt,
        priority=pr,
        topics=(topic,) if topic else (),
        account_id=f"x:{person}",
    ),
    st.integers(0, 30),
    st.floats(0, 7200),
    st.floats(0.8, 1.0),
    st.sampled_from(["", "billing", "shipping"]),
    st.integers(0, 2),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(posts, max_size=40))
def test_replaying_any_stream_twice_adds_no_alert(stream: list[object]) -> None:
    eng = engine(cooldown_s=900)
    first = [a.alert_id for p in stream for a in eng.process(p, now=T0)]  # type: ignore[arg-type]
    second = [a.alert_id for p in stream for a in eng.process(p, now=T0)]  # type: ignore[arg-type]
    assert second == []
    assert len(first) == len(set(first))


def test_engine_needs_rules() -> None:
    with pytest.raises(RuleConfigError):
        AlertEngine(())
    assert dataclasses.is_dataclass(default_rules()[0])


def test_an_erase_event_becomes_an_erasure_alert_for_every_subscriber() -> None:
    notices = ErasureNotices(Metrics.create(), clock=lambda: T0 + 5)
    erase = AuditEvent(
        AuditAction.ERASE,
        T0,
        "user:dpo",
        person_id="person:1",
        record_ids=("x:1", "bluesky:did:plc:2"),
        reason="erasure request",
    )
    (emit,) = notices.process(erase.to_bytes())
    body = orjson.loads(emit.value)
    VALIDATOR.validate(body)
    assert emit.topic == "crm.alerts" and emit.key == b"person:1"
    assert body["kind"] == "erasure" and body["account_id"] is None and body["post"] is None
    assert body["erasure"] == {
        "audit_id": erase.id,
        "account_ids": ["x:1", "bluesky:did:plc:2"],
        "person_id": "person:1",
        "erased_at": T0,
        "reason": "erasure request",
    }
    assert notices.process(erase.to_bytes())[0].value == emit.value  # a replay: the same alert id
    header = read_header(emit.value)
    assert header.account_id is None  # the dispatcher never holds an erasure notice back
    picky = AlertFilter(rules=("churn-risk",), topics=("billing",), min_priority=0.99)
    assert picky.matches(header) and not picky.matches(
        read_header(engine().process(scored("p"), now=T0)[0].to_bytes())
    )

    link = AuditEvent(AuditAction.LINK, T0, "auto", person_id="person:1", record_ids=("x:1",))
    nobody = AuditEvent(AuditAction.ERASE, T0, "user:dpo", person_id="person:9")  # erased before
    for value in (link.to_bytes(), nobody.to_bytes(), b'{"action": "erase"', None):
        assert notices.process(value) == []
    # a post alert without the new field still validates (additive: older alerts lack it)
    old = orjson.loads(engine().process(scored("o"), now=T0)[0].to_bytes())
    del old["erasure"]
    VALIDATOR.validate(old)
    bad = {**body, "account_id": "x:1"}
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(bad)


def test_the_examples_in_the_alerts_doc_follow_the_schema() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "alerts.md").read_text()
    examples = [orjson.loads(block) for block in re.findall(r"```json\n(.*?)\n```", doc, re.S)]
    alerts = [e for e in examples if "subscription_id" not in e]  # not the webhook dead letter
    assert {a["kind"] for a in alerts} == {k.value for k in AlertKind}
    for alert in alerts:
        VALIDATOR.validate(alert)
