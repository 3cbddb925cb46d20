"""Alerts benchmark: the alerting stage's cost per post, and crm.alerts -> SSE / webhook latency.

1. stage: ``PostAlerting.process`` on scored posts (random subjects and topics), with the
   subject's state decoded from and encoded to bytes on every post exactly as the Faust table
   does; reports microseconds per post (median of 5 rounds) and posts/s on one core.
2. delivery: the embedded broker (this process), the API's ``AlertServices`` (dispatcher, SSE hub,
   webhook sender with the SSRF guard), one local signed-webhook receiver (verifies every
   signature) and one SSE client over a real uvicorn server; alerts are produced to crm.alerts at
   --rate per second for --seconds with ``received_at`` = the produce time, so the measured
   latency is source-receive-time to alert-on-channel as the metrics define it, minus the
   upstream stages (which the end-to-end benchmark measures). Reports p50 / p95 / p99 per channel.
3. start-up: ``identity.links`` on the embedded broker holds --history audit events (links with
   their evidence, and one erase in 100); a fresh dispatcher reads all of them before it delivers
   an alert (``ErasureFeed.caught_up``). Reports the seconds that takes and records/s.

    python -m benchmarks.alerts --rate 1000 --seconds 10 --history 200000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import confluent_kafka
import httpx
import orjson
import uvicorn
from aiohttp import web
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from alerts.dispatcher import AlertDispatcher
from alerts.metrics import AlertMetrics
from alerts.rules import SubjectState
from alerts.schema import Alert, AlertKind, Severity, stable_id
from alerts.service import AlertServices
from alerts.sse import AlertHub
from alerts.stage import PostAlerting
from alerts.webhooks import (
    ALERT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signed_headers,
    verify_signature,
)
from api.alerts_routes import create_alerts_router
from groundswell.metrics import Metrics
from groundswell.settings import TOPIC_ALERTS, TOPIC_IDENTITY, Settings
from identity.audit import AuditAction, AuditEvent
from identity.records import Evidence
from scoring.priority import ScoredPost
from streams.broker import EmbeddedBroker

GOAL_P95_S = 1.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def make_post(i: int, rng: random.Random, now: float) -> ScoredPost:
    fields: dict[str, Any] = {
        "event_id": f"bench:{i}",
        "account_id": f"x:{rng.randrange(5000)}",
        "post_id": f"x:{i}",
        "network": "x",
        "text": "acme support never answered, cancelling",
        "created_at": now + i * 0.001,
        "received_at": now + i * 0.001,
        "sentiment": rng.uniform(-1, 1),
        "influence": rng.uniform(0, 20),
        "priority": rng.uniform(0, 1),
        "reasons": ("bench",),
    }
    extra = {"topics": (rng.choice(["billing", "shipping", "app", "outage"]),), "intent": None}
    for name, value in extra.items():
        if name in ScoredPost.__dataclass_fields__:
            fields[name] = value
    return ScoredPost(**fields)


def bench_stage(n: int) -> dict[str, float]:
    rng = random.Random(7)
    now = time.time()
    posts = [make_post(i, rng, now) for i in range(n)]
    rounds = []
    alerts = 0
    for _ in range(5):
        stage = PostAlerting(Settings(), Metrics.create(), clock=time.time)
        table: dict[str, bytes] = {}
        started = time.perf_counter()
        alerts = 0
        for post in posts:
            key = stage.subject(post)
            state = SubjectState.from_bytes(table.get(key))
            alerts += len(stage.process(post, state))
            table[key] = state.to_bytes()
        rounds.append((time.perf_counter() - started) / n)
    per_post = statistics.median(rounds)
    return {"posts": n, "alerts": alerts, "us_per_post": per_post * 1e6, "posts_per_s": 1 / per_post}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_alert(i: int, sent_at: float) -> bytes:
    return Alert(
        alert_id=stable_id("bench", str(i), str(sent_at)),
        kind=AlertKind.POST,
        rule="high-priority",
        severity=Severity.HIGH,
        emitted_at=sent_at,
        received_at=sent_at,
        subject_id=f"x:{i}",
        topics=("billing",),
        matched_rules=("high-priority",),
    ).to_bytes()


async def run_client(hook_port: int, secret: str, api_url: str, out: Path) -> None:
    """The other side, in its own process: a signed-webhook receiver and an SSE reader."""
    webhook_lat: list[float] = []
    sse_lat: list[float] = []
    counters = {"bad_signatures": 0, "sse_dropped": 0}

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        now = time.time()
        headers = request.headers
        if not verify_signature(secret, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER]):
            counters["bad_signatures"] += 1
        if headers[ALERT_ID_HEADER] != "ceiling":
            webhook_lat.append(now - orjson.loads(body)["received_at"])
        return web.Response(text="ok")

    async def read_sse() -> None:
        async with (
            httpx.AsyncClient(base_url=api_url, timeout=None) as client,
            client.stream("GET", "/alerts/stream") as resp,
        ):
            event = ""
            async for line in resp.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                    counters["sse_dropped"] += event == "dropped"
                elif line.startswith("data: ") and event == "alert":
                    sse_lat.append(time.time() - orjson.loads(line[6:])["received_at"])

    receiver = web.Application()
    receiver.router.add_post("/hook", receive)
    runner = web.AppRunner(receiver, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()
    reader = asyncio.create_task(read_sse())
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    await runner.cleanup()
    await asyncio.to_thread(
        out.write_bytes, orjson.dumps({"webhook": webhook_lat, "sse": sse_lat, **counters})
    )


async def bare_client_rate(url: str, secret: str, n: int, concurrency: int) -> float:
    """Ceiling: the same signed POSTs to the same receiver with a bare aiohttp client (no broker,
    no SQLite, no guard), same concurrency: requests/s."""
    body = bench_alert(0, time.time())
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            queue.get_nowait()
            headers = signed_headers(secret, body, "ceiling", 1, time.time())
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()

    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return n / (time.perf_counter() - started)


async def bench_delivery(rate: float, seconds: float, concurrency: int) -> dict[str, Any]:
    broker = EmbeddedBroker()
    bootstrap = broker.start()
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "linger.ms": 2, "log_level": 3})
    while not producer.list_topics(TOPIC_ALERTS, timeout=5).topics[TOPIC_ALERTS].partitions:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            app_id="bench-alerts",
            allow_private_webhooks=True,
            webhook_concurrency=concurrency,
        )
        services = AlertServices.build(settings, CollectorRegistry())
        app = FastAPI()
        app.include_router(create_alerts_router(services.hub, services.store, lambda *r: lambda: None))
        api_port, hook_port = free_port(), free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=api_port, log_level="warning"))
        serve = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await services.start(bootstrap)
        sub = services.store.create(f"http://127.0.0.1:{hook_port}/hook")
        assert services.dispatcher is not None
        await asyncio.wait_for(services.dispatcher.wait_ready(), 60)
        out = Path(tmp) / "client.json"
        client = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.alerts",
            "--client",
            str(hook_port),
            sub.secret,
            f"http://127.0.0.1:{api_port}",
            str(out),
            stdout=asyncio.subprocess.PIPE,
        )
        assert client.stdout is not None
        assert (await asyncio.wait_for(client.stdout.readline(), 60)).strip() == b"ready"
        await asyncio.sleep(1.0)  # the SSE client connects
        total = int(rate * seconds)
        started = time.time()
        last_report = started
        for i in range(total):
            delay = started + i / rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            producer.produce(TOPIC_ALERTS, key=str(i).encode(), value=bench_alert(i, time.time()))
            producer.poll(0)
            if time.time() - last_report >= 1.0:
                last_report = time.time()
                print(
                    f"  produced {i + 1}/{total}, webhooks delivered {services.dispatcher.delivered}",
                    flush=True,
                )
        producer.flush(10)
        deadline = time.time() + 60
        while services.dispatcher.delivered < total and time.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        drained = time.time() - started
        await asyncio.sleep(1.0)  # the last SSE events
        ceiling = await bare_client_rate(f"http://127.0.0.1:{hook_port}/hook", sub.secret, total, concurrency)
        client.send_signal(signal.SIGTERM)
        await client.wait()
        result = orjson.loads(out.read_bytes())
        await services.stop()
        server.should_exit = True
        await serve
    broker.stop()
    summary: dict[str, Any] = {"rate": rate, "alerts": total, "concurrency": concurrency}
    for channel in ("sse", "webhook"):
        lat = result[channel]
        summary[channel] = {"n": len(lat), "p50": pct(lat, 0.5), "p95": pct(lat, 0.95), "p99": pct(lat, 0.99)}
    summary["bad_signatures"] = result["bad_signatures"]
    summary["webhook_rate"] = total / drained
    summary["bare_client_rate"] = ceiling
    summary["sse_dropped"] = result["sse_dropped"]
    return summary


def history_event(i: int) -> AuditEvent:
    """An audit event like the resolver's: a link with its evidence, and one erase in 100."""
    record = f"bluesky:did:plc:bench{i:08d}"
    if i % 100 == 0:
        return AuditEvent(AuditAction.ERASE, time.time(), "platform", record_ids=(record,), cause=f"e{i}")
    evidence = (
        Evidence("embedding_cosine", 0.91, 2.4, "profile texts"),
        Evidence("name", 0.88, 1.1, "display names, nicknames"),
        Evidence("handle", 0.75, 0.6, "handles"),
    )
    return AuditEvent(
        AuditAction.LINK,
        time.time(),
        "auto",
        person_id=f"person:{i // 2:08d}",
        record_ids=(record,),
        probability=0.97,
        evidence=evidence,
        reason="automatic merge",
        cause=f"bench:{i}",
    )


async def bench_erasure_history(records: int) -> dict[str, float]:
    broker = EmbeddedBroker()
    bootstrap = broker.start()
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "queue.buffering.max.messages": 1_000_000}
    )
    for i in range(records):
        event = history_event(i)
        producer.produce(TOPIC_IDENTITY, key=event.record_ids[0].encode(), value=event.to_bytes())
        if i % 10_000 == 0:
            producer.poll(0)
            print(f"  history: {i}/{records} audit events produced", flush=True)
    producer.flush(60)
    metrics = AlertMetrics.for_registry(CollectorRegistry())
    dispatcher = AlertDispatcher(bootstrap, "bench-history", metrics, hub=AlertHub(metrics))
    started = time.perf_counter()
    await dispatcher.start()
    await asyncio.wait_for(dispatcher.erasures.caught_up.wait(), 600)
    took = time.perf_counter() - started
    known, read = dispatcher.erasures.known, dispatcher.erasures.history_read
    await dispatcher.stop()
    broker.stop()
    return {"records": records, "read": read, "known": known, "seconds": took}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--posts", type=int, default=20000)
    p.add_argument("--concurrency", type=int, default=Settings().webhook_concurrency, help="webhook workers")
    p.add_argument("--history", type=int, default=200_000, help="identity.links records at start-up")
    p.add_argument(
        "--client", nargs=4, metavar=("HOOK_PORT", "SECRET", "API_URL", "OUT"), help=argparse.SUPPRESS
    )
    args = p.parse_args()
    if args.client:
        port, secret, api_url, out = args.client
        asyncio.run(run_client(int(port), secret, api_url, Path(out)))
        return
    print(f"stage: {args.posts} posts x 5 rounds ...", flush=True)
    stage = bench_stage(args.posts)
    print(
        f"stage: {stage['us_per_post']:.1f} us/post median of 5 rounds "
        f"({stage['posts_per_s']:,.0f} posts/s on one core, {stage['alerts']} alerts), "
        "state through bytes on every post",
        flush=True,
    )
    print(
        f"delivery: {args.rate:.0f} alerts/s for {args.seconds:.0f} s, {args.concurrency} webhook workers",
        flush=True,
    )
    d = asyncio.run(bench_delivery(args.rate, args.seconds, args.concurrency))
    for channel in ("sse", "webhook"):
        c = d[channel]
        ok = "met" if c["p95"] <= GOAL_P95_S and c["n"] == d["alerts"] else "NOT met"
        print(
            f"{channel:8s} {c['n']}/{d['alerts']} alerts  p50 {c['p50'] * 1000:.0f} ms  "
            f"p95 {c['p95'] * 1000:.0f} ms  p99 {c['p99'] * 1000:.0f} ms  "
            f"(crm.alerts -> {channel}; goal p95 <= {GOAL_P95_S:.0f} s: {ok})"
        )
    print(
        f"webhook throughput {d['webhook_rate']:,.0f}/s through the dispatcher (while producing and "
        f"serving SSE) vs {d['bare_client_rate']:,.0f}/s for a bare aiohttp client to the same receiver "
        f"afterwards, same concurrency: ratio {d['webhook_rate'] / d['bare_client_rate']:.2f} "
        "(capped by the offered rate)"
    )
    print(f"bad signatures: {d['bad_signatures']}, SSE client dropped as too slow: {d['sse_dropped']} times")
    print(f"start-up: {args.history} identity.links records before the first delivery ...", flush=True)
    h = asyncio.run(bench_erasure_history(args.history))
    print(
        f"start-up: {h['records']:,} identity.links records produced, {h['read']:,} still held by the "
        f"broker; the erasure feed read them in {h['seconds']:.2f} s ({h['read'] / h['seconds']:,.0f} "
        f"records/s) and knew {h['known']:,} erased accounts before delivering anything"
    )


if __name__ == "__main__":
    main()
