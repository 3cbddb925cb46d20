"""The Reddit source against a local Reddit API, producing into the real embedded broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from activity.raw import HEADER_FORMAT, HEADER_SOURCE, RawEvent
from groundswell.metrics import Metrics
from sources.live.base import CursorStore, SourceMetrics, run_source
from sources.live.reddit import RedditConfig, RedditSource
from streams.produce import RawProducer
from tests.fixtures.broker import BrokerUnderTest
from tests.fixtures.broker import read_messages as read_topic
from tests.fixtures.reddit_server import RedditServer, real_comments, submissions_from

pytestmark = pytest.mark.integration


@pytest.fixture
async def server() -> AsyncIterator[RedditServer]:
    srv = RedditServer(username="bot", password="pw", expires_in=2, budget=6, window=1.0)
    await srv.start()
    yield srv
    await srv.close()


class Run:
    """One source process: run_source into a real RawProducer, stopped once ``until`` holds."""

    def __init__(self, broker: BrokerUnderTest, topic: str, cursors: CursorStore) -> None:
        self.producer = RawProducer(broker.bootstrap, f"g-{topic}", Metrics.create(), max_lag=0, topic=topic)
        self.cursors = cursors
        self.sent: list[RawEvent] = []

    def send(self, raw: RawEvent) -> None:
        self.sent.append(raw)
        self.producer.send(raw)

    async def run(self, source: RedditSource, until: Callable[[], bool], limit_s: float = 20.0) -> int:
        metrics = SourceMetrics.create(CollectorRegistry())
        task = asyncio.create_task(run_source(source, self.send, self.producer.flush, self.cursors, metrics))
        deadline = time.monotonic() + limit_s
        while not until() and time.monotonic() < deadline and not task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        source.stop()
        sent = await asyncio.wait_for(task, 10)
        self.producer.close()
        return sent


def config(server: RedditServer, **kw: Any) -> RedditConfig:
    args: dict[str, Any] = {
        "subreddits": ("announcements", "AskReddit"),
        "client_id": server.client_id,
        "client_secret": server.client_secret,
        "username": server.username,
        "password": server.password,
        "interval": 0.1,
        "auth_base": server.base_url,
        "api_base": server.base_url,
    }
    return RedditConfig(**{**args, **kw})


async def test_every_item_once_across_overlapping_polls_rate_limits_and_restart(
    server: RedditServer, embedded_broker: BrokerUnderTest, tmp_path: Path
) -> None:
    comments = real_comments()
    posts = submissions_from(comments, 30)
    server.publish("comments", comments[:160])
    server.publish("new", posts[:10])
    cursors = CursorStore(tmp_path / "cursors")
    # a previous run produced up to comments[9] and posts[4]: the gap (150 comments) spans two pages
    cursors.save("reddit", orjson.dumps({"comments": comments[9]["name"], "new": posts[4]["name"]}).decode())
    topic = f"test.reddit.{uuid.uuid4().hex[:8]}"
    expected = {d["name"]: d for d in comments[10:300] + posts[5:30]}  # all published, once each

    run1 = Run(embedded_broker, topic, cursors)
    late = comments[200]  # shows up after newer ones (Reddit's listings are eventually consistent)

    async def publish_over_time() -> None:
        for start in range(160, 260, 20):
            await asyncio.sleep(0.3)
            server.publish("comments", [c for c in comments[start : start + 20] if c is not late])
            server.publish("new", posts[10 + (start - 160) // 10 : 10 + (start - 160) // 10 + 2])
        server.publish("comments", [late])

    publisher = asyncio.create_task(publish_over_time())
    source = RedditSource(config(server), cursors.load("reddit"))
    done1 = {d["name"] for d in comments[10:260] + posts[5:20]}
    await run1.run(source, lambda: publisher.done() and {ev_name(r) for r in run1.sent} >= done1)
    await publisher
    tokens_in_run1 = len(server.token_requests)

    saved = orjson.loads(cursors.load("reddit") or "{}")
    assert saved == {"comments": comments[259]["name"], "new": posts[19]["name"]}

    # restart: the new process resumes from the saved cursor, even though that comment was removed
    server.remove("comments", comments[259]["name"])
    server.publish("comments", comments[260:300])
    server.publish("new", posts[20:30])
    run2 = Run(embedded_broker, topic, cursors)
    source2 = RedditSource(config(server), cursors.load("reddit"))
    rest = {d["name"] for d in comments[260:300] + posts[20:30]}
    await run2.run(source2, lambda: {ev_name(r) for r in run2.sent} >= rest)
    assert {ev_name(r) for r in run2.sent} == rest

    got = read_topic(embedded_broker.bootstrap, topic, len(expected))
    names = [orjson.loads(m.value())["name"] for m in got]
    assert len(names) == len(set(names)), "an item was produced twice"
    assert set(names) == set(expected)
    for m in got:
        data = orjson.loads(m.value())
        assert m.value() == orjson.dumps(expected[data["name"]])
        headers = dict(m.headers() or [])
        assert headers[HEADER_FORMAT] == b"reddit"
        assert headers[HEADER_SOURCE] == b"reddit"

    # the budget (6 requests a second) was never exceeded: the source slept on the headers
    assert server.violations == 0
    assert source.rate_limited_s > 0
    # tokens (2 s) were renewed before expiry (no 401), with the password grant and a descriptive agent
    assert tokens_in_run1 >= 2
    assert server.unauthorized == 0
    assert set(server.token_requests) == {"password"}
    assert all(ua.startswith("python:groundswell:") and "/u/bot" in ua for ua in server.user_agents)
    # walk-back: the first poll paged with `after` to close the 150-comment gap
    assert any(listing == "comments" and "after" in params for listing, params in server.requests)


async def test_revoked_token_is_renewed_and_first_start_takes_the_present(
    server: RedditServer, embedded_broker: BrokerUnderTest, tmp_path: Path
) -> None:
    comments = real_comments()
    server.budget, server.expires_in = 1000, 3600
    server.publish("comments", comments[:250])
    cursors = CursorStore(tmp_path / "cursors")
    topic = f"test.reddit.{uuid.uuid4().hex[:8]}"
    run = Run(embedded_broker, topic, cursors)
    source = RedditSource(config(server, username=None), None)

    async def revoke_then_publish() -> None:
        await asyncio.sleep(0.4)
        server.revoke_tokens()
        server.publish("comments", comments[250:270])

    side = asyncio.create_task(revoke_then_publish())
    # no cursor: one page of the present (100 newest), then everything new
    want = {d["name"] for d in comments[150:270]}
    await run.run(source, lambda: side.done() and {ev_name(r) for r in run.sent} >= want)
    await side
    assert {ev_name(r) for r in run.sent} == want
    assert server.unauthorized >= 1
    assert server.token_requests[0] == "client_credentials" and len(server.token_requests) >= 2
    assert len(read_topic(embedded_broker.bootstrap, topic, len(want))) == len(want)


def ev_name(raw: RawEvent) -> str:
    name: str = orjson.loads(raw.payload)["name"]
    return name
