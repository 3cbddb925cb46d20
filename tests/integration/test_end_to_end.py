"""End to end on the real embedded parts: a Groundswell worker process, the embedded broker and
embedded ArcadeDB. Replays real events and checks the graph against counts computed independently
from the raw files (tests/integration/expected_bluesky.py); a second replay changes nothing; bad
input is dead-lettered while valid input around it is kept."""

from __future__ import annotations

import time
import uuid

import confluent_kafka
import orjson
import pytest

from activity.raw import RawEvent, RawFormat
from sources.replay import iter_files
from sources.samples import demo_files
from tests.fixtures.pipeline import Pipeline
from tests.integration.expected_bluesky import expected_counts, weighted_in_degree

pytestmark = pytest.mark.integration


def jetstream_files() -> list:  # type: ignore[type-arg]
    return [p for p in demo_files() if p.name.startswith("bluesky_jetstream")]


def read_topic(bootstrap: str, topic: str, timeout: float = 10.0) -> list[bytes]:
    consumer = confluent_kafka.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "log_level": 3,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    idle_since = time.monotonic()
    while time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            if values and time.monotonic() - idle_since > 2.0:
                break
            continue
        if msg.error() is None:
            values.append(msg.value())
            idle_since = time.monotonic()
    consumer.close()
    return values


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
    dead = [orjson.loads(v) for v in read_topic(pipeline.bootstrap, "social.deadletter")]
    ours = {d["reason"]: d for d in dead if d["source"] == "test:bad"}
    assert set(ours) == {reason for _, _, reason in bad}
    assert ours["too_large"]["payload_size"] > 1_000_000
    assert ours["malformed_json"]["payload_b64"]
    pipeline.assert_alive()
