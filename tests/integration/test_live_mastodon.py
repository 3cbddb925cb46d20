"""The Mastodon live source against two fake instances on real local HTTP servers, producing through
a real RawProducer to the embedded broker (run_source, as `groundswell source mastodon` does).

Two instances share statuses (federation); one instance's streaming goes offline while statuses
are posted there, another drops its stream and posts at once, one answers 429 once. Read back from
the topic: every status exactly once, as the bytes an instance served, the gaps closed by REST
backfill, and a restarted source resuming from the saved cursor with only what it missed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest

from activity.raw import RawEvent
from groundswell.metrics import Metrics
from sources.live.base import CursorStore, SourceMetrics, run_source
from sources.live.mastodon import MastodonSource
from streams.produce import RawProducer
from tests.fixtures.broker import BrokerUnderTest
from tests.fixtures.broker import read_messages as read_topic
from tests.fixtures.mastodon_server import FakeInstance, real_statuses

pytestmark = pytest.mark.integration


@dataclass
class Running:
    source: MastodonSource
    task: asyncio.Task[int]
    producer: RawProducer
    live: SourceMetrics
    sent: list[RawEvent] = field(default_factory=list)

    def uris(self) -> list[str]:
        return [orjson.loads(r.payload)["uri"] for r in self.sent]

    async def stop(self) -> int:
        self.source.stop()
        n = await asyncio.wait_for(self.task, 10)
        self.producer.close()
        return n


def start(
    broker: BrokerUnderTest, topic: str, instances: list[FakeInstance], cursors: CursorStore
) -> Running:
    metrics = Metrics.create()
    live = SourceMetrics.create(metrics.registry)
    producer = RawProducer(broker.bootstrap, f"g-{uuid.uuid4().hex}", metrics, max_lag=0, topic=topic)
    source = MastodonSource(
        [(i.url, i.token) for i in instances],
        cursor=cursors.load("mastodon"),
        read_timeout=5.0,
        backoff_initial=0.05,
        backoff_max=0.3,
        metrics=live,
    )
    sent: list[RawEvent] = []

    def send(raw: RawEvent) -> None:
        sent.append(raw)
        producer.send(raw)

    task = asyncio.create_task(run_source(source, send, producer.flush, cursors, live, checkpoint_every=0.1))
    return Running(source, task, producer, live, sent)


async def until(cond: Callable[[], bool], what: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def instances() -> AsyncIterator[tuple[FakeInstance, FakeInstance]]:
    a = FakeInstance(token="token-a", id_base=110_000_000_000_000_000)
    b = FakeInstance(token="token-b", id_base=120_000_000_000_000_000)
    await a.start()
    await b.start()
    yield a, b
    await a.stop()
    await b.stop()


async def test_every_status_once_across_instances_disconnects_backfill_and_restart(
    embedded_broker: BrokerUnderTest, instances: tuple[FakeInstance, FakeInstance], tmp_path: Path
) -> None:
    a, b = instances
    st = real_statuses()
    assert len(st) == 100
    served: dict[str, set[bytes]] = {}  # uri -> every payload an instance served for it

    def post(inst: FakeInstance, lo: int, hi: int) -> None:
        for s in st[lo:hi]:
            served.setdefault(s["uri"], set()).add(inst.post(s))

    cursors = CursorStore(tmp_path / "cursors")
    topic = f"test.mastodon.{uuid.uuid4().hex}"
    run = start(embedded_broker, topic, [a, b], cursors)
    await until(lambda: a.connected == 1 and b.connected == 1, "both streams")

    # 1. both live; 30..49 are on both instances (federated): each must be produced once
    post(a, 0, 20)
    post(b, 30, 50)
    await until(lambda: len(run.sent) == 40, "phase 1")
    a_last_before = a.local_id(st[19]["uri"])

    # 2. a's streaming goes away; what a gets meanwhile is only in its REST timeline
    a.streaming_online = False
    a.drop_streams()
    post(a, 20, 60)  # 20..29 only on a; 30..49 seen via b; 50..59 new
    post(b, 60, 65)
    await until(lambda: run.source.instances[0].reconnects >= 3, "a retrying")
    a.fail_next = 1  # the first request after the outage gets 429 Retry-After: 1
    a.streaming_online = True
    await until(lambda: a.connected == 1, "a back", within=15)
    await until(lambda: len(run.sent) == 65, "a's gap closed by backfill")
    assert a.rest_requests[0]["min_id"] == a_last_before  # backfill starts where a's stream stopped
    assert a.rest_requests[1]["min_id"] == a.local_id(st[59]["uri"])  # the next page after a full one
    assert all(r["limit"] == "40" for r in a.rest_requests)

    # 3. b drops its stream and posts at once (nobody listening); a posts live; an edit and a delete
    b.drop_streams()
    post(b, 65, 90)
    post(a, 60, 70)
    edited = {**st[5], "edited_at": "2026-11-23T10:00:00.000Z", "content": "<p>edited</p>"}
    served.setdefault(st[5]["uri"], set()).add(a.post(edited, event="status.update"))
    await until(lambda: len(run.sent) == 91, "phase 3")
    await until(lambda: b.connected == 1, "b back")
    b.delete(b.local_id(st[31]["uri"]))
    await until(lambda: run.source.instances[1].deletes == 1, "the delete")
    await asyncio.sleep(0.5)  # late duplicates, if any, would be sent now
    assert await run.stop() == 91
    assert run.source.instances[0].backfilled >= 40
    assert run.live.reconnects.labels("mastodon")._value.get() == run.source.reconnects >= 4
    assert run.live.duplicates.labels("mastodon")._value.get() == 30  # a: 30..49, 60..69 (b had them)

    msgs = await asyncio.to_thread(read_topic, embedded_broker.bootstrap, topic, 91)
    uris = Counter(orjson.loads(m.value())["uri"] for m in msgs)
    assert len(msgs) == 91
    assert set(uris) == {s["uri"] for s in st[:90]}
    assert {u for u, n in uris.items() if n > 1} == {st[5]["uri"]}  # the original and its edit
    for m in msgs:
        headers = {k: v for k, v in m.headers()}
        uri = orjson.loads(m.value())["uri"]
        assert m.value() in served[uri]  # exactly the bytes an instance served
        assert headers["gs-format"] == b"mastodon"
        assert headers["gs-source"] in (f"mastodon:{a.url[7:]}".encode(), f"mastodon:{b.url[7:]}".encode())
    saved = orjson.loads(cursors.load("mastodon") or "")
    assert saved == {a.url: a.local_id(st[69]["uri"]), b.url: b.local_id(st[89]["uri"])}

    # 4. while no process runs both instances get 90..99; a restart resumes from the cursor
    post(a, 90, 95)
    post(b, 90, 100)
    topic2 = f"test.mastodon.{uuid.uuid4().hex}"
    run2 = start(embedded_broker, topic2, [a, b], cursors)
    await until(lambda: len(run2.sent) == 10, "restart backfill")
    await asyncio.sleep(0.5)
    assert await run2.stop() == 10
    assert sorted(run2.uris()) == sorted(s["uri"] for s in st[90:100])
    assert a.rest_requests[-1]["min_id"] in (a.local_id(st[69]["uri"]), a.local_id(st[94]["uri"]))
    msgs2 = await asyncio.to_thread(read_topic, embedded_broker.bootstrap, topic2, 10)
    assert sorted(orjson.loads(m.value())["uri"] for m in msgs2) == sorted(s["uri"] for s in st[90:100])
    saved = orjson.loads(cursors.load("mastodon") or "")
    assert saved == {a.url: a.local_id(st[94]["uri"]), b.url: b.local_id(st[99]["uri"])}


async def test_bad_token_keeps_retrying_and_stop_ends_promptly(
    instances: tuple[FakeInstance, FakeInstance],
) -> None:
    a, _ = instances
    source = MastodonSource([(a.url, "wrong")], backoff_initial=0.05, backoff_max=0.1)
    got: list[object] = []

    async def consume() -> None:
        async for ev in source.events():
            got.append(ev)

    task = asyncio.create_task(consume())
    await until(lambda: source.reconnects >= 2, "retries after 401")
    a.post(real_statuses()[0])
    started = time.monotonic()
    source.stop()
    await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 1.0
    assert got == [] and a.stream_connects == 0


async def test_redirect_to_another_streaming_host_keeps_the_token_and_silence_reconnects(
    instances: tuple[FakeInstance, FakeInstance],
) -> None:
    streaming, _ = instances
    front = FakeInstance(token=streaming.token, id_base=0, stream_redirect=streaming.url)
    await front.start()
    streaming.heartbeat = 0.1
    source = MastodonSource(
        [(front.url, front.token)], read_timeout=0.4, backoff_initial=0.01, backoff_max=0.05
    )
    got: list[bytes] = []

    async def consume() -> None:
        async for ev in source.events():
            got.append(ev.raw.payload)

    task = asyncio.create_task(consume())
    try:
        await until(lambda: streaming.connected == 1, "the stream, through the redirect")
        payload = streaming.post(real_statuses()[0])
        await until(lambda: got == [payload], "a status through the redirect")
        await asyncio.sleep(1.0)
        assert source.reconnects == 0  # heartbeats keep a quiet stream open
        streaming.heartbeat = 5.0  # a new connection that stays silent beyond read_timeout
        streaming.drop_streams()
        await until(lambda: source.reconnects >= 3, "reconnects after silence", within=5)
    finally:
        source.stop()
        await asyncio.wait_for(task, 5)
        await front.stop()
