"""Priority of posts about the company or its topics: the model, the matcher, the record, velocity."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from activity.schema import AccountRef, Activity, ActivityKind, Network
from groundswell.settings import Settings
from scoring.priority import MentionSignals, ScoredPost, TopicMatcher, TopicSpec, score_mention, score_post
from scoring.priority_model import PriorityModel, Weights, combine, saturate
from scoring.velocity import VelocityTracker

T = 1_750_000_000.0


def post(
    text: str = "acme broke my order",
    *,
    kind: ActivityKind = ActivityKind.POST,
    created_at: float = T,
    received_at: float = T,
    hashtags: tuple[str, ...] = (),
    mentions: tuple[AccountRef, ...] = (),
) -> Activity:
    return Activity(
        event_id="x:tweet:7",
        kind=kind,
        network=Network.X,
        actor=AccountRef(id="x:42", network=Network.X, handle="jo"),
        created_at=created_at,
        received_at=received_at,
        source="test",
        post_id="x:7",
        text=text,
        hashtags=hashtags,
        mentions=mentions,
    )


def breakdown_sum(p: ScoredPost) -> float:
    return math.fsum(v for _, v in p.breakdown)


# --- the model ---------------------------------------------------------------------------------


def test_old_call_still_works_and_keeps_its_reasons() -> None:
    p = score_post(post(), -0.9, 25.0)
    assert 0.0 < p.priority <= 1.0
    assert "strongly negative" in p.reasons and "influential author" in p.reasons
    assert p.intent is None and p.intent_confidence == 0.0 and p.topics == () and p.person_id is None
    assert score_post(post(), 0.2, 0.0).priority == 0.0  # praise from nobody: nothing to do


def test_every_signal_adds_its_share_and_says_why() -> None:
    p = score_post(
        post(),
        -0.6,
        30.0,
        intent="complaint",
        intent_confidence=0.82,
        intent_evidence="my order arrived broken",
        customer_value=40_000.0,
        velocity=3.0,
        topics=("acme", "delivery"),
        person_id="person:9",
    )
    assert "complaint (0.82)" in p.reasons
    assert "customer value 40,000" in p.reasons
    assert "3 mentions/hour" in p.reasons
    assert "influential author" in p.reasons
    assert any("my order arrived broken" in r for r in p.reasons)
    names = [name for name, _ in p.breakdown]
    assert names == ["negativity", "intent", "influence", "customer_value", "velocity", "recency"]
    assert all(v > 0.0 for name, v in p.breakdown if name != "recency")
    assert abs(breakdown_sum(p) - p.priority) < 1e-9
    assert p.topics == ("acme", "delivery") and p.person_id == "person:9" and p.customer_value == 40_000.0
    # each extra signal raises the priority over the bare negative post
    bare = score_post(post(), -0.6, 30.0)
    assert p.priority > bare.priority
    # the weights are the documented ones: negativity 0.6 at weight 0.3 -> 0.18
    assert dict(p.breakdown)["negativity"] == pytest.approx(0.18)
    assert dict(p.breakdown)["intent"] == pytest.approx(0.25 * 0.82)


def test_purchase_intent_counts_even_when_the_post_is_happy() -> None:
    happy = score_post(post("take my money acme"), 0.7, 0.0, intent="purchase_intent", intent_confidence=0.9)
    assert happy.priority == pytest.approx(0.25 * 0.8 * 0.9)
    assert "purchase_intent (0.90)" in happy.reasons


def test_recency_discounts_old_posts_down_to_the_floor() -> None:
    fresh = score_post(post(), -0.8, 10.0, now=T)
    six_hours = score_post(post(), -0.8, 10.0, now=T + 6 * 3600)
    ancient = score_post(post(), -0.8, 10.0, now=T + 365 * 86400)
    assert fresh.priority > six_hours.priority > ancient.priority > 0.0
    assert six_hours.priority == pytest.approx(fresh.priority * 0.75, abs=1e-5)  # floor 0.5, one half-life
    assert ancient.priority == pytest.approx(fresh.priority * 0.5, abs=1e-5)
    assert dict(ancient.breakdown)["recency"] < 0.0 and abs(breakdown_sum(ancient) - ancient.priority) < 1e-9
    assert any(r.startswith("posted ") and r.endswith("days ago") for r in ancient.reasons)
    # by default a post is judged by its age when Groundswell received it
    late = score_post(post(created_at=T, received_at=T + 12 * 3600), -0.8, 10.0)
    assert late.priority < fresh.priority


def test_bad_signals_are_clamped_not_raised() -> None:
    p = score_post(
        post(), float("nan"), float("inf"), customer_value=-5.0, velocity=float("nan"), intent_confidence=7.0
    )
    assert 0.0 <= p.priority <= 1.0
    worst = combine(sentiment=-5.0, influence=1e12, intent="churn_risk", intent_confidence=1.0,
                    customer_value=1e12, velocity=1e9)  # fmt: skip
    assert 0.99 < worst.value <= 1.0
    assert combine(sentiment=0.0, influence=0.0, intent="unknown-intent", intent_confidence=1.0).value == 0.0


def test_weights_and_scales_are_validated_and_configurable() -> None:
    with pytest.raises(ValueError, match="weights"):
        Weights(negativity=-1.0).normalised()
    with pytest.raises(ValueError, match="not all zero"):
        PriorityModel(weights=Weights(0, 0, 0, 0, 0))
    with pytest.raises(ValueError, match="recency_floor"):
        PriorityModel(recency_floor=1.5)
    only_value = PriorityModel(weights=Weights(0, 0, 0, 1, 0), customer_value_scale=1000.0)
    p = score_post(post(), -1.0, 50.0, customer_value=1000.0, model=only_value)
    assert p.priority == pytest.approx(0.5)
    settings = Settings(priority_weight_velocity=0.0, priority_customer_value_scale=500.0)
    model = PriorityModel.from_settings(settings)
    assert model.weights.velocity == 0.0 and model.customer_value_scale == 500.0
    assert saturate(10.0, 10.0) == pytest.approx(0.5)


sentiments = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)
influences = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)
signal = st.fixed_dictionaries(
    {
        "intent": st.sampled_from([None, "complaint", "purchase_intent", "churn_risk", "question"]),
        "intent_confidence": st.floats(min_value=0.0, max_value=1.0),
        "customer_value": st.one_of(st.none(), st.floats(min_value=0.0, max_value=1e7)),
        "velocity": st.floats(min_value=0.0, max_value=1e4),
        "now": st.floats(min_value=T, max_value=T + 1e8),
    }
)


@given(sentiments, influences, signal)
def test_priority_is_in_the_unit_interval_and_the_breakdown_sums_to_it(
    sentiment: float, influence: float, rest: dict[str, object]
) -> None:
    p = score_post(post(), sentiment, influence, **rest)  # type: ignore[arg-type]
    assert 0.0 <= p.priority <= 1.0
    assert abs(breakdown_sum(p) - p.priority) < 1e-9
    assert ScoredPost.from_dict(orjson.loads(p.to_bytes())) == p


@given(sentiments, sentiments, influences, signal)
def test_priority_is_monotone_in_negativity(
    a: float, b: float, influence: float, rest: dict[str, object]
) -> None:
    lo, hi = sorted((a, b))  # lo is the more negative sentiment
    assert (
        score_post(post(), lo, influence, **rest).priority  # type: ignore[arg-type]
        >= score_post(post(), hi, influence, **rest).priority  # type: ignore[arg-type]
    )


@given(sentiments, influences, influences, signal)
def test_priority_is_monotone_in_influence(
    sentiment: float, a: float, b: float, rest: dict[str, object]
) -> None:
    lo, hi = sorted((a, b))
    assert (
        score_post(post(), sentiment, hi, **rest).priority  # type: ignore[arg-type]
        >= score_post(post(), sentiment, lo, **rest).priority  # type: ignore[arg-type]
    )


# --- the record ----------------------------------------------------------------------------------


def test_scored_post_reads_old_records_and_alert_records() -> None:
    old = {
        "event_id": "e1",
        "account_id": "x:1",
        "post_id": None,
        "network": "x",
        "text": "t",
        "created_at": T,
        "received_at": T,
        "sentiment": -0.5,
        "influence": 2.0,
        "priority": 0.3,
        "reasons": ["sentiment -0.50"],
    }
    p = ScoredPost.from_dict(old)
    assert p.intent is None and p.topics == () and p.breakdown == () and p.velocity == 0.0
    alert_like = {**p.to_dict(), "schema_version": 1, "alert_id": "a", "rule": "r", "emitted_at": T}
    assert ScoredPost.from_dict(alert_like) == p
    with pytest.raises(KeyError):
        ScoredPost.from_dict({k: v for k, v in old.items() if k != "reasons"})


# --- topics --------------------------------------------------------------------------------------


def test_topic_matcher_names_the_company_and_each_configured_topic() -> None:
    m = TopicMatcher(
        "acme",
        ["Acme", "@acmesupport"],
        ["x:999"],
        [TopicSpec.parse("Delivery: late delivery, courier ,#whereismyparcel"), TopicSpec.parse("app:login")],
    )
    assert m.names == ("acme", "delivery", "app")
    assert m.topics(post("My ACME order is late")) == ("acme",)
    assert m.topics(post("the courier lost it again #acme")) == ("acme", "delivery")
    assert m.topics(post("can't login", hashtags=("WhereIsMyParcel",))) == ("delivery", "app")
    assert m.topics(post("hi", mentions=(AccountRef("x:999", Network.X),))) == ("acme",)
    assert m.topics(post("acmeville couriers")) == ()  # word boundaries
    assert m.topics(post("acme login", kind=ActivityKind.LIKE)) == ()


def test_topic_specs_and_names_are_checked() -> None:
    for bad in ("no-colon", ":x", "name:", "name: , #"):
        with pytest.raises(ValueError, match="is not 'name:keyword"):
            TopicSpec.parse(bad)
    with pytest.raises(ValueError, match="distinct"):
        TopicMatcher("acme", ["acme"], (), [TopicSpec("acme", ("x",))])
    settings = Settings(
        company_id="acme", company_keywords=("acme",), priority_topics=("billing:invoice,refund",)
    )
    assert TopicMatcher.from_settings(settings).topics(post("acme refund please")) == ("acme", "billing")


# --- velocity ------------------------------------------------------------------------------------


def test_velocity_counts_distinct_mentions_per_hour_in_the_window() -> None:
    v = VelocityTracker(window_s=3600.0, buckets=60)
    for i in range(6):
        assert v.observe("acme", f"e{i}", T + i * 60.0)
    assert not v.observe("acme", "e3", T + 180.0)  # redelivered: counted once
    assert v.rate("acme", T + 400.0) == pytest.approx(6.0)
    assert v.rate("other", T + 400.0) == 0.0
    assert v.rates(("other", "acme"), T + 400.0) == pytest.approx(6.0)
    assert v.rate("acme", T + 3600.0 + 130.0) == pytest.approx(3.0)  # the first three slid out
    v.observe("acme", "late", T + 3 * 3600.0)  # time moves on: old buckets are dropped
    assert len(v) == 1
    assert not v.observe("acme", "too-old", T)  # older than the window behind the newest event
    assert not v.observe("acme", "nan", float("nan"))


def test_velocity_state_round_trips_and_a_changed_window_starts_fresh() -> None:
    v = VelocityTracker(window_s=600.0, buckets=10)
    for i in range(4):
        v.observe("acme", f"e{i}", T + i)
    restored = VelocityTracker.from_bytes(v.to_bytes(), window_s=600.0, buckets=10)
    assert restored.rate("acme", T + 5) == v.rate("acme", T + 5) == pytest.approx(4 * 6.0)
    assert not restored.observe("acme", "e1", T + 1)  # the de-dup state survived
    assert len(VelocityTracker.from_bytes(v.to_bytes(), window_s=3600.0)) == 0
    assert len(VelocityTracker.from_bytes(None)) == 0
    with pytest.raises(ValueError, match="window_s must be positive"):
        VelocityTracker(window_s=0.0)


@given(
    st.dictionaries(st.integers(0, 40), st.floats(0.0, 7200.0), max_size=40),
    st.lists(st.integers(0, 40), max_size=20),
    st.floats(0.0, 9000.0),
)
def test_velocity_matches_a_brute_force_count(
    times: dict[int, float], redelivered: list[int], probe: float
) -> None:
    """Events observed in time order, some delivered twice (same event, same time): the rate is the
    number of distinct events in the probe's bucket window that the window behind the newest kept."""
    v = VelocityTracker(window_s=3600.0, buckets=60)
    deliveries = [(eid, at) for eid, at in times.items()] + [(e, times[e]) for e in redelivered if e in times]
    for eid, at in sorted(deliveries, key=lambda d: d[1]):
        v.observe("t", f"e{eid}", T + at)
    width = 60.0
    hi = math.floor((T + probe) / width)
    oldest_kept = math.floor((T + max(times.values(), default=0.0) - 3600.0) / width)
    expected = sum(
        1 for at in times.values() if max(hi - 59, oldest_kept) <= math.floor((T + at) / width) <= hi
    )
    assert v.rate("t", T + probe) == pytest.approx(expected)


# --- the signal stage's side: mention records ------------------------------------------------------


def test_mention_signals_find_topics_sentiment_and_velocity_and_score_from_the_record() -> None:
    matcher = TopicMatcher("acme", ["acme"], (), [TopicSpec.parse("delivery:courier,parcel")])
    signals = MentionSignals(matcher, velocity=VelocityTracker(window_s=3600.0))
    batch = [
        post("acme lost my parcel, furious", created_at=T),
        post("nice weather", created_at=T + 1),
        post("the courier was rude", created_at=T + 2, kind=ActivityKind.REPLY),
        post("acme", created_at=T + 3, kind=ActivityKind.LIKE),
    ]
    batch = [Activity.from_dict({**a.to_dict(), "event_id": f"e{i}"}) for i, a in enumerate(batch)]
    found = signals.signals(batch)
    assert [a.event_id for a, _ in found] == ["e0", "e2"]
    first, second = (record for _, record in found)
    assert first["topics"] == ["acme", "delivery"] and second["topics"] == ["delivery"]
    assert first["sentiment"] < -0.3 and first["intent"] is None  # intent disabled here
    assert first["velocity"] == pytest.approx(1.0) and second["velocity"] == pytest.approx(2.0)
    assert orjson.loads(orjson.dumps(first)) == first  # travels as JSON
    signals.velocity_share = 0.5  # this worker sees half the partitions
    (_, again), *_ = signals.signals([Activity.from_dict({**batch[0].to_dict(), "event_id": "e9"})])
    assert again["velocity"] == pytest.approx(2 * 3.0)
    assert signals.signals([]) == []

    scored = score_mention(
        {**first, "intent": "complaint", "intent_confidence": 0.9}, 12.0, customer_value=500.0
    )
    assert scored.topics == ("acme", "delivery") and scored.intent == "complaint" and scored.velocity == 1.0
    assert scored.customer_value == 500.0 and "complaint (0.90)" in scored.reasons
    old_record = {"activity": first["activity"], "sentiment": -0.8}  # written before these fields
    assert score_mention(old_record, 12.0).priority == score_post(batch[0], -0.8, 12.0).priority
    assert score_mention({**first, "intent": "gossip", "intent_confidence": 1.0}, 0.0).intent is None


def test_mention_signals_from_settings_build_no_model_until_needed() -> None:
    settings = Settings(company_keywords=("acme",), priority_topics=("app:login",), intent_enabled=False)
    signals = MentionSignals.from_settings(settings)
    (_, record), *_ = signals.signals([post("cannot login to acme")])
    assert record["topics"] == ["acme", "app"] and record["intent"] is None
