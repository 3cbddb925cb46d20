"""End-to-end benchmark: the whole pipeline on the embedded parts, one machine.

What it does, in one run:
1. starts the embedded broker (in this process), embedded ArcadeDB and one Groundswell worker
   (its own process, exactly as `groundswell worker` runs);
2. ceiling: a bare aiokafka consumer reads pre-produced copies of the same raw events from a
   topic of their own, as fast as it can (records/s);
3. pipeline: produces a real-format mix (the bundled real sample once, then the simulator's
   Jetstream / Mastodon / X / Reddit events, unique ids) to social.raw, as fast as the workers
   keep up (backpressure on their lag), for --seconds after a warm-up; scrapes the worker's
   /metrics at both ends of the window for per-stage rates; reads crm.alerts for exact
   source-to-alert latencies (alert emitted_at - event received_at);
4. prints a Markdown table for benchmarks/RESULTS.md, and writes the raw numbers as JSON.

    python -m benchmarks.end_to_end --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import confluent_kafka
import orjson
from aiokafka import AIOKafkaConsumer

from activity.raw import RawEvent
from benchmarks._machine import describe
from benchmarks._stream_mix import stream_mix
from graph.arcadedb_server import free_port, spawn, stop_spawned
from groundswell.metrics import Metrics
from groundswell.settings import TOPIC_ALERTS, Settings
from groundswell.stalls import DUMP_SIGNAL
from streams.broker import EmbeddedBroker, write_address
from streams.produce import RawProducer
from streams.worker import spawn_worker

REPO = Path(__file__).resolve().parents[1]
STAGES = ("normalize", "identity", "graph", "signals", "ranking", "alerting")


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        out[name] = out.get(name, 0.0) + float(value)
    return out


def stage_total(metrics: dict[str, float], counter: str, stage: str) -> float:
    pattern = re.compile(rf'^{counter}\{{.*stage="{stage}".*\}}$')
    return sum(v for k, v in metrics.items() if pattern.match(k))


def gc_pauses(start: dict[str, float], end: dict[str, float]) -> dict[str, dict[str, float]]:
    """Python's collections in the workers over the window, by generation: how many, their seconds
    in all, and the upper bucket bound of the longest (``groundswell_gc_pause_seconds``)."""
    out: dict[str, dict[str, float]] = {}
    bucket = re.compile(r'^groundswell_gc_pause_seconds_bucket\{generation="(\d)",le="([^"]+)"\}$')
    below: dict[str, dict[float, float]] = {}
    for k, v in end.items():
        m = bucket.match(k)
        if not m:
            continue
        gen, le = m.group(1), float(m.group(2))
        below.setdefault(gen, {})[le] = below.get(gen, {}).get(le, 0.0) + v - start.get(k, 0.0)
    for gen, counts in below.items():
        total = counts.get(float("inf"), 0.0)
        longest = next((le for le in sorted(counts) if counts[le] >= total), float("inf")) if total else 0.0
        seconds = sum(
            v - start.get(k, 0.0)
            for k, v in end.items()
            if k.startswith("groundswell_gc_pause_seconds_sum") and f'generation="{gen}"' in k
        )
        out[gen] = {"count": total, "seconds": seconds, "longest_le_s": longest}
    return out


#: a paced source more than this far behind its schedule (paused by backpressure) starts the
#: schedule again from now instead of sending what it owes at once: the window's load stays at the
#: rate asked for (a catch-up burst after each pause had put 338 events/s into a 300/s window)
PACE_SLACK_S = 0.5
#: the stages whose latency from the source event the benchmark reports
LATENCY_STAGES = ("normalize", "graph", "priority", "alerting", "influence")


def dump_worker_stacks(workers: list[subprocess.Popen[bytes]], work: Path) -> None:
    """Every worker writes its threads' Python stacks to its log (``groundswell.stalls``), and, where
    py-spy is installed, their native stacks go to ``py-spy-<pid>.txt`` in ``work``."""
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    for proc in workers:
        if proc.poll() is not None:
            continue
        if DUMP_SIGNAL is not None:
            os.kill(proc.pid, DUMP_SIGNAL)
        if py_spy:
            with (work / f"py-spy-{proc.pid}.txt").open("w") as out:
                subprocess.run(
                    [py_spy, "dump", "--native", "--pid", str(proc.pid)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=60,
                    check=False,
                )
    time.sleep(1.0)  # the logs get the stacks
    print(f"workers' stacks: {work} (worker-*.log, py-spy-*.txt)", flush=True)


def histogram_quantile(start: dict[str, float], end: dict[str, float], stage: str, q: float) -> float:
    """The q-quantile (upper bucket bound) of ``groundswell_stage_latency_seconds`` for ``stage``
    over the window between two scrapes."""
    pattern = re.compile(
        rf'^groundswell_stage_latency_seconds_bucket\{{.*le="([^"]+)".*stage="{stage}".*\}}$'
    )
    buckets: dict[float, float] = {}
    for k, v in end.items():
        m = pattern.match(k)
        if m:
            le = float(m.group(1))
            buckets[le] = buckets.get(le, 0.0) + v - start.get(k, 0.0)
    if not buckets or buckets.get(float("inf"), 0.0) <= 0:
        return float("nan")
    total = buckets[float("inf")]
    for le in sorted(buckets):
        if buckets[le] >= q * total:
            return le
    return float("inf")


def stat_cpu_seconds(stat: Path, *, children: bool = False) -> float:
    """User + system CPU seconds from a /proc ``stat`` file (a process's or a thread's); with
    ``children``, also those of its children that have ended and been waited for (the ranker's
    snapshot processes, ``streams.forked``). 0.0 where it cannot be read."""
    try:
        fields = stat.read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far, its waited-for children included (Linux /proc;
    0.0 where unavailable)."""
    return stat_cpu_seconds(Path(f"/proc/{pid}/stat"), children=True)


#: the JVM's just-in-time compiler threads (their names as Linux keeps them: 15 characters)
JIT_THREADS = ("C1 CompilerThre", "C2 CompilerThre")


def jit_seconds(pid: int, proc: Path = Path("/proc")) -> float:
    """CPU seconds so far of the JVM's JIT compiler threads in process ``pid`` (0.0 if none)."""
    total = 0.0
    try:
        tasks = list((proc / str(pid) / "task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            name = task.joinpath("comm").read_text().strip()
        except OSError:  # a thread that ended meanwhile
            continue
        if name.startswith(JIT_THREADS):
            total += stat_cpu_seconds(task / "stat")
    return total


def cpu_by_part(workers: list[subprocess.Popen[bytes]], roles: list[str], graph_pid: int) -> dict[str, float]:
    """CPU seconds so far of the workers (per role), the graph store (its JVM's JIT compiler apart:
    warm-up that a long-running store no longer pays) and this process (the embedded broker, the
    producer and the alert reader live here)."""
    out: dict[str, float] = {}
    for w, role in zip(workers, roles, strict=False):
        out[f"{role}_workers"] = out.get(f"{role}_workers", 0.0) + cpu_seconds(w.pid)
    jit = jit_seconds(graph_pid)
    out["graph_store"] = cpu_seconds(graph_pid) - jit
    out["graph_store_jit_compiler"] = jit
    out["broker_and_producer"] = cpu_seconds(os.getpid())
    return out


def topic_ends(bootstrap: str) -> dict[str, int]:
    """Records ever produced per topic (sum of its partitions' end offsets; the embedded broker
    drops old records beyond ~5 MB a partition but never resets offsets)."""
    probe = confluent_kafka.Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "bench-probe", "log_level": 3}
    )
    try:
        out: dict[str, int] = {}
        for name, meta in probe.list_topics(timeout=10).topics.items():
            if name.startswith("bench.") or name.startswith("__"):
                continue
            out[name] = sum(
                probe.get_watermark_offsets(
                    confluent_kafka.TopicPartition(name, p), timeout=10, cached=False
                )[1]
                for p in meta.partitions
            )
        return out
    finally:
        probe.close()


def ceiling(bootstrap: str, events: list[RawEvent]) -> float:
    """records/s of a bare aiokafka consumer over the same payloads (its own topic, pre-produced)."""
    topic = f"bench.ceiling.{os.getpid()}"
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "log_level": 3})
    for raw in events:
        while True:
            try:
                producer.produce(topic, raw.payload, headers=raw.headers())
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)

    # the embedded broker keeps ~5 MB per partition: count what it holds, not what was sent
    probe = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": topic, "log_level": 3})
    held = 0
    for p in range(4):
        low, high = probe.get_watermark_offsets(
            confluent_kafka.TopicPartition(topic, p), timeout=10, cached=False
        )
        held += high - low
    probe.close()

    async def consume() -> float:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            seen = 0
            started = 0.0
            deadline = time.monotonic() + 120
            while seen < held and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
                if not started and batch:
                    started = time.perf_counter()
                seen += sum(len(v) for v in batch.values())
            return seen / (time.perf_counter() - started)
        finally:
            await consumer.stop()

    return asyncio.run(consume())


class AlertReader(threading.Thread):
    """Reads crm.alerts; keeps (emitted_at - received_at) per alert."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(daemon=True)
        self.latencies: list[float] = []
        self._halt = threading.Event()
        self._consumer = confluent_kafka.Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-alerts-{os.getpid()}",
                "auto.offset.reset": "latest",
                "fetch.wait.max.ms": 20,  # the embedded broker holds a fetch this long (streams.compat)
                "log_level": 3,
            }
        )
        self._consumer.subscribe([TOPIC_ALERTS])

    def run(self) -> None:
        while not self._halt.is_set():
            msg = self._consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            alert = orjson.loads(msg.value())
            self.latencies.append(float(alert["emitted_at"]) - float(alert["received_at"]))
        self._consumer.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="measured window (after the warm-up)")
    ap.add_argument("--warmup", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=1, help="ingest worker processes (one consumer group)")
    ap.add_argument(
        "--combined",
        action="store_true",
        help="every stage in each worker (role all) instead of ingest workers + one scoring worker",
    )
    ap.add_argument("--rate", type=float, default=None, help="pace the source (events/s); default: flat out")
    ap.add_argument(
        "--max-lag",
        type=int,
        default=4000,
        help="the source pauses while a consumer lags by more (records a partition; streams.produce)",
    )
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "end_to_end.json")
    args = ap.parse_args()
    # a `kill` (SIGTERM) ends the run like Ctrl-C: the cleanup below stops the workers, the graph
    # store and the broker (killed outright, they stayed up after the benchmark)
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))

    work = Path(tempfile.mkdtemp(prefix="gs-bench-"))
    broker = EmbeddedBroker()
    bootstrap = broker.start()
    settings = Settings(
        data_dir=work,
        arcadedb_http_port=free_port(),
        arcadedb_bolt_port=free_port(),
        worker_metrics_port=free_port(),
        alert_influence_min=0.0,  # every negative company mention may alert: latency needs samples
    )
    write_address(settings.broker_address_file, bootstrap)
    print(f"broker {bootstrap}; starting ArcadeDB ...", flush=True)
    graph = spawn(settings, timeout=180.0)
    print("generating events ...", flush=True)
    target = int(2_500 * (args.seconds + args.warmup)) + 20_000
    events, real = stream_mix(settings, target)
    print(f"{len(events)} events ready ({real} real, {len(events) - real} simulated)", flush=True)

    ceiling_rate = ceiling(bootstrap, events[:12_000])
    print(f"ceiling: bare aiokafka consumer {ceiling_rate:,.0f} records/s", flush=True)

    roles = ["all"] * args.workers if args.combined else ["scoring"] + ["ingest"] * args.workers
    ports = [settings.worker_metrics_port] + [free_port() for _ in range(len(roles) - 1)]
    workers: list[subprocess.Popen[bytes]] = []

    def scrape_all() -> dict[str, float]:
        merged: dict[str, float] = {}
        for port, role in zip(ports, roles, strict=True):
            try:
                scraped = scrape(port)
            except OSError:  # a worker that stopped answering: its stacks into its log, then fail
                dump_worker_stacks(workers, work)
                raise RuntimeError(f"the {role} worker's /metrics (:{port}) did not answer") from None
            for k, v in scraped.items():
                merged[k] = merged.get(k, 0.0) + v
        return merged

    result: dict[str, Any] = {
        "ceiling_records_per_s": ceiling_rate,
        "workers": args.workers,
        "roles": roles,
        "rate": args.rate,
    }
    try:
        for i, (role, port) in enumerate(zip(roles, ports, strict=True)):  # one after the other
            log = work / f"worker-{i}-{role}.log"
            update = {"worker_metrics_port": port, "worker_role": role}
            workers.append(spawn_worker(settings.model_copy(update=update), log, cwd=REPO))
            deadline = time.monotonic() + 120
            while "Worker ready" not in log.read_text(errors="replace"):
                if workers[-1].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("worker did not start:\n" + log.read_text()[-3000:])
                time.sleep(0.3)
        alerts = AlertReader(bootstrap)
        alerts.start()
        producer = RawProducer(bootstrap, settings.consumer_groups, Metrics.create(), max_lag=args.max_lag)
        started = time.monotonic()
        window_start: dict[str, float] | None = None
        cpu_start: dict[str, float] = {}
        topics_start: dict[str, int] = {}
        window_t0 = 0.0
        last_print = started
        lat_start = 0
        pace_origin, paced_from = started, 0  # the schedule restarts after the source was held back
        for i, raw in enumerate(events):
            if args.rate:  # paced: the latency of a load the pipeline keeps up with
                ahead = pace_origin + (i - paced_from) / args.rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
                elif ahead < -PACE_SLACK_S:  # paused by backpressure: go on at the rate, no burst
                    pace_origin, paced_from = time.monotonic(), i
            producer.send(dataclasses.replace(raw, received_at=time.time()))
            now = time.monotonic()
            if window_start is None and now - started >= args.warmup:
                window_start, window_t0, lat_start = (
                    scrape_all(),
                    now,
                    len(alerts.latencies),
                )
                cpu_start = cpu_by_part(workers, roles, graph.pid)
                topics_start = topic_ends(bootstrap)
            if now - last_print >= 1.0:
                last_print = now
                m = scrape_all()
                graph_done = stage_total(m, "groundswell_events_out_total", "graph")
                print(
                    f"  {now - started:5.0f}s sent {producer.sent:>7}  graph {graph_done:>8.0f}"
                    f"  alerts {len(alerts.latencies)}",
                    flush=True,
                )
            if window_start is not None and now - window_t0 >= args.seconds:
                break
        window_end = scrape_all()
        elapsed = time.monotonic() - window_t0
        cpu_end = cpu_by_part(workers, roles, graph.pid)
        topics_end = topic_ends(bootstrap)
        producer.close()
        alerts.stop()
        assert window_start is not None, "too few events for the warm-up"
        rates = {
            stage: (
                stage_total(window_end, "groundswell_events_in_total", stage)
                - stage_total(window_start, "groundswell_events_in_total", stage)
            )
            / elapsed
            for stage in STAGES
            if stage != "alerting"
        }
        raw_rate = rates["normalize"]
        graph_rate = (
            stage_total(window_end, "groundswell_events_out_total", "graph")
            - stage_total(window_start, "groundswell_events_out_total", "graph")
        ) / elapsed
        window_latencies = alerts.latencies[lat_start:]
        # activities per raw event over the whole run: converts graph throughput into raw events
        # that went all the way through (normalize may run ahead of the graph on a backlog)
        per_raw = stage_total(window_end, "groundswell_events_out_total", "normalize") / max(
            1.0, stage_total(window_end, "groundswell_events_in_total", "normalize")
        )
        end_to_end = graph_rate / per_raw
        # CPU milliseconds each part spent per raw event that went all the way through: what the
        # machine's cores allow, independent of how busy the machine was
        cpu_ms = {
            part: (cpu_end[part] - cpu_start[part]) * 1000.0 / max(1.0, end_to_end * elapsed)
            for part in cpu_end
        }
        raw_in = max(1, topics_end.get("social.raw", 0) - topics_start.get("social.raw", 0))
        # Kafka records written per raw event produced, by topic: the stream's own message cost
        records_per_raw = {
            name: (end - topics_start.get(name, 0)) / raw_in
            for name, end in sorted(topics_end.items())
            if end - topics_start.get(name, 0) > 0
        }

        def window_rate(name: str, stage: str | None = None) -> float:
            if stage is None:
                return (window_end.get(name, 0.0) - window_start.get(name, 0.0)) / elapsed
            return (stage_total(window_end, name, stage) - stage_total(window_start, name, stage)) / elapsed

        result.update(
            # identity: commands sent to the resolver, profiles deferred (resolver backlog full),
            # commands the resolver applied
            identity_per_s={
                "sent": window_rate("groundswell_events_out_total", "identity"),
                "deferred": window_rate("groundswell_identity_deferred_total"),
                "resolved": window_rate("groundswell_events_in_total", "identity-resolver"),
            },
            # seconds from the source event's receive time to each stage's output (bucket bounds)
            stage_latency_p50_s={
                stage: histogram_quantile(window_start, window_end, stage, 0.5) for stage in LATENCY_STAGES
            },
            stage_latency_p99_s={
                stage: histogram_quantile(window_start, window_end, stage, 0.99) for stage in LATENCY_STAGES
            },
            seconds=elapsed,
            records_per_raw_event=records_per_raw,
            cpu_ms_per_raw_event=cpu_ms,
            raw_events_per_s=raw_rate,
            activities_per_raw_event=per_raw,
            end_to_end_raw_events_per_s=graph_rate / per_raw,
            activities_to_graph_per_s=graph_rate,
            stage_in_per_s=rates,
            alerts=len(window_latencies),
            alert_latency_p50_s=quantile(window_latencies, 0.5),
            alert_latency_p95_s=quantile(window_latencies, 0.95),
            influence_latency_p50_s=histogram_quantile(window_start, window_end, "influence", 0.5),
            influence_latency_p99_s=histogram_quantile(window_start, window_end, "influence", 0.99),
            ratio_to_ceiling=graph_rate / per_raw / ceiling_rate,
            gc_pauses=gc_pauses(window_start, window_end),
            producer_throttled_s=producer.throttled_s,
            producer_throttled_by=producer.throttled_by,
            dead_letters=sum(
                v for k, v in window_end.items() if k.startswith("groundswell_dead_letters_total")
            ),
        )
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        stop_spawned(graph)
        broker.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    source = f"paced at {args.rate:.0f}/s" if args.rate else "flat out"
    print(f"\nmachine: {describe()}")
    print(f"workers: {', '.join(roles)}; source: {source}")
    print("\n| measure | value |\n|---|---|")
    print(f"| ceiling: bare aiokafka consumer, same payloads | {ceiling_rate:,.0f} records/s |")
    print(
        f"| end to end: raw events all the way to the graph, {result['seconds']:.0f} s "
        f"| {result['end_to_end_raw_events_per_s']:,.0f} events/s |"
    )
    print(f"| raw events into normalize in the window | {result['raw_events_per_s']:,.0f} /s |")
    print(f"| activities per raw event | {result['activities_per_raw_event']:.2f} |")
    print(f"| activities written to the graph | {result['activities_to_graph_per_s']:,.0f} /s |")
    for stage, rate in result["stage_in_per_s"].items():
        print(f"| stage {stage} (in) | {rate:,.0f} /s |")
    ident = result["identity_per_s"]
    print(
        "| identity: commands sent / deferred (resolver backlog full) / applied | "
        f"{ident['sent']:,.1f} / {ident['deferred']:,.1f} / {ident['resolved']:,.1f} per s |"
    )
    print(f"| ratio end to end / ceiling | {result['ratio_to_ceiling']:.3f} |")
    print(
        f"| source-to-alert latency p50 / p95 ({result['alerts']} alerts) | "
        f"{result['alert_latency_p50_s'] * 1000:,.0f} ms / {result['alert_latency_p95_s'] * 1000:,.0f} ms |"
    )
    print(
        "| source event to updated influence p50 / p99 (histogram bucket bounds) | "
        f"{result['influence_latency_p50_s'] * 1000:,.0f} ms / "
        f"{result['influence_latency_p99_s'] * 1000:,.0f} ms |"
    )
    for q in ("p50", "p99"):
        print(
            f"| source event to each stage's output, {q} (bucket bounds) | "
            + ", ".join(f"{k} {v * 1000:,.0f} ms" for k, v in result[f"stage_latency_{q}_s"].items())
            + " |"
        )
    by = ", ".join(
        f"{t} {n}" for t, n in sorted(result["producer_throttled_by"].items(), key=lambda x: -x[1])
    )
    print(f"| producer paused by backpressure | {result['producer_throttled_s']:.1f} s ({by or 'never'}) |")
    for gen, p in sorted(result["gc_pauses"].items()):
        print(
            f"| Python GC in the workers, generation {gen}: collections / seconds in all / longest |"
            f" {p['count']:,.0f} / {p['seconds']:.2f} s / <= {p['longest_le_s'] * 1000:,.1f} ms |"
        )
    for part, ms in result["cpu_ms_per_raw_event"].items():
        print(f"| CPU per raw event end to end: {part.replace('_', ' ')} | {ms:.2f} ms |")
    total_ms = sum(result["cpu_ms_per_raw_event"].values())
    cores = os.cpu_count() or 1
    allowed = cores * 1000 / total_ms
    print(
        f"| CPU per raw event, all parts ({cores} cores allow at most {allowed:,.0f}/s) | {total_ms:.2f} ms |"
    )
    per_raw = result["records_per_raw_event"]
    print(f"| Kafka records written per raw event, all topics | {sum(per_raw.values()):.2f} |")
    for name, n in per_raw.items():
        print(f"| records per raw event: {name} | {n:.3f} |")
    print(f"\nraw numbers: {args.out}")
    print("median of one run; compare ratios measured side by side, not absolute times.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
