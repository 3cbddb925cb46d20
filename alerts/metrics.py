"""Alert delivery metrics, registered once per registry (the worker's or the API's)."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from groundswell.metrics import LATENCY_BUCKETS

_lock = threading.Lock()
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, AlertMetrics] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class AlertMetrics:
    decisions: Counter  # labels: outcome (alerted, no_match, duplicate, cooldown)
    spikes: Counter  # labels: none
    #: seconds from the source event's receive time to the alert reaching a channel: this is the
    #: "source event to alert" latency per channel (kafka = emitted, sse = queued to clients,
    #: webhook = acknowledged by the receiver)
    source_to_channel: Histogram  # labels: channel
    dispatch_lag: Histogram  # seconds from emitted_at to the dispatcher reading it
    webhook_attempts: Counter  # labels: result (ok, http_4xx, http_5xx, error, refused, redirect)
    webhook_seconds: Histogram  # one attempt's duration
    webhook_dead_letters: Counter  # labels: reason
    webhook_inflight: Gauge
    ssrf_refusals: Counter  # labels: where (subscribe, deliver, connect)
    sse_clients: Gauge
    sse_dropped: Counter  # slow clients dropped
    bad_alerts: Counter  # records on crm.alerts that could not be read
    erased_withheld: Counter  # labels: channel (sse, webhook): alerts about an erased account held back
    erasure_feed_caught_up: Gauge  # 1 once the erasure feed has read the history (alerts flow)
    erasure_lookups: Counter  # labels: outcome (ok, error): the graph asked about older alerts' accounts

    @classmethod
    def for_registry(cls, registry: CollectorRegistry) -> AlertMetrics:
        with _lock:
            found = _by_registry.get(registry)
            if found is None:
                found = _by_registry[registry] = cls._create(registry)
            return found

    @classmethod
    def _create(cls, reg: CollectorRegistry) -> AlertMetrics:
        return cls(
            decisions=Counter(
                "groundswell_alert_decisions_total",
                "Posts evaluated by alert rules",
                ["outcome"],
                registry=reg,
            ),
            spikes=Counter("groundswell_alert_spikes_total", "Volume spike alerts", registry=reg),
            source_to_channel=Histogram(
                "groundswell_alert_source_to_channel_seconds",
                "Seconds from the source event's receive time to the alert on a channel",
                ["channel"],
                buckets=LATENCY_BUCKETS,
                registry=reg,
            ),
            dispatch_lag=Histogram(
                "groundswell_alert_dispatch_lag_seconds",
                "Seconds from an alert's emission to the dispatcher reading it",
                buckets=LATENCY_BUCKETS,
                registry=reg,
            ),
            webhook_attempts=Counter(
                "groundswell_webhook_attempts_total", "Webhook delivery attempts", ["result"], registry=reg
            ),
            webhook_seconds=Histogram(
                "groundswell_webhook_attempt_seconds",
                "Seconds per webhook attempt",
                buckets=LATENCY_BUCKETS,
                registry=reg,
            ),
            webhook_dead_letters=Counter(
                "groundswell_webhook_dead_letters_total",
                "Webhook deliveries given up (crm.alerts.deadletter)",
                ["reason"],
                registry=reg,
            ),
            webhook_inflight=Gauge(
                "groundswell_webhook_inflight", "Webhook deliveries in progress", registry=reg
            ),
            ssrf_refusals=Counter(
                "groundswell_webhook_ssrf_refusals_total",
                "Webhook URLs or addresses refused by the SSRF guard",
                ["where"],
                registry=reg,
            ),
            sse_clients=Gauge("groundswell_sse_clients", "Connected server-sent-event clients", registry=reg),
            sse_dropped=Counter(
                "groundswell_sse_dropped_clients_total",
                "SSE clients dropped for being too slow",
                registry=reg,
            ),
            bad_alerts=Counter(
                "groundswell_bad_alerts_total", "crm.alerts records that could not be read", registry=reg
            ),
            erased_withheld=Counter(
                "groundswell_alerts_erased_withheld_total",
                "Alerts about an account erased since they were made: dropped from the SSE replay "
                "buffer or not sent (sse), not delivered to webhooks (webhook: once an alert when it is "
                "read, once a subscription when its queued delivery or its retries stop)",
                ["channel"],
                registry=reg,
            ),
            erasure_feed_caught_up=Gauge(
                "groundswell_alerts_erasure_feed_caught_up",
                "1 once this API's erasure feed has read the recent identity.links history: no alert is "
                "delivered before",
                registry=reg,
            ),
            erasure_lookups=Counter(
                "groundswell_alerts_erasure_lookups_total",
                "Graph lookups of the accounts of alerts made before this API started (erased or not)",
                ["outcome"],
                registry=reg,
            ),
        )
