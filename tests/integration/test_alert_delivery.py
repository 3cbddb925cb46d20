"""Alerts end to end on the real embedded broker: crm.alerts -> dispatcher -> signed webhooks
(real local aiohttp receivers), retries, dead letters, and SSE over a real uvicorn server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import confluent_kafka
import httpx
import orjson
import pytest
import uvicorn
from aiohttp import web
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from activity.schema import AccountRef, Activity, ActivityKind, Network
from alerts.dispatcher import TOPIC_ALERTS, AlertDispatcher
from alerts.erasures import ErasedLookup
from alerts.rules import AlertEngine, default_rules
from alerts.service import AlertServices
from alerts.stage import ErasureNotices
from alerts.topic_reader import assign_when_present, own_reader
from alerts.webhooks import (
    ALERT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TOPIC_ALERTS_DEADLETTER,
    verify_signature,
)
from api.alerts_routes import create_alerts_router
from graph.scores import erased_among
from graph.store import GraphStore
from groundswell.metrics import Metrics
from groundswell.settings import TOPIC_IDENTITY, Settings
from identity.audit import AuditAction, AuditEvent
from identity.erasure import erase_record
from identity.service import IdentityService
from streams.broker import write_address
from tests.fixtures.broker import BrokerUnderTest, read_values
from tests.unit._alert_posts import scored

pytestmark = pytest.mark.integration


def allow_all(*roles: str) -> Callable[[], None]:
    def dependency() -> None:
        return None

    return dependency


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """A webhook endpoint: answers ``statuses`` in turn (then the last one), verifies signatures."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.secret = ""
        self.requests: list[tuple[dict[str, str], bytes, bool]] = []  # headers, body, signature ok
        self.answered: list[int] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        ok = verify_signature(
            self.secret, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER], tolerance_s=60
        )
        self.requests.append((headers, body, ok))
        tries = sum(1 for h, _, _ in self.requests if h[ALERT_ID_HEADER] == headers[ALERT_ID_HEADER])
        status = self.statuses[min(tries, len(self.statuses)) - 1]
        self.answered.append(status)
        return web.Response(status=status, text="thanks" if status < 300 else "nope")

    def acknowledged(self) -> list[bytes]:
        """Bodies with a valid signature that this receiver answered with a 2xx."""
        pairs = zip(self.requests, self.answered, strict=True)
        return [body for (_, body, ok), status in pairs if ok and status < 300]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


@contextlib.asynccontextmanager
async def api_server(
    services: AlertServices, erased_lookup: ErasedLookup | None = None
) -> AsyncIterator[str]:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.start_when_broker_ready(retry_s=0.2, erased_lookup=erased_lookup)  # as api/app.py does
        try:
            yield
        finally:
            await services.stop()

    app = FastAPI(lifespan=lifespan)
    app.include_router(
        create_alerts_router(
            services.hub,
            services.store,
            allow_all,
            policy=services.policy,
            metrics=services.metrics,
            heartbeat_s=0.5,
        )
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class SseReader:
    """Reads an SSE stream into (id, event, data) tuples."""

    def __init__(self, client: httpx.AsyncClient, url: str, last_event_id: str | None = None) -> None:
        self.events: list[tuple[str | None, str, bytes]] = []
        self.heartbeats = 0
        self.connected = asyncio.Event()
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        self._task = asyncio.create_task(self._read(client, url, headers))

    async def _read(self, client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
        async with client.stream("GET", url, headers=headers, timeout=None) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            self.connected.set()
            event_id, event, data = None, "message", b""
            async for line in resp.aiter_lines():
                if line.startswith(":"):
                    self.heartbeats += 1
                elif line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data = line[6:].encode()
                elif line == "" and data:
                    self.events.append((event_id, event, data))
                    event_id, event, data = None, "message", b""

    def alerts(self) -> list[dict[str, Any]]:
        return [orjson.loads(d) for _, e, d in self.events if e == "alert"]

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def until(
    check: Callable[[], bool], within: float, what: str, state: Callable[[], object] = str
) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {state()}"
        await asyncio.sleep(0.05)


async def subscribe(client: httpx.AsyncClient, hook: Receiver) -> None:
    resp = await client.post("/subscriptions", json={"url": hook.url})
    assert resp.status_code == 201, resp.text
    hook.secret = resp.json()["secret"]


async def started(services: AlertServices) -> AlertDispatcher:
    """The services' dispatcher, once it has started and its feeds are ready."""
    await until(lambda: services.dispatcher is not None, 10, "the dispatcher to start")
    assert services.dispatcher is not None
    await asyncio.wait_for(services.dispatcher.wait_ready(), 60)
    return services.dispatcher


def ensure_topics(
    producer: confluent_kafka.Producer, topics: tuple[str, ...] = (TOPIC_ALERTS, TOPIC_ALERTS_DEADLETTER)
) -> None:
    """A producer's metadata request creates a topic on the embedded broker (as the worker would)."""
    for topic in topics:
        deadline = time.monotonic() + 10
        while not producer.list_topics(topic, timeout=5).topics[topic].partitions:
            assert time.monotonic() < deadline, f"topic {topic} not created"
            time.sleep(0.1)


@contextlib.asynccontextmanager
async def subscribed_api(
    services: AlertServices, statuses: list[int]
) -> AsyncIterator[tuple[Receiver, httpx.AsyncClient, AlertDispatcher]]:
    """The alerts API served, a receiver answering ``statuses`` subscribed to it, and its dispatcher
    once started."""
    async with (
        Receiver(statuses) as hook,
        api_server(services) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        await subscribe(client, hook)
        yield hook, client, await started(services)


def erasure_test_producer(bootstrap: str, settings: Settings) -> confluent_kafka.Producer:
    """A producer for alerts and erase events, once their topics exist, with the broker's address
    written where the API looks for it (the API then starts its dispatcher)."""
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "log_level": 3})
    ensure_topics(producer, (TOPIC_ALERTS, TOPIC_ALERTS_DEADLETTER, TOPIC_IDENTITY))
    write_address(settings.broker_address_file, bootstrap)
    return producer


async def test_alerts_reach_webhooks_with_signatures_retries_dead_letters_and_sse(
    embedded_broker: BrokerUnderTest, tmp_path: Path
) -> None:
    bootstrap = embedded_broker.bootstrap
    settings = Settings(
        data_dir=tmp_path,
        app_id=f"alerts-it-{uuid.uuid4().hex[:6]}",
        allow_private_webhooks=True,  # the receivers are on loopback
        webhook_max_attempts=3,
        webhook_backoff_base_s=0.05,
        webhook_backoff_max_s=0.2,
        webhook_timeout_s=2.0,
    )
    services = AlertServices.build(settings, CollectorRegistry())
    engine = AlertEngine(default_rules(), cooldown_s=0.0)
    alerts = [
        engine.process(scored(f"it-{uuid.uuid4().hex}", priority=0.9), now=time.time())[0] for _ in range(3)
    ]
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "log_level": 3})
    ensure_topics(producer)

    async with (
        Receiver([200]) as good,
        Receiver([503, 503, 200]) as flaky,
        Receiver([500]) as failing,
        Receiver([200]) as filtered,
        api_server(services) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        for receiver, extra in ((good, {}), (flaky, {}), (failing, {}), (filtered, {"min_priority": 0.95})):
            resp = await client.post("/subscriptions", json={"url": receiver.url, **extra})
            assert resp.status_code == 201, resp.text
            receiver.secret = resp.json()["secret"]
        listed = (await client.get("/subscriptions")).json()
        assert len(listed) == 4 and all("secret" not in s for s in listed)

        # the API serves before the broker is known; delivery starts once its address appears
        assert services.dispatcher is None
        write_address(settings.broker_address_file, bootstrap)
        await until(lambda: services.dispatcher is not None, 10, "the dispatcher to start")
        assert services.dispatcher is not None
        sse = SseReader(client, "/alerts/stream")
        await asyncio.wait_for(sse.connected.wait(), 10)
        await asyncio.wait_for(services.dispatcher.wait_ready(), 60)

        sent_at = time.time()
        for alert in alerts:
            producer.produce(TOPIC_ALERTS, key=b"x", value=alert.to_bytes())
        producer.produce(TOPIC_ALERTS, key=b"x", value=b"{not an alert")
        producer.flush(10)

        await until(lambda: len(sse.alerts()) == 3, 20, "3 alerts on the SSE stream")
        sse_latency = time.time() - sent_at
        await until(lambda: len(good.acknowledged()) == 3, 20, "3 deliveries to the good webhook")
        await until(lambda: len(flaky.acknowledged()) == 3, 20, "3 deliveries after retries")
        await until(lambda: len(failing.requests) == 9, 20, "3 attempts per alert to the failing webhook")

        # signed, one request per alert, body = the record on crm.alerts, alert id header set
        assert all(ok for _, _, ok in good.requests) and len(good.requests) == 3
        assert sorted(good.acknowledged()) == sorted(a.to_bytes() for a in alerts)
        assert {h[ALERT_ID_HEADER] for h, _, _ in good.requests} == {a.alert_id for a in alerts}
        assert (
            sorted(h["X-Groundswell-Attempt"] for h, _, _ in flaky.requests)
            == ["1"] * 3 + ["2"] * 3 + ["3"] * 3
        )
        assert filtered.requests == []  # min_priority 0.95 filters priority 0.9 out
        assert [a["alert_id"] for a in sse.alerts()] == [a.alert_id for a in alerts]

        dead = [
            orjson.loads(v) for v in read_values(bootstrap, TOPIC_ALERTS_DEADLETTER, expected=4, settle=2.0)
        ]
        mine = [
            d for d in dead if d["alert_id"] in {a.alert_id for a in alerts} or d["reason"] == "bad_alert"
        ]
        exhausted = [d for d in mine if d["reason"] == "exhausted"]
        assert len(exhausted) == 3 and all(d["attempts"] == 3 and d["last_status"] == 500 for d in exhausted)
        assert {d["alert"]["alert_id"] for d in exhausted} == {a.alert_id for a in alerts}
        assert any(d["reason"] == "bad_alert" for d in mine)

        # a redelivered alert is not sent again to webhooks that acknowledged or dead-lettered it
        producer.produce(TOPIC_ALERTS, key=b"x", value=alerts[0].to_bytes())
        producer.flush(10)
        await until(lambda: len(sse.alerts()) == 4, 20, "the redelivered alert on SSE")
        await asyncio.sleep(1.0)
        assert len(good.requests) == 3 and len(failing.requests) == 9 and len(flaky.requests) == 9

        # SSE resume: from the first event's id, the rest is replayed from the ring buffer
        first_id = sse.events[0][0]
        resumed = SseReader(client, "/alerts/stream", last_event_id=first_id)
        await until(lambda: len(resumed.alerts()) == 3, 10, "resumed events")
        assert [a["alert_id"] for a in resumed.alerts()] == [a.alert_id for a in alerts[1:]] + [
            alerts[0].alert_id
        ]
        await until(lambda: sse.heartbeats > 0, 5, "a heartbeat")
        await resumed.close()
        await sse.close()

        text = (await client.delete(f"/subscriptions/{listed[0]['id']}")).status_code
        assert text == 204 and len((await client.get("/subscriptions")).json()) == 3

    metrics = services.metrics
    assert metrics.webhook_dead_letters.labels("exhausted")._value.get() == 3
    assert metrics.source_to_channel.labels("webhook")._sum.get() > 0
    print(f"produce -> 3 alerts on SSE: {sse_latency * 1000:.0f} ms")


async def test_an_erasure_holds_back_the_alerts_about_the_erased_account(
    embedded_broker: BrokerUnderTest, tmp_path: Path
) -> None:
    """An erase audit event on identity.links drops the erased account's alerts from the SSE replay
    buffer, and an alert about it still on its way reaches neither SSE nor the webhooks."""
    bootstrap = embedded_broker.bootstrap
    settings = Settings(
        data_dir=tmp_path, app_id=f"erase-it-{uuid.uuid4().hex[:6]}", allow_private_webhooks=True
    )
    services = AlertServices.build(settings, CollectorRegistry())
    engine = AlertEngine(default_rules(), cooldown_s=0.0)
    gone, kept = (
        f"bluesky:did:plc:gone-{uuid.uuid4().hex[:8]}",
        f"bluesky:did:plc:kept-{uuid.uuid4().hex[:8]}",
    )

    def alert(account: str) -> bytes:
        post = scored(f"it-{uuid.uuid4().hex}", account_id=account, priority=0.9)
        return engine.process(post, now=time.time())[0].to_bytes()

    producer = erasure_test_producer(bootstrap, settings)
    async with subscribed_api(services, [200]) as (hook, client, dispatcher):
        await asyncio.wait_for(dispatcher.erasures.ready.wait(), 60)
        sse = SseReader(client, "/alerts/stream")
        await asyncio.wait_for(sse.connected.wait(), 10)

        for account in (gone, kept):
            producer.produce(TOPIC_ALERTS, key=b"x", value=alert(account))
        producer.flush(10)
        await until(lambda: len(hook.acknowledged()) == 2, 20, "both alerts delivered before the erasure")
        await until(lambda: len(sse.alerts()) == 2, 20, "both alerts on SSE before the erasure")

        erasure = AuditEvent(AuditAction.ERASE, time.time(), "platform", record_ids=(gone,), cause="it")
        producer.produce(TOPIC_IDENTITY, key=gone.encode(), value=erasure.to_bytes())
        withheld = services.metrics.erased_withheld
        await until(lambda: withheld.labels("sse")._value.get() == 1, 20, "the buffered alert dropped")

        # a late alert about the erased account, then one about another: only the second arrives
        producer.produce(TOPIC_ALERTS, key=b"x", value=alert(gone))
        producer.produce(TOPIC_ALERTS, key=b"x", value=alert(kept))
        producer.flush(10)
        await until(lambda: len(hook.acknowledged()) == 3, 20, "the later alert about the kept account")
        await until(lambda: len(sse.alerts()) == 3, 20, "the later alert about the kept account on SSE")
        assert [orjson.loads(b)["account_id"] for b in hook.acknowledged()][2] == kept
        assert sse.alerts()[2]["account_id"] == kept
        assert withheld.labels("webhook")._value.get() == 1 and withheld.labels("sse")._value.get() == 2

        # a client that resumes from an unknown point gets the buffer: without the erased account
        resumed = SseReader(client, "/alerts/stream", last_event_id="unknown-1")
        await until(lambda: len(resumed.alerts()) == 2, 10, "the replayed buffer")
        await asyncio.sleep(0.5)
        assert [a["account_id"] for a in resumed.alerts()] == [kept, kept]
        await resumed.close()

        # the worker's erasure notice (alerts.stage.ErasureNotices) reaches every subscriber, one
        # whose filter no other alert passes too, and SSE clients
        async with Receiver([200]) as picky:
            resp = await client.post(
                "/subscriptions", json={"url": picky.url, "rules": ["churn-risk"], "min_priority": 0.99}
            )
            assert resp.status_code == 201, resp.text
            picky.secret = resp.json()["secret"]
            (notice,) = ErasureNotices(Metrics.create()).process(erasure.to_bytes())
            producer.produce(notice.topic, key=notice.key, value=notice.value)
            producer.produce(TOPIC_ALERTS, key=b"x", value=alert(kept))  # not for the picky one
            producer.flush(10)
            await until(lambda: len(hook.acknowledged()) == 5, 20, "the notice and the kept alert")
            await until(lambda: len(sse.alerts()) == 5, 20, "the notice and the kept alert on SSE")
            await until(lambda: len(picky.acknowledged()) == 1, 20, "the notice at the picky subscriber")
            last_two = [orjson.loads(b) for b in hook.acknowledged()[3:]], sse.alerts()[3:]
            for told in [orjson.loads(picky.acknowledged()[0])] + [a for two in last_two for a in two]:
                assert told["kind"] == "post" or told["erasure"]["account_ids"] == [gone]
            assert all(sorted(a["kind"] for a in two) == ["erasure", "post"] for two in last_two)
            await asyncio.sleep(0.5)
            assert len(picky.requests) == 1 and orjson.loads(picky.requests[0][1])["kind"] == "erasure"
        await sse.close()


async def test_an_erasure_stops_the_retries_of_a_delivery_about_the_erased_account(
    embedded_broker: BrokerUnderTest, tmp_path: Path
) -> None:
    """A webhook delivery that is failing and waiting to retry when its account is erased makes no
    further attempt and leaves no dead letter (which would carry the alert on): the delivery log
    says withheld."""
    bootstrap = embedded_broker.bootstrap
    settings = Settings(
        data_dir=tmp_path,
        app_id=f"erase-retry-{uuid.uuid4().hex[:6]}",
        allow_private_webhooks=True,
        webhook_max_attempts=4,
        webhook_backoff_base_s=2.0,  # 1-2 s before each retry
        webhook_backoff_max_s=2.0,
        webhook_timeout_s=2.0,
    )
    services = AlertServices.build(settings, CollectorRegistry())
    engine = AlertEngine(default_rules(), cooldown_s=0.0)
    gone = f"bluesky:did:plc:retry-{uuid.uuid4().hex[:8]}"
    (alert,) = engine.process(
        scored(f"it-{uuid.uuid4().hex}", account_id=gone, priority=0.9), now=time.time()
    )
    producer = erasure_test_producer(bootstrap, settings)
    async with subscribed_api(services, [503]) as (hook, client, dispatcher):
        (sub,) = (await client.get("/subscriptions")).json()
        producer.produce(TOPIC_ALERTS, key=b"x", value=alert.to_bytes())
        producer.flush(10)
        await until(lambda: len(hook.requests) == 1, 20, "the first attempt")

        erasure = AuditEvent(AuditAction.ERASE, time.time(), "platform", record_ids=(gone,), cause="it")
        producer.produce(TOPIC_IDENTITY, key=gone.encode(), value=erasure.to_bytes())
        producer.flush(10)
        withheld = services.metrics.erased_withheld.labels("webhook")
        await until(lambda: withheld._value.get() == 1, 20, "the delivery withheld")
        await asyncio.sleep(2.5)  # past the time of the next retry
        assert len(hook.requests) == 1
        assert dispatcher.dead_lettered == 0
        assert services.store.delivery_status(sub["id"], alert.alert_id) == "withheld"


@pytest.mark.parametrize("known_from", ["identity.links", "graph"])
async def test_an_api_started_after_an_erasure_holds_back_the_alerts_still_on_their_way(
    embedded_broker: BrokerUnderTest, graph_store: GraphStore, tmp_path: Path, known_from: str
) -> None:
    """An alert made before an erasure that happened while the API was down reaches neither the
    webhooks (whose group resumes before it) nor SSE. The dispatcher learns the erasure from what
    identity.links holds before it delivers anything, or, when the topic no longer holds it (the
    embedded broker keeps a few thousand records a partition), from the graph's tombstone."""
    bootstrap = embedded_broker.bootstrap
    settings = Settings(
        data_dir=tmp_path, app_id=f"erase-restart-{uuid.uuid4().hex[:6]}", allow_private_webhooks=True
    )
    engine = AlertEngine(default_rules(), cooldown_s=0.0)
    gone, kept = (
        AccountRef(
            f"bluesky:did:plc:gone-{uuid.uuid4().hex[:8]}", Network.BLUESKY, handle="gone.bsky.social"
        ),
        AccountRef(
            f"bluesky:did:plc:kept-{uuid.uuid4().hex[:8]}", Network.BLUESKY, handle="kept.bsky.social"
        ),
    )
    await graph_store.apply(
        [
            Activity(f"ev-{a.id}", ActivityKind.POST, Network.BLUESKY, a, 1.0, 2.0, "it", post_id=f"p-{a.id}")
            for a in (gone, kept)
        ]
    )

    def alert(account: AccountRef) -> bytes:
        post = scored(f"it-{uuid.uuid4().hex}", account_id=account.id, priority=0.9)
        return engine.process(post, now=time.time())[0].to_bytes()

    producer = erasure_test_producer(bootstrap, settings)
    async with Receiver([200]) as hook:
        first = AlertServices.build(settings, CollectorRegistry())
        async with api_server(first) as base, httpx.AsyncClient(base_url=base) as client:
            await subscribe(client, hook)
            await started(first)
            producer.produce(TOPIC_ALERTS, key=b"x", value=alert(kept))
            producer.flush(10)
            await until(lambda: len(hook.acknowledged()) == 1, 20, "an alert before the stop")

        # while the API is down: two alerts are on their way, then one account is erased
        producer.produce(TOPIC_ALERTS, key=b"x", value=alert(gone))
        producer.produce(TOPIC_ALERTS, key=b"x", value=alert(kept))
        producer.flush(10)
        report = await erase_record(IdentityService(graph_store), gone.id, "deleted", actor="platform")
        assert report.record_ids == (gone.id,) and report.event is not None
        if known_from == "identity.links":
            producer.produce(TOPIC_IDENTITY, key=gone.id.encode(), value=report.event.to_bytes())
            producer.flush(10)

        second = AlertServices.build(settings, CollectorRegistry())
        lookup = (lambda ids: erased_among(graph_store, ids)) if known_from == "graph" else None
        async with api_server(second, lookup) as base, httpx.AsyncClient(base_url=base) as client:
            assert (await started(second)).erasures.caught_up.is_set()
            await until(lambda: len(hook.acknowledged()) >= 2, 20, "the alert about the kept account")
            sse = SseReader(client, "/alerts/stream")
            await asyncio.wait_for(sse.connected.wait(), 10)
            producer.produce(TOPIC_ALERTS, key=b"x", value=alert(gone))
            producer.produce(TOPIC_ALERTS, key=b"x", value=alert(kept))
            producer.flush(10)
            await until(lambda: len(sse.alerts()) >= 1, 20, "the later alert about the kept account")
            await until(lambda: len(hook.acknowledged()) >= 3, 20, "the later alert on the webhook")
            await asyncio.sleep(0.5)
            assert [a["account_id"] for a in sse.alerts()] == [kept.id]
            assert [orjson.loads(b)["account_id"] for b in hook.acknowledged()] == [kept.id] * 3
            withheld = second.metrics.erased_withheld
            assert withheld.labels("webhook")._value.get() == 2 and withheld.labels("sse")._value.get() == 1
            assert second.metrics.erasure_feed_caught_up._value.get() == 1
            looked_up = second.metrics.erasure_lookups.labels("ok")._value.get()
            assert looked_up >= 1 if known_from == "graph" else looked_up == 0
            await sse.close()


async def test_a_topic_that_appears_later_is_read_from_its_start(embedded_broker: BrokerUnderTest) -> None:
    """The API's feeds may start before their topic exists: its first record must not be skipped by
    an assignment at the end, and the erasure feed knows at once that no erasure came before it."""
    name = f"late-topic-{uuid.uuid4().hex[:8]}"
    consumer = own_reader(embedded_broker.bootstrap, name)
    absent: list[bool] = []
    assigning = asyncio.create_task(
        asyncio.to_thread(
            assign_when_present, consumer, name, lambda: False, if_absent=lambda: absent.append(True)
        )
    )
    await asyncio.sleep(1.0)  # it has looked at least once and not found the topic
    assert not assigning.done() and absent == [True]
    producer = confluent_kafka.Producer({"bootstrap.servers": embedded_broker.bootstrap, "log_level": 3})
    producer.produce(name, value=b"first")
    producer.flush(10)
    await asyncio.wait_for(assigning, 30)
    got: list[bytes] = []
    deadline = time.monotonic() + 20
    while not got and time.monotonic() < deadline:
        got = [m.value() for m in consumer.consume(10, 0.5) if m.error() is None]
    consumer.close()
    assert got == [b"first"]
