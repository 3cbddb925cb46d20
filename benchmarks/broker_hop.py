"""One consumer hop's latency on the embedded broker, by the consumer's fetch wait.

Every stage of the pipeline is a consumer hop: a record produced (librdkafka, ``linger.ms`` 5, as
the workers' and the source's producers) is fetched by an aiokafka consumer. The embedded broker
(librdkafka's mock cluster) holds a fetch that finds no records for the consumer's whole
``fetch_max_wait_ms``, even when records arrive meanwhile (``streams/compat.py``), so the wait is
part of every hop's latency. This measures it alone, with nothing else on the machine's cores:
a producer thread paced at ``--rate`` records/s over 4 partitions, each record carrying its send
time, and a bare consumer taking them with ``getmany``; per wait, p50 / p90 / p99 / max of
receive time - send time, side by side in one run.

    python -m benchmarks.broker_hop --rate 150 --seconds 20 --waits 5 10 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
import uuid
from pathlib import Path

import confluent_kafka
from aiokafka import AIOKafkaConsumer

from benchmarks._machine import describe
from streams.broker import EmbeddedBroker

REPO = Path(__file__).resolve().parents[1]
PARTITIONS = 4


def produce_paced(bootstrap: str, topic: str, rate: float, seconds: float, start_after: float) -> None:
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "log_level": 3})
    time.sleep(start_after)
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < seconds:
        ahead = t0 + i / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        producer.produce(topic, repr(time.time()).encode(), partition=i % PARTITIONS)
        producer.poll(0)
        i += 1
    producer.flush(10)


async def consume(bootstrap: str, topic: str, wait_ms: int, until: float) -> list[float]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=wait_ms,
    )
    await consumer.start()
    latencies: list[float] = []
    try:
        while time.monotonic() < until:
            batches = await consumer.getmany(timeout_ms=100)
            now = time.time()
            latencies.extend(now - float(m.value or b"0") for ms in batches.values() for m in ms)
    finally:
        await consumer.stop()
    return latencies


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def one_wait(bootstrap: str, wait_ms: int, rate: float, seconds: float) -> dict[str, float]:
    topic = f"bench.hop.{uuid.uuid4().hex[:8]}"
    warmup = 1.5  # the consumer joins and fetches from the start before the first record
    producer = threading.Thread(target=produce_paced, args=(bootstrap, topic, rate, seconds, warmup))
    producer.start()
    latencies = asyncio.run(consume(bootstrap, topic, wait_ms, time.monotonic() + warmup + seconds + 1.0))
    producer.join()
    return {
        "records": len(latencies),
        **{f"p{int(q * 100)}_ms": quantile(latencies, q) * 1000 for q in (0.5, 0.9, 0.99)},
        "max_ms": max(latencies, default=float("nan")) * 1000,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=150.0, help="records/s")
    ap.add_argument("--seconds", type=float, default=20.0, help="per wait")
    ap.add_argument("--waits", type=int, nargs="+", default=[5, 10, 20], help="fetch_max_wait_ms values")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "broker_hop.json")
    args = ap.parse_args()
    broker = EmbeddedBroker()
    bootstrap = broker.start()
    results = {}
    try:
        for wait_ms in args.waits:
            print(
                f"fetch wait {wait_ms} ms: {args.seconds:.0f} s at {args.rate:.0f} records/s ...", flush=True
            )
            results[wait_ms] = one_wait(bootstrap, wait_ms, args.rate, args.seconds)
    finally:
        broker.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rate": args.rate, "by_wait_ms": results}, indent=2))
    print(f"\nmachine: {describe()}\n")
    print("| fetch wait | records | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|")
    for wait_ms, r in results.items():
        print(
            f"| {wait_ms} ms | {r['records']:,.0f} | {r['p50_ms']:.1f} ms | {r['p90_ms']:.1f} ms | "
            f"{r['p99_ms']:.1f} ms | {r['max_ms']:.1f} ms |"
        )
    print(f"\nraw numbers: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
