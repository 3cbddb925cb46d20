"""The Jetstream live source against a local Jetstream (a real WebSocket server replaying the real
capture, tests/fixtures/jetstream_server.py) and the real embedded broker: every event arrives in
the topic exactly once across mid-stream drops, filters are honoured, the cursor is persisted and
a restarted source resumes from it, malformed frames are passed through."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import orjson
import pytest
import zstandard
from prometheus_client import CollectorRegistry

from groundswell.metrics import Metrics
from sources.live.base import CursorStore, SourceEvent, SourceMetrics, run_source
from sources.live.jetstream import JetstreamConfig, JetstreamSource, parse_cursor
from streams.produce import RawProducer
from tests.fixtures.broker import BrokerUnderTest
from tests.fixtures.broker import read_values as read_topic
from tests.fixtures.jetstream_server import JetstreamReplayServer, read_capture

pytestmark = pytest.mark.integration

LINES = read_capture()
EVENTS = [orjson.loads(line) for line in LINES]
DROPS = (25, 50, 75, 100, 125, 140)  # six connections cut mid-stream, then one that stays


@dataclass
class Run:
    sent: int
    source: JetstreamSource
    registry: CollectorRegistry
    topic: str

    def count(self, name: str) -> float:
        value = self.registry.get_sample_value(f"groundswell_live_{name}_total", {"source": "bluesky"})
        return value or 0.0


class StopWhen:
    """A LiveSource wrapper stopping the connector once ``done(distinct keys seen)`` holds."""

    def __init__(self, inner: JetstreamSource, done: Callable[[int], bool]) -> None:
        self.inner, self.done, self.name = inner, done, inner.name
        self.metrics: SourceMetrics | None = inner.metrics
        self.keys: set[str] = set()

    async def events(self) -> AsyncIterator[SourceEvent]:
        async for ev in self.inner.events():
            yield ev
            self.keys.add(ev.dedupe_key)
            if self.done(len(self.keys)):
                self.inner.stop()

    def stop(self) -> None:
        self.inner.stop()


async def run_once(
    broker: BrokerUnderTest,
    server: JetstreamReplayServer,
    config: JetstreamConfig,
    cursors: CursorStore,
    expected_distinct: int,
    topic: str | None = None,
    urls_before: tuple[str, ...] = (),
) -> Run:
    url = await server.start()
    try:
        config = replace(config, urls=(*urls_before, url), backoff_initial=0.01, backoff_max=0.05)
        registry = CollectorRegistry()
        metrics = SourceMetrics.create(registry)
        source = JetstreamSource(config, cursor=parse_cursor(cursors.load("bluesky")), metrics=metrics)
        topic = topic or f"test.jetstream.{uuid.uuid4().hex}"
        producer = RawProducer(broker.bootstrap, "test", Metrics.create(), max_lag=0, topic=topic)
        wrapped = StopWhen(source, lambda n: n >= expected_distinct)
        sent = await asyncio.wait_for(
            run_source(wrapped, producer.send, producer.flush, cursors, metrics, checkpoint_every=0.05), 30
        )
        producer.close()
        return Run(sent, source, registry, topic)
    finally:
        await server.stop()


def wanted(
    collections: tuple[str, ...] = (), dids: frozenset[str] = frozenset()
) -> list[bytes]:  # the capture lines a subscriber with these filters gets
    out = []
    for line, ev in zip(LINES, EVENTS, strict=True):
        if dids and ev["did"] not in dids:
            continue
        if collections and ev["kind"] == "commit":
            coll = ev["commit"]["collection"]
            if not any(coll == c or (c.endswith(".*") and coll.startswith(c[:-1])) for c in collections):
                continue
        out.append(line)
    return out


@pytest.mark.parametrize(
    ("order", "rewind"),
    [("capture", 2.0), ("capture", 0.1), ("time", 0.0)],
    ids=["default-rewind", "short-rewind", "no-rewind-time-ordered"],
)
async def test_every_event_reaches_the_broker_exactly_once_across_mid_stream_drops(
    embedded_broker: BrokerUnderTest, tmp_path: Path, order: str, rewind: float
) -> None:
    server = JetstreamReplayServer(order=order, drop_after=DROPS)
    cursors = CursorStore(tmp_path)
    run = await run_once(embedded_broker, server, JetstreamConfig(rewind_s=rewind), cursors, len(LINES))
    assert run.sent == len(LINES)
    # every cut was followed by a reconnect (fewer cuts are needed when a reconnect rewinds less)
    assert run.source.reconnects == len(server.subscriptions) - 1 == run.count("reconnects") >= 3
    got = read_topic(embedded_broker.bootstrap, run.topic, len(LINES))
    assert Counter(got) == Counter(LINES)  # byte-for-byte, each exactly once
    if rewind == 0.0:  # the cursor is inclusive: resuming at last + 1 redelivers nothing
        assert run.count("duplicates") == 0
        assert server.sent == len(LINES)
    else:  # the rewind redelivered events and the deduper dropped them
        assert run.count("duplicates") == server.sent - len(LINES) > 0
    # each reconnect asked for the last time_us + 1 - rewind
    cursors_asked = [s.cursor for s in server.subscriptions]
    assert cursors_asked[0] is None and all(c is not None for c in cursors_asked[1:])
    last = max(ev["time_us"] for ev in EVENTS) if order == "time" else EVENTS[-1]["time_us"]
    assert cursors.load("bluesky") == str(last)


async def test_filters_are_sent_and_honoured(embedded_broker: BrokerUnderTest, tmp_path: Path) -> None:
    collections = ("app.bsky.feed.post", "app.bsky.graph.*")
    expected = wanted(collections)
    assert 0 < len(expected) < len(LINES)
    server = JetstreamReplayServer(drop_after=(10, 20))
    config = JetstreamConfig(wanted_collections=collections)
    run = await run_once(embedded_broker, server, config, CursorStore(tmp_path), len(expected))
    assert {s.collections for s in server.subscriptions} == {collections}
    got = read_topic(embedded_broker.bootstrap, run.topic, len(expected))
    assert Counter(got) == Counter(expected)
    kinds = Counter(orjson.loads(p)["kind"] for p in got)
    assert kinds["identity"] == kinds["account"] == 1  # always delivered, whatever the collections


@pytest.mark.parametrize("extra_dids", [0, 300], ids=["in-url", "options-update"])
async def test_wanted_dids_in_the_url_or_in_an_options_update(
    embedded_broker: BrokerUnderTest, tmp_path: Path, extra_dids: int
) -> None:
    dids = [*sorted({ev["did"] for ev in EVENTS})[:7], "did:plc:hqvhxrowqbemo5e4wjnj6zao"]
    many = dids + [f"did:plc:{i:024d}" for i in range(extra_dids)]
    expected = wanted(dids=frozenset(dids))
    server = JetstreamReplayServer(drop_after=(3,))
    config = JetstreamConfig(wanted_dids=tuple(many))
    run = await run_once(embedded_broker, server, config, CursorStore(tmp_path), len(expected))
    assert all(s.dids == frozenset(many) for s in server.subscriptions)
    assert all(s.require_hello == bool(extra_dids) for s in server.subscriptions)
    got = read_topic(embedded_broker.bootstrap, run.topic, len(expected))
    assert Counter(got) == Counter(expected)


async def test_cursor_is_persisted_and_a_restarted_source_produces_only_the_rest(
    embedded_broker: BrokerUnderTest, tmp_path: Path
) -> None:
    cursors = CursorStore(tmp_path)
    ordered = sorted(zip(LINES, EVENTS, strict=True), key=lambda p: int(p[1]["time_us"]))
    first = await run_once(
        embedded_broker,
        JetstreamReplayServer(order="time", drop_after=(20,)),
        JetstreamConfig(rewind_s=0.0),
        cursors,
        60,
    )
    assert first.sent == 60
    assert cursors.load("bluesky") == str(ordered[59][1]["time_us"])

    server = JetstreamReplayServer(order="time", drop_after=(30,))
    second = await run_once(
        embedded_broker, server, JetstreamConfig(rewind_s=0.0), cursors, len(LINES) - 60, first.topic
    )
    assert second.sent == len(LINES) - 60
    assert server.subscriptions[0].cursor == int(ordered[59][1]["time_us"]) + 1
    got = read_topic(embedded_broker.bootstrap, first.topic, len(LINES))
    assert Counter(got) == Counter(LINES)
    assert cursors.load("bluesky") == str(ordered[-1][1]["time_us"])


async def test_a_restart_with_the_default_rewind_is_at_least_once(
    embedded_broker: BrokerUnderTest, tmp_path: Path
) -> None:
    """The deduper starts empty after a restart, so the rewound seconds are produced again (the
    pipeline is idempotent by event id); nothing is skipped. The capture spans 0.3 s < 2 s."""
    cursors = CursorStore(tmp_path)
    first = await run_once(
        embedded_broker, JetstreamReplayServer(order="time"), JetstreamConfig(), cursors, 60
    )
    saved = int(cursors.load("bluesky") or 0)
    server = JetstreamReplayServer(order="time")
    second = await run_once(embedded_broker, server, JetstreamConfig(), cursors, len(LINES), first.topic)
    assert server.subscriptions[0].cursor == saved + 1 - 2_000_000
    assert second.sent == len(LINES)
    got = read_topic(embedded_broker.bootstrap, first.topic, 60 + len(LINES))
    assert Counter(got) == Counter(LINES) + Counter(
        sorted(LINES, key=lambda b: orjson.loads(b)["time_us"])[:60]
    )


async def test_malformed_frames_are_passed_through_once(
    embedded_broker: BrokerUnderTest, tmp_path: Path
) -> None:
    broken = {10: b'{"did":"did:plc:broken","time_us":17831758880', 90: b"\xff not json"}
    server = JetstreamReplayServer(drop_after=(40, 100), inject=broken)
    expected = [*LINES, *broken.values()]
    run = await run_once(embedded_broker, server, JetstreamConfig(), CursorStore(tmp_path), len(expected))
    got = read_topic(embedded_broker.bootstrap, run.topic, len(expected))
    assert Counter(got) == Counter(expected)


async def test_zstd_frames_with_a_dictionary(embedded_broker: BrokerUnderTest, tmp_path: Path) -> None:
    dictionary = b"\n".join(LINES[:20])  # a raw-content dictionary stands in for Jetstream's
    zstandard.ZstdCompressionDict(dictionary)
    server = JetstreamReplayServer(drop_after=(50,), zstd_dictionary=dictionary)
    config = JetstreamConfig(zstd_dictionary=dictionary)
    run = await run_once(embedded_broker, server, config, CursorStore(tmp_path), len(LINES))
    assert all(s.compress for s in server.subscriptions)
    got = read_topic(embedded_broker.bootstrap, run.topic, len(LINES))
    assert Counter(got) == Counter(LINES)


async def test_fails_over_from_a_dead_instance_and_stops_cleanly_while_backing_off(
    embedded_broker: BrokerUnderTest, tmp_path: Path
) -> None:
    dead = "ws://127.0.0.1:9/subscribe"  # discard port: connection refused
    server = JetstreamReplayServer()
    run = await run_once(
        embedded_broker, server, JetstreamConfig(), CursorStore(tmp_path), len(LINES), urls_before=(dead,)
    )
    assert run.sent == len(LINES)
    assert run.source.reconnects >= 1

    lonely = JetstreamSource(JetstreamConfig(urls=(dead,), backoff_initial=0.05, backoff_max=10))
    got: list[SourceEvent] = []

    async def consume() -> None:
        got.extend([ev async for ev in lonely.events()])

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.5)
    assert lonely.reconnects >= 1
    lonely.stop()
    await asyncio.wait_for(task, 2)
    assert got == []


async def test_a_silent_connection_is_replaced_after_the_idle_timeout() -> None:
    server = JetstreamReplayServer()  # sends the capture, then stays open and silent
    url = await server.start()
    source = JetstreamSource(
        JetstreamConfig(urls=(url,), idle_timeout=0.3, backoff_initial=0.01, backoff_max=0.05)
    )
    keys: list[str] = []

    async def consume() -> None:
        async for ev in source.events():
            keys.append(ev.dedupe_key)
            if source.reconnects >= 1 and len(keys) >= 2 * len(LINES):
                source.stop()

    try:
        await asyncio.wait_for(consume(), 10)
    finally:
        await server.stop()
    assert source.reconnects >= 1
    assert server.subscriptions[1].cursor == int(EVENTS[-1]["time_us"]) + 1 - 2_000_000
    assert len(set(keys)) == len(LINES)  # the second connection redelivered the rewound events
