"""The stream stages as pure classes (no broker): what each emits for what it consumes."""

from __future__ import annotations

import orjson

from activity.raw import RawEvent, RawFormat
from activity.schema import AccountRef, Activity, ActivityKind, Network
from groundswell.metrics import Metrics
from groundswell.settings import TOPIC_ACTIVITY, TOPIC_DEADLETTER, TOPIC_INFLUENCE, TOPIC_PRIORITY, Settings
from scoring.priority import ScoredPost
from streams.pipeline import (
    AlertStage,
    IdentityStage,
    InfluenceState,
    NormalizeStage,
    ScoringResult,
    ScoringStage,
    SignalStage,
)

SETTINGS = Settings(company_keywords=("acme",), alert_influence_min=0.5, alert_sentiment_max=-0.3)
T = 1_783_000_000.0


def acct(n: str) -> AccountRef:
    return AccountRef(id=f"x:{n}", network=Network.X, handle=n)


def activity(
    event_id: str, kind: ActivityKind, actor: str, target: str | None = None, text: str | None = None
) -> Activity:
    return Activity(
        event_id=event_id,
        kind=kind,
        network=Network.X,
        actor=acct(actor),
        created_at=T,
        received_at=T,
        source="test",
        post_id=f"x:{event_id}" if text else None,
        text=text,
        target_account=acct(target) if target else None,
    )


def test_normalize_stage_keys_activities_by_actor_and_dead_letters_bad_input() -> None:
    m = Metrics.create()
    stage = NormalizeStage(SETTINGS, m, clock=lambda: T + 1)
    tweet = {
        "data": {"id": "1", "text": "hi @acme", "author_id": "7", "created_at": "2026-07-04T14:38:08.000Z"}
    }
    outs = stage.process(RawEvent(RawFormat.TWITTER_V2, "test", T, orjson.dumps(tweet)))
    assert [o.topic for o in outs] == [TOPIC_ACTIVITY]
    assert outs[0].key == b"x:7"
    bad = stage.process(RawEvent(RawFormat.TWITTER_V2, "test", T, b"{oops"))
    assert [o.topic for o in bad] == [TOPIC_DEADLETTER]
    assert orjson.loads(bad[0].value)["reason"] == "malformed_json"


def test_identity_stage_links_new_accounts_once() -> None:
    stage = IdentityStage(Metrics.create())
    a = activity("e1", ActivityKind.LIKE, "ann", "bob")
    out = stage.process(a, already_linked=False)
    assert out is not None
    assert out.key == b"x:ann"
    assert stage.process(a, already_linked=True) is None


def test_signals_aggregate_per_account_and_carry_company_mentions() -> None:
    stage = SignalStage(SETTINGS, Metrics.create())
    outs = stage.process(
        [
            activity("e1", ActivityKind.LIKE, "ann", "star"),
            activity("e2", ActivityKind.REPOST, "bob", "star"),
            activity("e3", ActivityKind.POST, "cat", text="@acme your support is awful, worst ever"),
        ]
    )
    by_key = {o.key: orjson.loads(o.value) for o in outs}
    assert sorted(w for w, _ in by_key[b"x:star"]["edges"]) == [0.5, 2.0]
    mention = by_key[b"x:cat"]["mentions"][0]
    assert mention["sentiment"] < -0.3


def test_scoring_applies_each_signal_record_once_and_scores_mentions() -> None:
    stage = ScoringStage(SETTINGS, Metrics.create(), clock=lambda: T)
    state = InfluenceState()
    result = ScoringResult()
    signal = {"edges": [[2.0, T], [1.0, T]], "mentions": []}
    stage.apply("x:star", state, 10, signal, result)
    once = state.log_score
    stage.apply("x:star", state, 10, signal, result)  # redelivered: same offset
    stage.apply("x:star", state, 9, signal, result)  # older
    assert state.log_score == once
    restored = InfluenceState.from_bytes(state.to_bytes())
    assert restored == state
    mention = {
        "activity": activity("e9", ActivityKind.POST, "star", text="acme broke it").to_dict(),
        "sentiment": -0.8,
    }
    stage.apply("x:star", state, 11, {"edges": [], "mentions": [mention]}, result)
    priority = [o for o in result.outs if o.topic == TOPIC_PRIORITY]
    post = ScoredPost.from_dict(orjson.loads(priority[0].value))
    assert abs(post.influence - 3.0) < 1e-6
    stage.finish(result)
    influence_out = [orjson.loads(o.value) for o in result.outs if o.topic == TOPIC_INFLUENCE]
    assert influence_out[0]["account_id"] == "x:star"


def test_alert_stage_emits_for_negative_influential_posts_only() -> None:
    stage = AlertStage(SETTINGS, Metrics.create(), clock=lambda: T + 2)
    base = dict(
        event_id="e",
        account_id="x:a",
        post_id=None,
        network="x",
        text="t",
        created_at=T,
        received_at=T,
        priority=0.7,
        reasons=(),
    )
    assert stage.process(ScoredPost(**base, sentiment=-0.8, influence=2.0))  # type: ignore[arg-type]
    assert not stage.process(ScoredPost(**base, sentiment=0.4, influence=9.0))  # type: ignore[arg-type]
    assert not stage.process(ScoredPost(**base, sentiment=-0.8, influence=0.1))  # type: ignore[arg-type]
