"""End to end on the real embedded parts: a Groundswell worker process, the embedded broker and
embedded ArcadeDB. Replays real events and checks the graph against counts computed independently
from the raw files (tests/integration/expected_bluesky.py); a second replay changes nothing; bad
input is dead-lettered while valid input around it is kept."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from typing import Any

import confluent_kafka
import orjson
import pytest

from activity.raw import RawEvent, RawFormat
from api.graph_routes import composite_view
from graph.store import GraphStore
from groundswell.settings import TOPIC_IDENTITY
from identity.audit import AuditAction, AuditEvent
from scoring import influence
from sources.replay import iter_files
from sources.samples import demo_files
from sources.simulate import Simulator
from streams.broker import EmbeddedBroker, write_address
from streams.ranking import JOURNAL_NAME, SNAPSHOT_FILE
from tests.fixtures.broker import read_values
from tests.fixtures.graph import tombstone_account
from tests.fixtures.pipeline import Pipeline, alert_decisions, metric, worker_settings
from tests.integration.expected_bluesky import expected_counts, weighted_in_degree

pytestmark = pytest.mark.integration


def composite_of(pipeline: Pipeline, account_id: str) -> dict[str, Any] | None:
    async def read() -> dict[str, Any] | None:
        async with await GraphStore.connect(pipeline.settings) as store:
            view = await store.account_view(account_id)
        return composite_view(view["props"]) if view else None

    return asyncio.run(read())


def jetstream_files() -> list:  # type: ignore[type-arg]
    return [p for p in demo_files() if p.name.startswith("bluesky_jetstream")]


def top_bluesky_account(pipeline: Pipeline) -> dict[str, Any]:
    """The graph's most influential account, after the bundled Jetstream sample: replayed here when
    the module's first test has not run (a replay changes nothing), so a test runs alone too."""
    pipeline.wait_idle()
    if not pipeline.top_influencers(1):
        pipeline.replay(iter_files(jetstream_files()))
        pipeline.wait_idle()
    star = pipeline.top_influencers(1)[0]
    assert star["id"].startswith("bluesky:"), star
    return star


def test_replay_builds_exactly_the_graph_the_input_implies_and_a_second_replay_changes_nothing(
    pipeline: Pipeline,
) -> None:
    files = jetstream_files()
    expected = expected_counts(files, "bluesky")
    sent = pipeline.replay(iter_files(files))
    assert sent == 162
    first = pipeline.wait_idle()
    for key, value in expected.items():
        if not key.startswith("_"):
            assert first[key] == value, f"{key}: graph has {first[key]}, input implies {value}"
    assert first["Event"] > 0

    ranked = sorted(weighted_in_degree(files).items(), key=lambda kv: -kv[1])
    top = pipeline.top_influencers(5)
    assert top, "no influence scores reached the graph"
    assert ranked[0][1] > ranked[1][1]  # the data has a clear leader
    assert top[0]["id"] == ranked[0][0]
    assert {t["id"] for t in top} <= {account for account, _ in ranked}
    composite = composite_of(pipeline, top[0]["id"])  # the ranker's score, as the API serves it
    assert composite is not None and 0.0 < composite["value"] < 1.0
    assert sum(composite["breakdown"].values()) == pytest.approx(composite["value"], abs=1e-9)

    pipeline.replay(iter_files(files))
    second = pipeline.wait_idle()
    assert second == first
    assert [t["id"] for t in pipeline.top_influencers(5)] == [t["id"] for t in top]
    assert pipeline.top_influencers(5)[0]["influence_log"] == top[0]["influence_log"]  # replays add nothing

    metrics = pipeline.metrics_text()
    assert 'groundswell_events_in_total{source="jetstream",stage="normalize"} 324.0' in metrics
    assert "groundswell_dead_letters_total" in metrics


def test_bad_input_is_dead_lettered_with_its_reason_and_valid_input_is_kept(pipeline: Pipeline) -> None:
    before = pipeline.wait_idle()
    did = "did:plc:" + "z" * 24
    good = {
        "did": did,
        "time_us": 1_783_175_888_085_434,
        "kind": "commit",
        "commit": {
            "rev": "r1",
            "operation": "create",
            "collection": "app.bsky.graph.follow",
            "rkey": "k1",
            "record": {
                "$type": "app.bsky.graph.follow",
                "createdAt": "2026-07-04T14:38:08.999Z",
                "subject": "did:plc:" + "y" * 24,
            },
            "cid": "c",
        },
    }
    bad = [
        (RawFormat.JETSTREAM, b"{not json", "malformed_json"),
        (RawFormat.JETSTREAM, b"\xff\xfe{}", "invalid_utf8"),
        (RawFormat.JETSTREAM, b"[1, 2]", "wrong_type"),
        (RawFormat.JETSTREAM, orjson.dumps({"kind": "commit", "time_us": 1}), "missing_field"),
        (RawFormat.JETSTREAM, b'{"x": "' + b"a" * 1_100_000 + b'"}', "too_large"),
        (RawFormat.JETSTREAM, orjson.dumps({**good, "kind": "mystery"}), "unknown_kind"),
        ("carrier-pigeon", b"{}", "unknown_format"),
    ]
    events = [RawEvent.now(str(fmt), "test:bad", payload) for fmt, payload, _ in bad]
    events.insert(3, RawEvent.now(RawFormat.JETSTREAM, "test:good", orjson.dumps(good)))
    pipeline.replay(events)
    after = pipeline.wait_idle()
    assert after["FOLLOWS"] == before["FOLLOWS"] + 1
    reasons = {reason for _, _, reason in bad}

    def our_reasons(values: list[bytes]) -> set[str]:
        return {d["reason"] for d in map(orjson.loads, values) if d["source"] == "test:bad"}

    values = read_values(
        pipeline.bootstrap,
        "social.deadletter",
        settle=2.0,
        timeout=60.0,
        until=lambda vs: our_reasons(vs) >= reasons,
    )
    dead = [orjson.loads(v) for v in values]
    ours = {d["reason"]: d for d in dead if d["source"] == "test:bad"}
    assert set(ours) == reasons
    assert ours["too_large"]["payload_size"] > 1_000_000
    assert ours["malformed_json"]["payload_b64"]
    pipeline.assert_alive()


def test_after_the_broker_restarts_empty_scores_continue_from_the_graph(
    pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The embedded broker keeps nothing across a restart; the graph store is the system of
    record: a new broker and worker (and a ranker with no snapshot, in a new data_dir) must add to
    the influence the graph holds, not start at 0."""
    star = top_bluesky_account(pipeline)
    broker = EmbeddedBroker()
    bootstrap = broker.start()
    data_dir = tmp_path_factory.mktemp("restarted")
    settings = worker_settings(pipeline.settings, data_dir, bootstrap)
    restarted = Pipeline.start(settings, bootstrap, data_dir / "worker.log")
    try:
        target = star["id"].removeprefix("bluesky:")
        at_us = 1_783_175_999_000_000
        like = {
            "did": "did:plc:" + "q" * 24,
            "time_us": at_us,
            "kind": "commit",
            "commit": {
                "rev": "r9",
                "operation": "create",
                "collection": "app.bsky.feed.like",
                "rkey": "zz9",
                "record": {
                    "$type": "app.bsky.feed.like",
                    "createdAt": "2026-07-04T14:39:59.000Z",
                    "subject": {"cid": "c", "uri": f"at://{target}/app.bsky.feed.post/abc"},
                },
                "cid": "c",
            },
        }
        restarted.replay([RawEvent.now(RawFormat.JETSTREAM, "test:restart", orjson.dumps(like))])
        restarted.wait_idle()
        after = {r["id"]: r for r in restarted.top_influencers(5)}[star["id"]]
        half_life = settings.influence_half_life_hours * 3600
        expected = influence.add(star["influence_log"], 0.5, 1_783_176_000.0 - 1.0, half_life)
        # the ranker re-seeds from the graph's edges (count x weight at their last time): the
        # capture spans minutes of a 7-day half-life, so the approximation is far below 1e-4
        assert after["influence_log"] == pytest.approx(expected, abs=1e-4)
    finally:
        restarted.stop()
        broker.stop()


def _like(target_did: str, liker: int, at_us: int) -> RawEvent:
    like = {
        "did": f"did:plc:{liker:024d}",
        "time_us": at_us,
        "kind": "commit",
        "commit": {
            "rev": f"r{liker}",
            "operation": "create",
            "collection": "app.bsky.feed.like",
            "rkey": f"k{liker}",
            "record": {
                "$type": "app.bsky.feed.like",
                "createdAt": "2026-07-04T14:39:59.000Z",
                "subject": {"cid": "c", "uri": f"at://{target_did}/app.bsky.feed.post/abc"},
            },
            "cid": "c",
        },
    }
    return RawEvent.now(RawFormat.JETSTREAM, "test:journal", orjson.dumps(like))


def test_a_killed_ranker_keeps_what_it_applied_after_its_last_snapshot(
    pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Faust commits a ranker's offsets on its own schedule, snapshots come every few seconds: a
    ranker killed in between must replay its journal, or the likes it had applied would be lost
    from influence (the next worker resumes after them)."""
    star = top_bluesky_account(pipeline)
    target = star["id"].removeprefix("bluesky:")
    broker = EmbeddedBroker()
    bootstrap = broker.start()
    data_dir = tmp_path_factory.mktemp("killed")
    # no snapshot but the one at a stop
    settings = worker_settings(pipeline.settings, data_dir, bootstrap, influence_snapshot_seconds=3600.0)
    half_life = settings.influence_half_life_hours * 3600
    started: list[Pipeline] = []

    def start(name: str) -> Pipeline:
        worker = Pipeline.start(settings, broker.bootstrap_servers, data_dir / f"{name}.log")
        started.append(worker)
        return worker

    def star_log(worker: Pipeline) -> float:
        time.sleep(2 * settings.influence_graph_write_seconds + 0.5)  # composites reach the node
        return float({r["id"]: r for r in worker.top_influencers(5)}[star["id"]]["influence_log"])

    try:
        first = start("first")  # no snapshot: seeds its engine from the graph
        first.replay([_like(target, 1, 1_783_175_990_000_000)])
        first.wait_idle()
        first.proc.terminate()  # a stop: one more snapshot
        first.proc.wait(60)
        assert (data_dir / SNAPSHOT_FILE).exists()
        second = start("second")
        second.replay([_like(target, 2, 1_783_175_991_000_000), _like(target, 3, 1_783_175_992_000_000)])
        second.wait_idle()
        before = star_log(second)
        second.proc.kill()  # no snapshot since the two likes, their offsets committed
        second.proc.wait()
        assert list(data_dir.glob(JOURNAL_NAME + ".*"))
        third = start("third")
        third.replay([_like(target, 4, 1_783_175_999_000_000)])
        third.wait_idle()
        after = star_log(third)
        replayed = re.search(r"(\d+) records replayed from the journal", third.logs())
        assert replayed and int(replayed[1]) >= 1, third.logs()[-3000:]
        # the third ranker holds the two likes the second applied: one more like adds one like
        assert after == pytest.approx(influence.add(before, 0.5, 1_783_176_000.0 - 1.0, half_life), abs=1e-4)
        third.proc.terminate()  # a stop: the snapshot holds every signal record's offset so far
        third.proc.wait(60)
        # a second `up`: a new embedded broker, whose offsets start again from 0, and the same
        # data_dir: the restored ranker must apply the new broker's records, not skip them
        broker.stop()
        broker = EmbeddedBroker()
        bootstrap = broker.start()
        write_address(settings.broker_address_file, bootstrap)
        fourth = start("fourth")
        fourth.replay([_like(target, 5, 1_783_176_001_000_000)])
        fourth.wait_idle()
        again = star_log(fourth)
        assert again == pytest.approx(influence.add(after, 0.5, 1_783_176_001.0, half_life), abs=1e-4)
    finally:
        for worker in started:
            if worker.proc.poll() is None:
                worker.proc.terminate()
                worker.proc.wait(60)
        broker.stop()


def test_a_replayed_company_mention_is_known_before_it_is_scored_again(pipeline: Pipeline) -> None:
    """Mentions leave at normalize, not after the graph write (which skips a replayed event): the
    priority stage's memory per author is what keeps a replay from scoring or alerting twice. The
    alerting stage's memory alone did not: it is per subject, and the subject changes from account
    to person once identity links the author (a version without the priority memory alerted again)."""
    events = list(itertools.islice(Simulator(seed=11, company_share=0.5), 300))  # "Acme" = "acme"
    repeated = 'groundswell_events_repeated_total{stage="priority"}'
    before = alert_decisions(pipeline.metrics_text())
    pipeline.replay(events)
    pipeline.wait_idle()
    first_text = pipeline.metrics_text()
    first = alert_decisions(first_text)
    decided = sum(first.values()) - sum(before.values())
    assert decided > 20 and first.get("alerted", 0.0) > before.get("alerted", 0.0), first
    assert first.get("duplicate", 0.0) == before.get("duplicate", 0.0)

    pipeline.replay(events)
    pipeline.wait_idle()
    second_text = pipeline.metrics_text()
    assert alert_decisions(second_text) == first
    assert metric(second_text, repeated) - metric(first_text, repeated) == decided


def jetstream(obj: dict[str, Any]) -> RawEvent:
    return RawEvent(RawFormat.JETSTREAM.value, "test", time.time(), orjson.dumps(obj))


def post_by(did: str, rkey: str, text: str) -> RawEvent:
    now_us = int(time.time() * 1e6)
    created = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    record = {"$type": "app.bsky.feed.post", "createdAt": created, "text": text, "langs": ["en"]}
    return jetstream(
        {
            "did": did,
            "time_us": now_us,
            "kind": "commit",
            "commit": {
                "rev": f"rev{rkey}",
                "operation": "create",
                "collection": "app.bsky.feed.post",
                "rkey": rkey,
                "record": record,
                "cid": f"bafy{rkey}",
            },
        }
    )


def test_an_account_deactivated_on_its_platform_stays_erased_in_the_stream(pipeline: Pipeline) -> None:
    """A deactivation erases the account through the resolver and sends an erasure notice on
    crm.alerts, and the worker drops the intent vector it had cached of the account's post; the
    same account's next post and a replay of its old one then bring back nothing:
    no text in the graph, no priority, no alert."""
    did = f"did:plc:erasetest{time.time_ns()}"
    account_id = f"bluesky:{did}"
    withheld = "groundswell_erased_withheld_total{what="
    scored = 'groundswell_events_out_total{source="bluesky",stage="priority"}'
    first = post_by(did, "r1", "acme broke my order and support ignored me. Awful, terrible service.")
    pipeline.replay([first])
    pipeline.wait_idle()
    before = pipeline.metrics_text()
    assert metric(before, f'{withheld}"mention"}}') == 0.0

    when = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    deactivated = {"active": False, "did": did, "seq": 1, "status": "deactivated", "time": when}
    pipeline.replay(
        [
            jetstream(
                {"did": did, "time_us": time.time_ns() // 1000, "kind": "account", "account": deactivated}
            )
        ]
    )
    deadline = time.monotonic() + 60
    while not (props := account_props(pipeline, account_id)).get("erased"):
        assert time.monotonic() < deadline, props
        pipeline.assert_alive()
        time.sleep(0.5)

    def notices(values: list[bytes]) -> list[dict[str, Any]]:
        found = []
        for value in values:
            try:
                alert = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue  # the shared broker's crm.alerts also holds other tests' bad records
            if not isinstance(alert, dict) or alert.get("kind") != "erasure":
                continue
            if account_id in alert["erasure"]["account_ids"]:
                found.append(alert)
        return found

    # every subscriber is told, with ids only, to erase what earlier alerts said about the account
    (notice,) = notices(
        read_values(pipeline.bootstrap, "crm.alerts", timeout=60.0, until=lambda vs: bool(notices(vs)))
    )
    assert notice["account_id"] is None and notice["post"] is None
    assert notice["erasure"]["account_ids"] == [account_id] and "deactivated" in notice["erasure"]["reason"]
    # the worker that classified the first post drops its intent vector (the cache is in memory)
    forgotten = 'groundswell_erased_forgotten_total{what="intent_vector"}'
    while metric(pipeline.metrics_text(), forgotten) < metric(before, forgotten) + 1:
        assert time.monotonic() < deadline + 30, "the erased account's intent vector dropped"
        time.sleep(0.2)

    later = post_by(did, "r2", "acme still has not refunded me. Horrible company, I am furious.")
    pipeline.replay([first, later])
    pipeline.wait_idle()
    after = pipeline.metrics_text()
    assert metric(after, f'{withheld}"mention"}}') == 1.0  # the new one; the replayed one is known
    assert metric(after, f'{withheld}"post"}}') >= 1.0
    assert metric(after, scored) == metric(before, scored)
    assert set(account_props(pipeline, account_id)) <= {"id", "network", "erased", "erased_at"}

    async def texts() -> list[Any]:
        async with await GraphStore.connect(pipeline.settings) as store:
            rows = await store.read(
                "MATCH (a:Account {id: $id})-[:AUTHORED]->(p:Post) RETURN p.text AS text", id=account_id
            )
            return [r["text"] for r in rows]

    assert asyncio.run(texts()) == [None, None]


def profile_by(did: str, name: str, bio: str) -> RawEvent:
    record = {"$type": "app.bsky.actor.profile", "displayName": name, "description": bio}
    commit = {"rev": f"rev{time.time_ns()}", "operation": "update", "collection": "app.bsky.actor.profile"}
    commit |= {"rkey": "self", "record": record, "cid": f"bafyprofile{time.time_ns()}"}
    return jetstream({"did": did, "time_us": time.time_ns() // 1000, "kind": "commit", "commit": commit})


SENT = 'groundswell_events_out_total{source="bluesky",stage="identity"}'


def account_sent_for_resolution(pipeline: Pipeline, name: str) -> tuple[str, str, str]:
    """A new Bluesky account with a post and a profile, sent for resolution. -> its DID, its account
    id, the worker's metrics then."""
    did = f"did:plc:{name}{time.time_ns()}"
    pipeline.replay([post_by(did, "a1", "hello, I am new here"), profile_by(did, "Ann Example", "I knit")])
    pipeline.wait_idle()
    before = pipeline.metrics_text()
    assert metric(before, SENT) >= 1
    return did, f"bluesky:{did}", before


def test_an_account_erased_elsewhere_is_not_sent_for_resolution_again(pipeline: Pipeline) -> None:
    """An erasure made through the API (its erase event on identity.links) reaches the worker's
    identity intake: the hashes of the account's profile fields give way to the erased marker, and a
    new profile of the account is not sent to the resolver (its fields would travel again)."""
    did, account_id, before = account_sent_for_resolution(pipeline, "apierase")
    forgotten = 'groundswell_erased_forgotten_total{what="identity_seen"}'

    erasure = AuditEvent(AuditAction.ERASE, time.time(), "user:it", record_ids=(account_id,), cause="it")
    producer = confluent_kafka.Producer({"bootstrap.servers": pipeline.bootstrap, "log_level": 3})
    producer.produce(TOPIC_IDENTITY, key=account_id.encode(), value=erasure.to_bytes())
    producer.flush(10)
    deadline = time.monotonic() + 60
    while metric(pipeline.metrics_text(), forgotten) < metric(before, forgotten) + 1:
        assert time.monotonic() < deadline, "the intake's entry for the erased account marked"
        pipeline.assert_alive()
        time.sleep(0.2)

    pipeline.replay([profile_by(did, "Ann Example-Smith", "I knit and I sail")])
    pipeline.wait_idle()
    assert metric(pipeline.metrics_text(), SENT) == metric(before, SENT)


def test_an_account_erased_in_the_graph_is_not_sent_for_resolution_without_its_erase_event(
    pipeline: Pipeline,
) -> None:
    """A worker that never read the erase event (started more than the follower's read-back after
    it, or the account's partition moving then) still sends nothing of the erased account for
    resolution: its graph write finds the tombstone, and the intake's entry takes the erased marker."""
    did, account_id, before = account_sent_for_resolution(pipeline, "graphonly")
    withheld = 'groundswell_erased_withheld_total{what="profile"}'
    forgotten = 'groundswell_erased_forgotten_total{what="identity_seen"}'

    async def tombstone() -> None:  # no erase event on identity.links
        async with await GraphStore.connect(pipeline.settings) as store:
            await tombstone_account(store, account_id)

    asyncio.run(tombstone())
    pipeline.replay([profile_by(did, "Gil Example-Smith", "I row and I sail")])
    pipeline.wait_idle()
    after = pipeline.metrics_text()
    assert metric(after, SENT) == metric(before, SENT)
    assert metric(after, withheld) == metric(before, withheld) + 1
    assert metric(after, forgotten) == metric(before, forgotten) + 1
    assert "display_name" not in account_props(pipeline, account_id)


def account_props(pipeline: Pipeline, account_id: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        async with await GraphStore.connect(pipeline.settings) as store:
            rows = await store.read("MATCH (a:Account {id: $id}) RETURN properties(a) AS p", id=account_id)
            return dict(rows[0]["p"]) if rows else {}

    return asyncio.run(read())
