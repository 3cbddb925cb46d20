"""Prometheus metrics, one set per process, built on a registry that is passed in.

Names are part of the ops contract (Grafana dashboard in deploy/grafana): change them only with
the dashboard and the CHANGELOG.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

# no `*_created` series: they double the exposition and no dashboard reads them
disable_created_metrics()  # type: ignore[no-untyped-call]

#: finer from 50 to 250 ms, around #5's goal of 100 ms from a source event to its updated influence
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
#: a young collection takes microseconds, a full one over a large heap hundreds of milliseconds
GC_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2000)


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    events_in: Counter  # labels: stage, source
    events_out: Counter  # labels: stage, source
    dead_letters: Counter  # labels: stage, reason
    events_repeated: Counter  # labels: stage  (seen before: redelivered or replayed, skipped)
    stage_latency: Histogram  # labels: stage  (seconds from the event's receive time to the stage's output)
    graph_batch_size: Histogram
    graph_write_seconds: Histogram
    graph_write_retries: Counter
    graph_write_failures: Counter  # labels: writer (scores, identity); given up after retries
    identity_deferred: Counter  # new/changed profiles not sent while the resolver's backlog is full
    identity_backlog: Gauge  # commands the resolver has not applied yet
    consumer_lag: Gauge  # labels: topic, partition
    alerts: Counter  # labels: rule
    source_events: Counter  # labels: source  (produced to social.raw)
    snapshot_seconds: Histogram  # labels: part ("loop": the event loop held; "total")
    kcore_backlog: Gauge  # new ties whose core-number update the ranker has deferred
    gc_pause: GcPauseHistogram  # labels: generation  (Python's cyclic collector; groundswell.heap)
    gc_frozen: Gauge  # objects moved out of the collector's way (gc.freeze)
    stalls: Counter  # labels: call  (calls off the loop not finished after a while; groundswell.stalls)
    table_entries: Gauge  # labels: table  (in this worker's memory, after its last retention sweep)
    table_entries_expired: Counter  # labels: table  (not written for the retention; streams.retention)
    erased_withheld: Counter  # labels: what  (account, post, mention, profile: held back, account erased)
    erased_forgotten: Counter  # labels: what  (intent_vector, identity_seen, resolver_profile: dropped)
    erasures_followed: Counter  # erase events a worker read (streams.erasure_follower)

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> Metrics:
        reg = registry if registry is not None else CollectorRegistry()
        return cls(
            registry=reg,
            events_in=Counter(
                "groundswell_events_in_total", "Events consumed by a stage", ["stage", "source"], registry=reg
            ),
            events_out=Counter(
                "groundswell_events_out_total", "Events emitted by a stage", ["stage", "source"], registry=reg
            ),
            dead_letters=Counter(
                "groundswell_dead_letters_total",
                "Inputs sent to social.deadletter",
                ["stage", "reason"],
                registry=reg,
            ),
            events_repeated=Counter(
                "groundswell_events_repeated_total",
                "Events a stage had already applied (redelivered or replayed), skipped",
                ["stage"],
                registry=reg,
            ),
            stage_latency=Histogram(
                "groundswell_stage_latency_seconds",
                "Seconds from the source's receive time to the end of a stage",
                ["stage"],
                buckets=LATENCY_BUCKETS,
                registry=reg,
            ),
            graph_batch_size=Histogram(
                "groundswell_graph_batch_size",
                "Activities per graph write batch",
                buckets=BATCH_BUCKETS,
                registry=reg,
            ),
            graph_write_seconds=Histogram(
                "groundswell_graph_write_seconds",
                "Seconds per graph write batch (one transaction)",
                buckets=LATENCY_BUCKETS,
                registry=reg,
            ),
            graph_write_retries=Counter(
                "groundswell_graph_write_retries_total", "Graph write batches retried", registry=reg
            ),
            graph_write_failures=Counter(
                "groundswell_graph_write_failures_total",
                "Graph writes that failed after the store's retries and wait to be redone",
                ["writer"],
                registry=reg,
            ),
            identity_deferred=Counter(
                "groundswell_identity_deferred_total",
                "New or changed profiles left for their next activity while the resolver's backlog is full",
                registry=reg,
            ),
            identity_backlog=Gauge(
                "groundswell_identity_backlog",
                "Identity commands the resolver has not applied yet (its consumer group's lag)",
                registry=reg,
            ),
            consumer_lag=Gauge(
                "groundswell_consumer_lag",
                "Records between the committed/processed offset and the partition end",
                ["topic", "partition"],
                registry=reg,
            ),
            alerts=Counter(
                "groundswell_alerts_total", "Alerts emitted to crm.alerts", ["rule"], registry=reg
            ),
            source_events=Counter(
                "groundswell_source_events_total",
                "Raw events produced to social.raw",
                ["source"],
                registry=reg,
            ),
            kcore_backlog=Gauge(
                "groundswell_influence_kcore_backlog",
                "New interaction ties whose core-number update the ranker has deferred to idle time",
                registry=reg,
            ),
            gc_pause=GcPauseHistogram(reg),
            gc_frozen=Gauge(
                "groundswell_gc_frozen_objects",
                "Long-lived objects frozen out of the garbage collector's way (gc.freeze)",
                registry=reg,
            ),
            stalls=Counter(
                "groundswell_stalls",
                "Calls a stage handed to a thread that had not finished after stall_warning_seconds",
                ["call"],
                registry=reg,
            ),
            table_entries=Gauge(
                "groundswell_table_entries",
                "Entries of a worker's table in its memory, after its last retention sweep",
                ["table"],
                registry=reg,
            ),
            table_entries_expired=Counter(
                "groundswell_table_entries_expired",
                "Table entries deleted because they were not written for state_retention_seconds",
                ["table"],
                registry=reg,
            ),
            erased_withheld=Counter(
                "groundswell_erased_withheld",
                "What was not written or scored because its account was erased: account (its fields "
                "not written again), post (written without its text), mention (not scored or alerted), "
                "profile (not sent for resolution: the graph said erased, the intake had not been told)",
                ["what"],
                registry=reg,
            ),
            erased_forgotten=Counter(
                "groundswell_erased_forgotten",
                "Data this process kept of an erased account, dropped at the erasure: intent_vector "
                "(the priority stage's embeddings of its texts), identity_seen (the intake's hashes of "
                "its profile fields, replaced by the erased marker), resolver_profile (its profile, "
                "vector and embeddings in a resolver this worker is not running)",
                ["what"],
                registry=reg,
            ),
            erasures_followed=Counter(
                "groundswell_erasures_followed",
                "Erase events on identity.links a worker read to drop what it kept of the erased accounts "
                "(written since it started; those read back at its start are acted on, not counted)",
                registry=reg,
            ),
            snapshot_seconds=Histogram(
                "groundswell_influence_snapshot_seconds",
                "Seconds an influence engine snapshot took: in total, and the event loop held",
                ["part"],
                buckets=LATENCY_BUCKETS,
                registry=reg,
            ),
        )


class GcPauseHistogram(Collector):
    """``groundswell_gc_pause_seconds{generation}``, fed from inside the garbage collector.

    A collection can start at any allocation, in any thread, also while that thread holds one of
    prometheus-client's locks (they are not reentrant: a ``labels()`` creating a child, a scrape
    copying the children). A ``Histogram`` observed from the collector's callback then waits for
    its own lock forever, and every thread that touches that metric after it: a worker froze that
    way in a benchmark run. So ``observe`` takes no lock: it adds to plain lists under the GIL (a
    collection never starts inside another one), and a scrape reads them as they are."""

    NAME = "groundswell_gc_pause_seconds"
    DOC = "Seconds each collection of Python's cyclic garbage collector stopped the process"

    def __init__(self, registry: CollectorRegistry, buckets: tuple[float, ...] = GC_BUCKETS) -> None:
        self._bounds = buckets
        self._counts = {gen: [0] * (len(buckets) + 1) for gen in ("0", "1", "2")}
        self._sums = dict.fromkeys(self._counts, 0.0)
        registry.register(self)

    def observe(self, generation: str, seconds: float) -> None:
        counts = self._counts.get(generation)
        if counts is None:  # a generation this Python does not have: not recorded
            return
        counts[bisect.bisect_left(self._bounds, seconds)] += 1
        self._sums[generation] += seconds

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.NAME, self.DOC, labels=["generation"])
        for gen, counts in self._counts.items():
            seen = list(counts)
            cumulative, buckets = 0, []
            for bound, n in zip((*self._bounds, float("inf")), seen, strict=True):
                cumulative += n
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(cumulative)))
            family.add_metric([gen], buckets, self._sums[gen])
        yield family
