"""What a key's partition costs: aiokafka's partitioner against ``streams.partitioner``, on the keys
of the end-to-end benchmark's stream.

The workers hash a key for every record they key by account: each activity under its actor
(``social.activity`` batch records), each mention under its author (``scores.mentions``), and each
account whose influence moved (``scores.influence``, ~1.8 records a raw event flat out: the targets of
interactions). This generates the same mix as ``benchmarks.end_to_end`` (the bundled real sample,
then the simulator), normalizes it with the workers' own code, and takes per activity its actor's
key, then its target's and its mentioned accounts' keys. Over that key stream, in order, it times
(interleaved, ``--repeats`` rounds, medians):
- aiokafka's ``DefaultPartitioner`` (what the producers used before);
- ``streams.partitioner.murmur2`` alone (no cache);
- ``KeyPartitioner`` from an empty cache (what a worker does from its start).

    python -m benchmarks.partitioner --events 200000 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from aiokafka.partitioner import DefaultPartitioner

from benchmarks._machine import describe
from benchmarks._stream_mix import stream_mix
from groundswell.metrics import Metrics
from groundswell.settings import Settings
from streams import partitioner
from streams.pipeline import NormalizeStage

PARTITIONS = list(range(Settings().partitions))


def stream_keys(events: int) -> list[bytes]:
    settings = Settings()
    raws, _ = stream_mix(settings, events)
    activities, _ = NormalizeStage(settings, Metrics.create()).normalize(raws)
    keys: list[bytes] = []
    for a in activities:
        keys.append(a.actor.id.encode())
        if a.target_account is not None:
            keys.append(a.target_account.id.encode())
        keys.extend(m.id.encode() for m in a.mentions)
    return keys


def timed(keys: list[bytes], part: Callable[[bytes], int]) -> float:
    """Microseconds a key, over the whole stream."""
    started = time.perf_counter()
    for key in keys:
        part(key)
    return (time.perf_counter() - started) / len(keys) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000, help="simulated raw events after the real sample")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print("generating and normalizing events ...", flush=True)
    keys = stream_keys(args.events)
    default, ours = DefaultPartitioner(), partitioner.KeyPartitioner()
    assert all(default(k, PARTITIONS, PARTITIONS) == ours(k, PARTITIONS, PARTITIONS) for k in keys[:50_000])
    n = len(PARTITIONS)
    ways: dict[str, Callable[[bytes], int]] = {
        "aiokafka DefaultPartitioner": lambda k: default(k, PARTITIONS, PARTITIONS),
        "streams.partitioner.murmur2, no cache": lambda k: (partitioner.murmur2(k) & 0x7FFFFFFF) % n,
        "KeyPartitioner from an empty cache": lambda k: ours(k, PARTITIONS, PARTITIONS),
    }
    results: dict[str, list[float]] = {name: [] for name in ways}
    hit_rate = 0.0
    for r in range(args.repeats):
        for name, part in ways.items():
            partitioner._positive_hash.cache_clear()
            results[name].append(timed(keys, part))
            if name.startswith("KeyPartitioner"):
                info = partitioner._positive_hash.cache_info()
                hit_rate = info.hits / (info.hits + info.misses)
        last = ", ".join(f"{v[-1]:.2f}" for v in results.values())
        print(f"round {r + 1}/{args.repeats}: {last} us a key", flush=True)
    base = statistics.median(results["aiokafka DefaultPartitioner"])
    print(f"\nmachine: {describe()}")
    print(
        f"{len(keys):,} keys from {args.events:,} simulated raw events and the real sample "
        f"({len(set(keys)):,} distinct); cache of {partitioner.KEYS:,} keys: {hit_rate:.1%} hits\n"
    )
    print("| partitioner | us a key (median of rounds) | against aiokafka |")
    print("|---|---|---|")
    for name, values in results.items():
        m = statistics.median(values)
        print(f"| {name} | {m:.2f} | {m / base:.2f}x |")


if __name__ == "__main__":
    main()
