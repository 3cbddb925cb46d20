"""The stream stages as pure classes (no broker): what each emits for what it consumes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from activity.raw import RawEvent, RawFormat
from activity.schema import AccountRef, Activity, ActivityKind, Network
from groundswell.metrics import Metrics
from groundswell.settings import (
    TOPIC_ACTIVITY,
    TOPIC_DEADLETTER,
    TOPIC_INFLUENCE,
    TOPIC_PRIORITY,
    TOPIC_SIGNALS,
    Settings,
)
from scoring.priority import ScoredPost
from streams.pipeline import NormalizeStage
from streams.ranking import Person, RankStage
from streams.signals import RANK_KEY, SignalStage

SETTINGS = Settings(company_keywords=("acme",), intent_enabled=False)
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


def test_signals_are_one_record_per_chunk_keyed_for_the_single_ranker() -> None:
    stage = SignalStage(SETTINGS, Metrics.create())
    outs = stage.process(
        [
            activity("e1", ActivityKind.LIKE, "ann", "star"),
            activity("e2", ActivityKind.REPOST, "bob", "star"),
            activity("e3", ActivityKind.POST, "cat", text="@acme your support is awful, worst ever"),
        ]
    )
    assert [(o.topic, o.key) for o in outs] == [(TOPIC_SIGNALS, RANK_KEY)]
    record = orjson.loads(outs[0].value)
    edges = sorted((e[0], e[2], e[5]) for e in record["edges"])
    assert edges == [("e1", "x:star", 0.5), ("e2", "x:star", 2.0)]
    (mention,) = record["mentions"]
    assert mention["activity"]["event_id"] == "e3"
    assert mention["sentiment"] < -0.3
    assert mention["topics"]
    assert stage.process([activity("e4", ActivityKind.POST, "dan", text="nothing to see")]) == []


def _signal(*edges: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "edges": [[ev, src, dst, "repost", T, 2.0, T - 0.5] for ev, src, dst in edges],
        "followers": [],
        "mentions": [],
    }


def test_ranker_applies_each_record_once_and_reports_composites(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, intent_enabled=False)
    stage = RankStage(settings, Metrics.create(), clock=lambda: T + 1)
    stage.load()
    stage.apply(_signal(("e1", "x:a", "x:star"), ("e2", "x:b", "x:star")), offset=10)
    first = {k: v.value for k, v in stage.pending.items()}
    assert first["x:star"] > first.get("x:a", 0.0)
    stage.apply(_signal(("e3", "x:c", "x:star")), offset=10)  # redelivered offset: nothing
    stage.apply(_signal(("e1", "x:a", "x:star")), offset=11)  # same edge again: nothing new
    assert {k: v.value for k, v in stage.pending.items()} == first
    outs = stage.flush()
    assert {o.topic for o in outs} == {TOPIC_INFLUENCE}
    star = next(orjson.loads(o.value) for o in outs if o.key == b"x:star")
    assert abs(sum(c["contribution"] for c in star["breakdown"]) - star["value"]) < 1e-9
    assert stage.flush() == []


def test_ranker_scores_mentions_with_the_authors_influence_and_person(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, intent_enabled=False)
    stage = RankStage(settings, Metrics.create(), clock=lambda: T + 1)
    mention = {
        "activity": activity("e9", ActivityKind.POST, "star", text="acme broke it").to_dict(),
        "sentiment": -0.8,
        "topics": ["acme"],
    }
    signal = _signal(("e1", "x:a", "x:star"), ("e2", "x:b", "x:star"))
    signal["mentions"] = [mention]
    mentions = stage.apply(signal, offset=1)
    outs = stage.score(mentions, {"x:star": Person("person:1", 40_000.0)})
    (out,) = outs
    assert out.topic == TOPIC_PRIORITY and out.key == b"person:1"
    post = ScoredPost.from_dict(orjson.loads(out.value))
    assert post.person_id == "person:1" and post.customer_value == 40_000.0
    assert post.influence == round(stage.engine.score("x:star").value, 4) > 0.0
    assert 0.0 <= post.priority <= 1.0


def test_ranker_snapshot_resumes_after_a_restart(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, intent_enabled=False)
    stage = RankStage(settings, Metrics.create(), clock=lambda: T + 1)
    stage.load()
    stage.apply(_signal(("e1", "x:a", "x:star"), ("e2", "x:b", "x:star")), offset=5)
    assert stage.save() and not stage.save()  # nothing new: no second write
    again = RankStage(settings, Metrics.create(), clock=lambda: T + 1)
    again.load()
    assert again.last_offset == 5
    assert again.engine.score("x:star").value == stage.engine.score("x:star").value
    assert again.apply(_signal(("e3", "x:c", "x:star")), offset=5) == []  # already applied
    (tmp_path / "influence-engine.snapshot").write_bytes(b"torn")
    torn = RankStage(settings, Metrics.create())
    torn.load()  # unreadable: starts empty instead of failing
    assert len(torn.engine) == 0 and torn.last_offset == -1
