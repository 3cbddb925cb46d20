"""Jetstream source benchmark: events/s one Jetstream source ingests and produces to the broker.

What it does:
1. starts the embedded broker in this process (``streams.broker.EmbeddedBroker``);
2. starts the local Jetstream (``tests/fixtures/jetstream_server.py --generate``) as its own
   process: a real WebSocket server looping the bundled real capture (152 events) with a fresh
   ``time_us`` and rkey/seq per copy, so that nothing dedupes away;
3. per run: the real source path, exactly as ``groundswell source bluesky`` runs it (one
   ``JetstreamSource`` -> ``run_source`` (dedupe, metrics, cursor checkpoints every second) ->
   ``RawProducer`` to a topic of its own), for ``--seconds`` after the first event, including
   the final flush; prints events/s per run and the median.

    python -m benchmarks.jetstream_source --seconds 10 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from prometheus_client import CollectorRegistry

from groundswell.metrics import Metrics
from sources.live.base import CursorStore, SourceEvent, SourceMetrics, run_source
from sources.live.jetstream import JetstreamConfig, JetstreamSource
from streams.broker import EmbeddedBroker
from streams.produce import RawProducer

REPO = Path(__file__).resolve().parents[1]


class Timed:
    """Stops the source ``seconds`` after its first event."""

    def __init__(self, inner: JetstreamSource, seconds: float) -> None:
        self.inner, self.seconds, self.name = inner, seconds, inner.name
        self.metrics: SourceMetrics | None = inner.metrics
        self.started = self.stopped = 0.0
        self.received = 0

    async def events(self) -> AsyncIterator[SourceEvent]:
        async for ev in self.inner.events():
            if not self.started:
                self.started = time.perf_counter()
            self.received += 1
            yield ev
            if self.received % 1000 == 0 and time.perf_counter() - self.started >= self.seconds:
                self.stopped = time.perf_counter()
                self.inner.stop()

    def stop(self) -> None:
        self.inner.stop()


def one_run(bootstrap: str, url: str, seconds: float, state: Path) -> dict[str, float]:
    producer = RawProducer(
        bootstrap, "bench", Metrics.create(), max_lag=0, topic=f"bench.js.{uuid.uuid4().hex}"
    )
    metrics = SourceMetrics.create(CollectorRegistry())
    source = JetstreamSource(JetstreamConfig(urls=(url,)), metrics=metrics)
    timed = Timed(source, seconds)
    sent = asyncio.run(run_source(timed, producer.send, producer.flush, CursorStore(state), metrics))
    producer.close()  # flushed: everything is in the broker
    elapsed = time.perf_counter() - timed.started
    return {
        "events": sent,
        "received": timed.received,
        "seconds": round(elapsed, 3),
        "events_per_s": round(sent / elapsed),  # counting the closing handshake and the final flush
        "stop_and_flush_s": round(time.perf_counter() - timed.stopped, 3),
        "failed": producer.failed,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=10.0, help="length of one run")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", type=Path, default=REPO / "benchmarks/out/jetstream_source.json")
    args = p.parse_args()

    broker = EmbeddedBroker()
    bootstrap = broker.start()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fixtures.jetstream_server", "--generate"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        print(f"local Jetstream {url}, broker {bootstrap}", flush=True)
        runs = []
        with tempfile.TemporaryDirectory() as state:
            for i in range(args.runs):
                result = one_run(bootstrap, url, args.seconds, Path(state))
                runs.append(result)
                print(f"run {i + 1}: {json.dumps(result)}", flush=True)
        median = statistics.median(r["events_per_s"] for r in runs)
        print(f"median: {median:,.0f} events/s over {args.runs} runs of {args.seconds:g} s", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"runs": runs, "median_events_per_s": median}, indent=2) + "\n")
    finally:
        server.terminate()
        server.wait(10)
        broker.stop()


if __name__ == "__main__":
    main()
