from __future__ import annotations

import asyncio
import dataclasses
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from alerts.dispatcher import PartitionProgress
from alerts.erasures import ErasureFeed, erased_accounts
from alerts.metrics import AlertMetrics
from alerts.rules import AlertEngine, default_rules
from alerts.schema import AlertHeader, ReadAlert, read_alerts, read_header
from alerts.sse import AlertHub
from alerts.ssrf import AddressPolicy
from alerts.subscriptions import AlertFilter, SubscriptionStore
from api.alerts_routes import create_alerts_router
from identity.audit import AuditAction, AuditEvent
from tests.unit._alert_posts import T0, scored


def header(
    alert_id: str = "a1", rule: str = "high-priority", topics: tuple[str, ...] = (), priority: float = 0.9
) -> AlertHeader:
    return AlertHeader(alert_id, "post", rule, (rule,), topics, priority, T0, T0)


def metrics() -> AlertMetrics:
    return AlertMetrics.for_registry(CollectorRegistry())


def test_filters_match_rules_topics_and_priority() -> None:
    assert AlertFilter().matches(header())
    assert AlertFilter(rules=("high-priority", "x")).matches(header())
    assert not AlertFilter(rules=("churn-risk",)).matches(header())
    assert AlertFilter(topics=("billing",)).matches(header(topics=("billing", "app")))
    assert not AlertFilter(topics=("billing",)).matches(header())
    assert not AlertFilter(min_priority=0.95).matches(header(priority=0.9))
    spike = AlertHeader("s", "volume_spike", "volume-spike", ("volume-spike",), ("billing",), None, T0, T0)
    assert AlertFilter(min_priority=0.95).matches(spike)  # spikes carry no priority


def test_subscription_store_crud_secret_once_and_delivery_log(tmp_path: Path) -> None:
    store = SubscriptionStore.in_data_dir(tmp_path)
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    sub = store.create(
        "https://crm.example/hook", rules=["churn-risk", " "], topics=["Billing"], min_priority=0.5
    )
    assert sub.secret.startswith("whsec_") and "secret" not in sub.public_dict()
    assert sub.filter == AlertFilter(("churn-risk",), ("billing",), 0.5)
    assert store.get(sub.id) == sub and [s.id for s in store.all()] == [sub.id]
    assert store.matching(header(rule="churn-risk", topics=("billing",)))
    paused = store.update(sub.id, active=False)
    assert paused is not None and not paused.active and store.active() == ()
    store.update(sub.id, active=True, clear_min_priority=True)
    assert store.active()[0].filter.min_priority is None
    rotated = store.rotate_secret(sub.id)
    assert rotated is not None and rotated.secret != sub.secret
    store.record_delivery(sub.id, "a1", "dead", 5)
    store.record_delivery(sub.id, "a1", "delivered", 6)
    assert store.delivery_status(sub.id, "a1") == "delivered" and store.delivery_status(sub.id, "a2") is None
    store.record_delivery(sub.id, "old", "delivered", 1, now=1.0)
    assert store.forget_deliveries_before(100.0) == 1 and store.delivery_status(sub.id, "old") is None
    # another connection (another process) changes the database: the active cache notices
    other = SubscriptionStore.in_data_dir(tmp_path)
    other.create("https://two.example/hook")
    assert len(store.active()) == 2
    assert store.delete(sub.id) and not store.delete(sub.id) and store.deliveries(sub.id) == []
    other.close()
    store.close()


def test_partition_progress_commits_below_the_first_pending_offset() -> None:
    p = PartitionProgress(committed=10, highest_read=9)
    p.read(10, 2)
    p.read(11, 0)
    p.read(12, 1)
    assert p.commit_point() == 10
    p.done(10)
    assert p.commit_point() == 10
    p.done(10)
    assert p.commit_point() == 12
    p.done(12)
    assert p.commit_point() == 13


def alert_bytes(event_id: str) -> bytes:
    return AlertEngine(default_rules()).process(scored(event_id), now=T0)[0].to_bytes()


async def test_hub_fans_out_filters_drops_slow_clients_and_resumes() -> None:
    m = metrics()
    hub = AlertHub(m, queue_size=2, buffer_size=3)
    fast, _ = hub.connect(AlertFilter())
    picky, _ = hub.connect(AlertFilter(rules=("churn-risk",)))
    slow, _ = hub.connect(AlertFilter())
    events = []
    for i in range(2):
        data = alert_bytes(f"e{i}")
        events.append(hub.publish(data, read_header(data)))
        assert (await fast.queue.get()) == events[-1]
    assert picky.queue.empty() and slow.queue.qsize() == 2 and hub.clients == 3
    data = alert_bytes("e2")
    events.append(hub.publish(data, read_header(data)))
    assert slow.dropped and hub.clients == 2 and m.sse_dropped._value.get() == 1
    stream = hub.stream(slow, b"", heartbeat_s=5)
    assert await anext(stream) == b""
    assert b"event: dropped" in await anext(stream)
    # resume after the first event: the two later ones; unknown id or other epoch: reset + whole buffer
    _, preamble = hub.connect(AlertFilter(), last_event_id=events[0].id)
    assert preamble.count(b"event: alert") == 2 and b"event: reset" not in preamble
    assert events[1].id.encode() in preamble and events[0].id.encode() not in preamble
    _, preamble = hub.connect(AlertFilter(), last_event_id="0-1")
    assert b"event: reset" in preamble and preamble.count(b"event: alert") == 3
    _, preamble = hub.connect(AlertFilter(), last_event_id=events[-1].id)
    assert b"event: alert" not in preamble  # up to date


async def test_stream_sends_heartbeats_and_unregisters_on_close() -> None:
    hub = AlertHub(metrics())
    client, preamble = hub.connect(AlertFilter())
    stream = hub.stream(client, preamble, heartbeat_s=0.05)
    assert (await anext(stream)).startswith(b"retry:")
    assert await asyncio.wait_for(anext(stream), 2) == b": heartbeat\n\n"
    await stream.aclose()
    assert hub.clients == 0


def allow_all(*roles: str) -> Callable[[], None]:
    def dependency() -> None:
        return None

    return dependency


@pytest.fixture
def api(tmp_path: Path) -> TestClient:
    app = FastAPI()
    store = SubscriptionStore.in_data_dir(tmp_path)
    app.include_router(create_alerts_router(AlertHub(metrics()), store, allow_all, policy=AddressPolicy()))
    return TestClient(app)


def test_subscription_routes_refuse_private_urls_and_show_the_secret_once(api: TestClient) -> None:
    for url in ("http://169.254.169.254/latest", "http://[::ffff:127.0.0.1]/", "ftp://8.8.8.8/x"):
        resp = api.post("/subscriptions", json={"url": url})
        assert resp.status_code == 422 and "refused" in resp.json()["detail"]
    assert api.post("/subscriptions", json={"url": "https://8.8.8.8/h", "min_priority": 2}).status_code == 422
    created = api.post("/subscriptions", json={"url": "https://8.8.8.8/hook", "rules": ["churn-risk"]})
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    sub_id = created.json()["id"]
    assert "secret" not in api.get(f"/subscriptions/{sub_id}").json()
    patched = api.patch(f"/subscriptions/{sub_id}", json={"active": False, "topics": ["Billing"]})
    assert patched.json()["active"] is False and patched.json()["topics"] == ["billing"]
    assert api.post(f"/subscriptions/{sub_id}/rotate-secret").json()["secret"] != created.json()["secret"]
    assert api.delete(f"/subscriptions/{sub_id}").status_code == 204
    assert api.get(f"/subscriptions/{sub_id}").status_code == 404
    assert api.delete(f"/subscriptions/{sub_id}").status_code == 404
    assert api.get("/subscriptions").json() == []


def test_every_alert_route_asks_the_guard_for_the_crm_role(tmp_path: Path) -> None:
    asked: list[tuple[str, ...]] = []

    def guard(*roles: str) -> Callable[[], None]:
        asked.append(roles)
        return lambda: None

    router = create_alerts_router(AlertHub(metrics()), SubscriptionStore.in_data_dir(tmp_path), guard)
    assert len(router.routes) == 7 and set(asked) == {("crm",)}
    assert all(r.dependencies for r in router.routes)  # type: ignore[attr-defined]


def test_the_hub_forgets_the_buffered_alerts_of_erased_accounts() -> None:
    hub = AlertHub(metrics(), buffer_size=10)
    for i, account in enumerate(["x:gone", "x:kept", "x:gone", None]):
        hub.publish(b"{}", dataclasses.replace(header(f"a{i}"), account_id=account))
    assert hub.forget({"x:gone"}) == 2 and hub.forget({"x:gone"}) == 0
    reset, events = hub.backlog("unknown-1", AlertFilter())
    assert reset and [e.header.alert_id for e in events] == ["a1", "a3"]
    _, after_first = hub.backlog(events[0].id, AlertFilter())  # a resume point still in the buffer
    assert [e.header.alert_id for e in after_first] == ["a3"]
    for i in range(4, 14):  # the buffer keeps its bound after a forget
        hub.publish(b"{}", header(f"a{i}"))
    assert len(hub.backlog("unknown-1", AlertFilter())[1]) == 10


def test_the_alert_header_carries_the_author_and_erase_events_name_their_accounts() -> None:
    (alert,) = AlertEngine(default_rules(), cooldown_s=0.0).process(scored("e1", priority=0.9), now=T0)
    assert read_header(alert.to_bytes()).account_id == "bluesky:did:plc:alice"
    erase = AuditEvent(AuditAction.ERASE, T0, "dpo", person_id="person:1", record_ids=("x:1", "x:2"))
    assert erased_accounts(erase.to_bytes()) == ["x:1", "x:2"]
    link = AuditEvent(AuditAction.LINK, T0, "auto", person_id="person:1", record_ids=("x:1",))
    for value in (link.to_bytes(), b"{not json", b"[]", b'{"action": "erase", "record_ids": "x:1"}', None):
        assert erased_accounts(value) == []


class Record:
    """What the feeds read of a consumed record."""

    def __init__(self, value: bytes) -> None:
        self._value = value

    def error(self) -> None:
        return None

    def value(self) -> bytes:
        return self._value

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 0


def test_each_consumed_record_is_read_once_into_its_header_or_why_it_is_not_an_alert() -> None:
    (alert,) = AlertEngine(default_rules(), cooldown_s=0.0).process(scored("r1", priority=0.9), now=T0)
    good, bad = read_alerts([Record(alert.to_bytes()), Record(b"{not json")])
    assert good.header == read_header(alert.to_bytes()) and good.error == ""
    assert bad.header is None and bad.error.startswith("not JSON") and bad.value == b"{not json"


async def test_alerts_made_before_the_start_wait_for_the_graph_to_name_the_erased_accounts() -> None:
    engine = AlertEngine(default_rules(), cooldown_s=0.0)

    def alert(account: str, at: float) -> ReadAlert:
        post = scored(f"e-{account}-{at}", account_id=account, priority=0.9)
        (read,) = read_alerts([Record(engine.process(post, now=at)[0].to_bytes())])
        return read

    asked: list[list[str]] = []
    answers: list[Exception | set[str]] = [ConnectionError("graph restarting"), {"x:gone"}]

    async def lookup(ids: list[str]) -> set[str]:
        asked.append(ids)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    stopping = asyncio.Event()
    counted = metrics()
    feed = ErasureFeed("unused:9092", "unit", counted, stopping, lookup=lookup, clock=lambda: T0 + 100)
    older = [alert("x:gone", T0), alert("x:kept", T0 + 1), *read_alerts([Record(b"not an alert")])]
    assert await feed.ask_about_older(older)  # asked twice: the first time the graph failed
    assert asked == [["x:gone", "x:kept"]] * 2 and feed.known == 1
    lookups = counted.erasure_lookups
    assert lookups.labels("error")._value.get() == 1 and lookups.labels("ok")._value.get() == 1
    gone, kept = older[0].header, older[1].header
    assert gone is not None and kept is not None and feed.is_erased(gone) and not feed.is_erased(kept)
    assert await feed.ask_about_older([alert("x:new", T0 + 200), older[0]])  # newer, or known: not asked
    assert len(asked) == 2

    answers.append(ConnectionError("graph down"))
    stopper = asyncio.get_running_loop().call_later(0.2, stopping.set)
    assert not await feed.ask_about_older([alert("x:other", T0)])  # stopped while the graph is down
    stopper.cancel()
