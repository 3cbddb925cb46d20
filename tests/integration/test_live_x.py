"""The X filtered-stream source against a local X API, producing into the real embedded broker."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from activity.raw import HEADER_FORMAT, HEADER_SOURCE, RawEvent
from groundswell.metrics import Metrics
from sources.live.base import CursorStore, SourceMetrics, run_source
from sources.live.x import EXPANSIONS, ReconnectPolicy, Rule, XConfig, XRulesError, XSource
from streams.produce import RawProducer
from tests.fixtures.broker import BrokerUnderTest
from tests.fixtures.broker import read_messages as read_topic
from tests.fixtures.x_server import (
    DISCONNECT_FRAME,
    END,
    KEEPALIVE,
    XServer,
    capture_lines,
    cut,
    frame,
    pause,
    status,
)

pytestmark = pytest.mark.integration

SCALE = 0.01  # X's reconnect intervals, shrunk a hundredfold: 5 s -> 50 ms, 60 s -> 600 ms


@pytest.fixture
async def server() -> AsyncIterator[XServer]:
    srv = XServer()
    await srv.start()
    yield srv
    await srv.close()


async def run(
    source: XSource,
    broker: BrokerUnderTest,
    topic: str,
    cursors: CursorStore,
    until: Callable[[list[RawEvent]], bool],
) -> list[RawEvent]:
    producer = RawProducer(broker.bootstrap, f"g-{topic}", Metrics.create(), max_lag=0, topic=topic)
    sent: list[RawEvent] = []

    def send(raw: RawEvent) -> None:
        sent.append(raw)
        producer.send(raw)

    metrics = SourceMetrics.create(CollectorRegistry())
    task = asyncio.create_task(run_source(source, send, producer.flush, cursors, metrics))
    deadline = time.monotonic() + 20
    while not until(sent) and time.monotonic() < deadline and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    source.stop()
    await asyncio.wait_for(task, 10)
    producer.close()
    return sent


def config(server: XServer, **kw: Any) -> XConfig:
    args: dict[str, Any] = {
        "bearer_token": server.token,
        "api_base": server.base_url,
        "backfill_minutes": 2,
        "stall_timeout": 0.5,
    }
    return XConfig(**{**args, **kw})


async def test_every_frame_once_across_disconnects_errors_and_stalls(
    server: XServer, embedded_broker: BrokerUnderTest, tmp_path: Path
) -> None:
    frames, partial = capture_lines()
    assert len(frames) == 7
    keep = server.add_rule("captain morgan")
    server.add_rule("old rule")
    server.add_rule("acme", tag="old-tag")
    wanted = (Rule("captain morgan"), Rule("acme", "acme-mentions"), Rule("@acmesupport"))
    f = [frame(x) for x in frames]
    server.scripts = [
        [KEEPALIVE, f[0], f[1], KEEPALIVE, f[2], cut(partial)],  # the capture's own cut mid-frame
        [f[1], f[2], f[3], KEEPALIVE, frame(DISCONNECT_FRAME), END],  # backfill redelivers 1 and 2
        [status(503)],
        [status(429)],
        [f[4], pause(1.0)],  # then silence: no keep-alive for longer than the stall timeout
        [f[4], KEEPALIVE, f[5], f[6]],
    ]
    topic = f"test.x.{uuid.uuid4().hex[:8]}"
    cursors = CursorStore(tmp_path / "cursors")
    source = XSource(config(server, rules=wanted), None, ReconnectPolicy(scale=SCALE))
    started = time.time()
    sent = await run(source, embedded_broker, topic, cursors, lambda s: len(s) >= 8)

    # rules: the live set is the wanted one; the rule already there was kept, not re-created
    assert server.live_rules() == {(r.value, r.tag) for r in wanted}
    assert keep in server.rules
    assert all(params == {} for params, _ in server.rule_posts)

    # every frame exactly once, bytes as received, the error frame passed through; the cut dropped
    got = read_topic(embedded_broker.bootstrap, topic, 8)
    values = [m.value() for m in got]
    assert sorted(values) == sorted([*frames, DISCONNECT_FRAME])
    assert [r.payload for r in sent] == [*frames[:4], DISCONNECT_FRAME, *frames[4:]]
    for m in got:
        headers = dict(m.headers() or [])
        assert headers[HEADER_FORMAT] == b"twitter_v2"
        assert headers[HEADER_SOURCE] == b"x.filtered_stream"

    # reconnects: fields and expansions always; backfill on every reconnect, not on the first connect
    conns = server.connections
    assert len(conns) == 6
    assert all(c.authorized and c.params["expansions"] == EXPANSIONS for c in conns)
    assert "tweet.fields" in conns[0].params and "user.fields" in conns[0].params
    assert "backfill_minutes" not in conns[0].params
    assert all(c.params.get("backfill_minutes") == "2" for c in conns[1:])
    # X's intervals (scaled): at once after a drop, 5 s after a 503, 60 s after a 429
    gaps = [b.at - a.at for a, b in itertools.pairwise(conns)]
    assert gaps[0] < 0.5
    assert gaps[2] >= 5.0 * SCALE
    assert gaps[3] >= 60.0 * SCALE
    assert gaps[4] >= 0.5  # the stall timeout

    saved = cursors.load("x")
    assert saved is not None and started <= float(saved) <= time.time()


async def test_restart_asks_backfill_from_the_cursor_and_dry_run_changes_nothing(
    server: XServer, embedded_broker: BrokerUnderTest, tmp_path: Path
) -> None:
    frames, _ = capture_lines()
    server.add_rule("old rule")
    cursors = CursorStore(tmp_path / "cursors")
    cursors.save("x", repr(time.time() - 90))  # the last run received its last frame 90 s ago

    dry = XSource(config(server, rules=(Rule("new rule"),), dry_run=True), cursors.load("x"))
    assert [ev async for ev in dry.events()] == []
    assert server.live_rules() == {("old rule", None)}
    assert {params.get("dry_run") for params, _ in server.rule_posts} == {"true"}
    assert server.connections == []

    server.scripts = [[frame(frames[0]), frame(frames[1])]]
    topic = f"test.x.{uuid.uuid4().hex[:8]}"
    source = XSource(config(server), cursors.load("x"), ReconnectPolicy(scale=SCALE))
    sent = await run(source, embedded_broker, topic, cursors, lambda s: len(s) >= 2)
    assert [r.payload for r in sent] == frames[:2]
    assert server.connections[0].params["backfill_minutes"] == "2"  # ceil(90 s) in minutes
    assert server.live_rules() == {("old rule", None)}  # no --rule: the account's rules stay
    assert sorted(m.value() for m in read_topic(embedded_broker.bootstrap, topic, 2)) == sorted(frames[:2])


async def test_rules_retry_server_errors_tolerate_a_dry_run_retag_and_refuse_invalid_rules(
    server: XServer,
) -> None:
    server.add_rule("acme", tag="old")
    server.rules_failures = [503, 429]
    policy = ReconnectPolicy(scale=SCALE)
    dry = XSource(config(server, rules=(Rule("acme", "new"),), dry_run=True), None, policy)
    started = time.monotonic()
    assert [ev async for ev in dry.events()] == []
    assert time.monotonic() - started >= (5.0 + 60.0) * SCALE  # X's intervals for 5xx and 429
    assert server.live_rules() == {("acme", "old")}  # a dry run changes nothing
    assert [p.get("dry_run") for p, _ in server.rule_posts] == ["true", "true"]

    bad = XSource(config(server, rules=(Rule("acme (unbalanced"),)), None, policy)
    with pytest.raises(XRulesError, match="UnprocessableEntity"):
        async for _ in bad.events():
            pass
    assert server.connections == []  # no stream with rules that could not be set
