"""The stream stages as pure classes (no broker): what each emits for what it consumes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from activity.raw import RawEvent, RawFormat
from activity.schema import AccountRef, Activity, ActivityKind, Network
from embedding.encoder import Encoder
from graph.scores import StoredAuthor
from groundswell.metrics import Metrics
from groundswell.settings import (
    TOPIC_ACTIVITY,
    TOPIC_DEADLETTER,
    TOPIC_INFLUENCE,
    TOPIC_MENTIONS,
    TOPIC_PRIORITY,
    TOPIC_SIGNALS,
    Settings,
)
from scoring.intent import INTENT_CACHE_SIZE, IntentClassifier
from scoring.priority import ScoredPost
from streams.partitioner import partition_for
from streams.pipeline import NormalizeStage, activity_records, unpack_all
from streams.priority import PriorityStage
from streams.ranking import FLUSH_S, MAX_PENDING, UNWRITTEN_TRIES, RankStage
from streams.records import Out, batch_records, unpack
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


def normalized(stage: NormalizeStage, raws: list[RawEvent]) -> list[Out]:
    """What the normalize agent sends before the signals: dead letters, then activity records."""
    activities, dead = stage.normalize(raws)
    return dead + activity_records(activities, SETTINGS.partitions)


def test_normalize_stage_keys_activities_by_actor_and_dead_letters_bad_input() -> None:
    m = Metrics.create()
    stage = NormalizeStage(SETTINGS, m, clock=lambda: T + 1)
    tweet = {
        "data": {"id": "1", "text": "hi @acme", "author_id": "7", "created_at": "2026-07-04T14:38:08.000Z"}
    }
    outs = normalized(stage, [RawEvent(RawFormat.TWITTER_V2, "test", T, orjson.dumps(tweet))])
    assert [o.topic for o in outs] == [TOPIC_ACTIVITY]
    assert outs[0].key == b"x:7" and outs[0].partition == partition_for(b"x:7", SETTINGS.partitions)
    assert [Activity.from_dict(a).actor.id for a in unpack(outs[0].value)] == ["x:7"]
    bad = normalized(stage, [RawEvent(RawFormat.TWITTER_V2, "test", T, b"{oops")])
    assert [o.topic for o in bad] == [TOPIC_DEADLETTER]
    assert orjson.loads(bad[0].value)["reason"] == "malformed_json"


def test_a_batch_of_raw_events_leaves_as_one_record_per_partition_in_order() -> None:
    stage = NormalizeStage(SETTINGS, Metrics.create(), clock=lambda: T + 1)

    def tweet(i: int, author: int) -> RawEvent:
        data = {
            "id": str(i),
            "text": f"post {i}",
            "author_id": str(author),
            "created_at": "2026-07-04T14:38:08Z",
        }
        return RawEvent(RawFormat.TWITTER_V2, "test", T, orjson.dumps({"data": data}))

    raws = [tweet(i, author=i % 7) for i in range(40)]
    outs = normalized(stage, raws)
    assert len(outs) == len({o.partition for o in outs}) <= SETTINGS.partitions  # one record a partition
    seen: list[str] = []
    for out in outs:
        acts = [Activity.from_dict(a) for a in unpack(out.value)]
        assert {partition_for(a.actor.id.encode(), SETTINGS.partitions) for a in acts} == {out.partition}
        assert out.key == acts[0].actor.id.encode()
        ids = [int(a.post_id.removeprefix("x:")) for a in acts if a.post_id]
        assert ids == sorted(ids)  # input order kept within a partition
        seen.extend(a.event_id for a in acts)
    assert len(seen) == 40


def test_unpack_all_dead_letters_a_bad_record_and_a_bad_item_and_keeps_the_rest() -> None:
    good = activity("e1", ActivityKind.POST, "x:1", text="hello")
    items = [(b"x:1", orjson.dumps(good.to_dict())), (b"x:1", orjson.dumps({"event_id": "e2"}))]
    (record,) = batch_records(TOPIC_ACTIVITY, items, partitions=1)
    parsed, bad = unpack_all(
        [record.value, b"{not json", None], Activity.from_dict, "graph", TOPIC_ACTIVITY, Metrics.create()
    )
    assert parsed == [good]
    assert [o.topic for o in bad] == [TOPIC_DEADLETTER] * 3
    assert {orjson.loads(o.value)["stage"] for o in bad} == {"graph"}


def test_signals_are_one_record_per_chunk_keyed_for_the_single_ranker() -> None:
    stage = SignalStage(SETTINGS, Metrics.create())
    batch = [
        activity("e1", ActivityKind.LIKE, "ann", "star"),
        activity("e2", ActivityKind.REPOST, "bob", "star"),
        activity("e3", ActivityKind.POST, "cat", text="@acme your support is awful, worst ever"),
    ]
    outs = stage.ranking(batch) + stage.mentions_of(batch)
    assert [(o.topic, o.key) for o in outs] == [(TOPIC_SIGNALS, RANK_KEY), (TOPIC_MENTIONS, b"x:cat")]
    record = orjson.loads(outs[0].value)
    edges = sorted((e[0], e[2], e[5]) for e in record["edges"])
    assert edges == [("e1", "x:star", 0.5), ("e2", "x:star", 2.0)]
    assert outs[1].partition == partition_for(b"x:cat", SETTINGS.partitions)
    [mention] = unpack(outs[1].value)
    assert mention["activity"]["event_id"] == "e3"
    assert mention["sentiment"] < -0.3
    assert mention["topics"]
    assert mention["intent"] is None  # classified later, by the priority stage
    quiet = [activity("e4", ActivityKind.POST, "dan", text="nothing to see")]
    assert stage.ranking(quiet) == stage.mentions_of(quiet) == []
    loud = [activity("e5", ActivityKind.POST, "eve", text="acme!")]
    assert stage.ranking(loud) == [] and [o.topic for o in stage.mentions_of(loud)] == [TOPIC_MENTIONS]
    many = [activity(f"m{i}", ActivityKind.LIKE, f"fan{i}", "star") for i in range(600)]
    assert len(stage.ranking(many)) == 3  # chunks of 250: the record size stays bounded


def latency_sum(metrics: Metrics, stage: str) -> tuple[float, float]:
    """The count and sum of a stage's ``groundswell_stage_latency_seconds`` observations."""
    found = {
        s.name: s.value
        for m in metrics.registry.collect()
        for s in m.samples
        if s.labels.get("stage") == stage and s.name.startswith("groundswell_stage_latency_seconds")
    }
    return found["groundswell_stage_latency_seconds_count"], found["groundswell_stage_latency_seconds_sum"]


def _signal(*edges: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "edges": [[ev, src, dst, "repost", T, 2.0, T - 0.5] for ev, src, dst in edges],
        "followers": [],
    }


def test_ranker_applies_each_record_once_and_reports_composites(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, intent_enabled=False)
    stage = RankStage(settings, Metrics.create(), clock=lambda: T + 1)
    stage.load()
    stage.apply(_signal(("e1", "x:a", "x:star"), ("e2", "x:b", "x:star")), offset=10)
    first = {k: v.value for k, v in stage.pending.items()}
    assert first["x:star"] > first.get("x:a", 0.0)
    stage.apply(_signal(("e1", "x:a", "x:star"), ("e2", "x:b", "x:star")), offset=10)  # redelivered
    stage.apply(_signal(("e1", "x:a", "x:star")), offset=11)  # same edge again: nothing new
    assert {k: v.value for k, v in stage.pending.items()} == first
    assert stage._m.events_repeated.labels("ranking")._value.get() == 3
    outs = stage.flush()
    assert {o.topic for o in outs} == {TOPIC_INFLUENCE}
    star = next(orjson.loads(o.value) for o in outs if o.key == b"x:star")
    assert abs(sum(c["contribution"] for c in star["breakdown"]) - star["value"]) < 1e-9
    assert stage.flush() == []
    # the graph gets each reported account's latest composite, once, on its own (slower) clock
    stage.apply(_signal(("e4", "x:d", "x:star")), offset=12)
    stage.flush()
    unwritten = {sc.account_id: sc for sc in stage.take_unwritten()}
    assert unwritten["x:star"].value > star["value"] and stage.take_unwritten() == []
    stage.requeue(unwritten.values())  # a failed write waits for the next one ...
    stage.apply(_signal(("e5", "x:e", "x:star")), offset=13)
    stage.flush()
    newest = {sc.account_id: sc for sc in stage.take_unwritten()}
    assert newest["x:star"].value > unwritten["x:star"].value  # ... unless a newer score is waiting


def test_the_ranker_reports_after_a_record_once_its_last_report_is_old_enough(tmp_path: Path) -> None:
    now = [T]

    def stage_with_gap(gap_s: float, name: str) -> RankStage:
        settings = Settings(
            data_dir=tmp_path / name, intent_enabled=False, influence_report_gap_seconds=gap_s
        )
        stage = RankStage(settings, Metrics.create(), clock=lambda: now[0])
        stage.load()
        return stage

    stage = stage_with_gap(0.02, "gap")
    assert not stage.report_due()  # nothing waits
    stage.apply(_signal(("e1", "x:a", "x:star")), offset=1)
    assert stage.report_due()  # never reported yet
    assert stage.flush()
    now[0] += 0.01
    stage.apply(_signal(("e2", "x:b", "x:star")), offset=2)
    assert not stage.report_due()  # 10 ms after the last report
    now[0] += 0.015
    assert stage.report_due()
    outs = stage.flush()
    assert [o.key for o in outs if o.key == b"x:star"] == [b"x:star"]
    assert not stage.report_due()  # reported: nothing waits
    # the latency is observed at the report, from each edge's received_at (T - 0.5 in _signal)
    count, total = latency_sum(stage._m, "influence")
    assert count == 2 and abs(total - (0.5 + 0.525)) < 1e-6

    at_once = stage_with_gap(0.0, "at-once")  # every record's changes go out after it
    at_once.apply(_signal(("e1", "x:a", "x:star")), offset=1)
    at_once.flush()
    at_once.apply(_signal(("e2", "x:b", "x:star")), offset=2)
    assert at_once.report_due()

    tick_only = stage_with_gap(FLUSH_S, "tick")  # never after a record, however long ago
    tick_only.apply(_signal(("e1", "x:a", "x:star")), offset=1)
    now[0] += 60.0
    assert not tick_only.report_due()
    tick_only.apply(_signal(*((f"m{i}", f"x:f{i}", f"x:t{i}") for i in range(MAX_PENDING))), offset=2)
    assert len(tick_only.pending) >= MAX_PENDING and tick_only.report_due()  # too many wait


def test_a_score_whose_account_is_not_in_the_graph_yet_waits_for_it_a_bounded_time(tmp_path: Path) -> None:
    """The signals run ahead of the graph stage, so a new account's composite can reach the graph
    before its node: it waits through later writes, up to ``UNWRITTEN_TRIES``, then is dropped."""
    settings = Settings(data_dir=tmp_path, intent_enabled=False)
    stage = RankStage(settings, Metrics.create(), clock=lambda: T + 1)
    stage.load()
    stage.apply(_signal(("e1", "x:a", "x:star")), offset=1)
    stage.flush()
    taken = stage.take_unwritten()
    missed = [sc for sc in taken if sc.account_id == "x:star"]  # its node is not there yet
    stage.written(taken, missed)
    assert [sc.account_id for sc in stage.take_unwritten()] == ["x:star"]  # waits for the next write
    for _ in range(UNWRITTEN_TRIES - 1):
        stage.written(missed, missed)
        assert stage.take_unwritten() == missed
    stage.written(missed, missed)  # the last try: given up
    assert stage.take_unwritten() == []
    stage.written(missed, missed)  # a later composite of the account starts again
    assert stage.take_unwritten() == missed
    stage.written(missed, [])  # written: nothing waits
    assert stage.take_unwritten() == [] and not stage._tries


def test_priority_stage_scores_mentions_with_the_authors_influence_and_person() -> None:
    settings = Settings(intent_enabled=False)
    stage = PriorityStage(settings, Metrics.create(), clock=lambda: T + 1)
    mention = {
        "activity": activity("e9", ActivityKind.POST, "star", text="acme broke it").to_dict(),
        "sentiment": -0.8,
        "topics": ["acme"],
    }
    stage.classify([mention])  # intent disabled: nothing to add
    (out,) = stage.score([mention], {"x:star": StoredAuthor(0.4, "person:1", 40_000.0)})
    assert out.topic == TOPIC_PRIORITY and out.key == b"person:1"
    post = ScoredPost.from_dict(orjson.loads(out.value))
    assert post.person_id == "person:1" and post.customer_value == 40_000.0
    assert post.influence == 0.4
    assert 0.0 <= post.priority <= 1.0
    (unknown,) = stage.score([mention], {})
    assert unknown.key == b"x:star"
    assert ScoredPost.from_dict(orjson.loads(unknown.value)).priority < post.priority


def test_priority_stage_withholds_the_mentions_of_erased_accounts() -> None:
    """An erased account's later posts are not scored, so no alert carries them to the CRMs."""
    metrics = Metrics.create()
    stage = PriorityStage(Settings(intent_enabled=False), metrics)
    mentions = [
        {"activity": activity(f"e{i}", ActivityKind.POST, actor, text="acme").to_dict()}
        for i, actor in enumerate(["gone", "star", "new", "gone"])
    ]
    authors = {"x:gone": StoredAuthor(erased=True), "x:star": StoredAuthor(0.4)}
    kept = stage.withhold_erased(mentions, authors)
    assert [m["activity"]["event_id"] for m in kept] == ["e1", "e2"]  # an unknown author is kept
    assert metrics.erased_withheld.labels("mention")._value.get() == 2


def test_an_erased_accounts_cached_intent_vectors_are_dropped_and_computed_again() -> None:
    """The priority stage's encoder keeps the vectors of recent mention texts (real model); an
    erasure drops every one used for the account's texts, one shared with a kept account too."""
    encoder = Encoder(cache_size=INTENT_CACHE_SIZE)
    metrics = Metrics.create()
    stage = PriorityStage(Settings(), metrics, intents=lambda: IntentClassifier(encoder))
    refund, password = "acme charged me twice, I want a refund", "how do I reset my acme password?"

    def mention(event_id: str, actor: str, text: str) -> dict[str, Any]:
        return {"activity": activity(event_id, ActivityKind.POST, actor, text=text).to_dict()}

    assert stage.forget_accounts(["x:gone"]) == 0  # no classifier yet: nothing cached
    stage.classify(
        [mention("e1", "gone", refund), mention("e2", "kept", password), mention("e3", "kept", refund)]
    )
    computed = encoder.computed
    assert stage.forget_accounts(["x:gone"]) == 1  # the refund text's vector, whoever else posted it
    assert metrics.erased_forgotten.labels("intent_vector")._value.get() == 1
    stage.classify([mention("e4", "kept", password)])
    assert encoder.computed == computed  # the kept account's own text: still cached
    again = [mention("e5", "kept", refund)]
    stage.classify(again)
    assert encoder.computed == computed + 1 and again[0]["intent"] is not None  # computed anew
    assert stage.forget_accounts(["x:gone"]) == 0


def test_priority_stage_skips_the_mentions_their_authors_memory_holds() -> None:
    metrics = Metrics.create()
    stage = PriorityStage(Settings(intent_enabled=False), metrics)

    def mention(event_id: str, actor: str) -> dict[str, Any]:
        return {"activity": activity(event_id, ActivityKind.POST, actor, text="acme").to_dict()}

    batch = [mention("e1", "star"), mention("e2", "star"), mention("e1", "star"), mention("e3", "bob")]
    table: dict[str, bytes] = {}
    fresh, memories = stage.unseen(batch, table.get)
    assert [m["activity"]["event_id"] for m in fresh] == ["e1", "e2", "e3"]  # e1 twice in one batch
    assert set(memories) == {"x:star", "x:bob"}
    again, _ = stage.unseen(batch, table.get)  # the memories not stored yet: a crash repeats them
    assert len(again) == 3
    table.update(memories)
    later, changed = stage.unseen([mention("e2", "star"), mention("e4", "star")], table.get)
    assert [m["activity"]["event_id"] for m in later] == ["e4"] and set(changed) == {"x:star"}
    assert stage.unseen([mention("e3", "bob")], table.get) == ([], {})  # nothing new to store
    assert metrics.events_repeated.labels("priority")._value.get() == 4


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
    again.apply(_signal(("e1", "x:a", "x:star")), offset=5)  # redelivered: nothing
    assert not again.pending
    # a new embedded broker starts its offsets again from 0 while the snapshot stays (a second up)
    again.apply(_signal(("e3", "x:c", "x:star")), offset=0)
    assert again.engine.score("x:star").value > stage.engine.score("x:star").value
    assert again.last_offset == 0
    (tmp_path / "influence-engine.snapshot").write_bytes(b"torn")
    torn = RankStage(settings, Metrics.create())
    torn.load()  # unreadable: starts empty instead of failing
    assert len(torn.engine) == 0 and torn.last_offset == -1
