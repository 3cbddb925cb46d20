"""`groundswell source NAME ...`: one live source as its own process, with /metrics."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from prometheus_client import start_http_server

from groundswell.metrics import Metrics
from groundswell.settings import Settings
from sources.live.base import CursorStore, SourceMetrics, run_source
from sources.live.registry import SourceSpec
from streams.broker import resolve_bootstrap
from streams.produce import RawProducer

log = logging.getLogger(__name__)


def run_live_source(settings: Settings, spec: SourceSpec, args: argparse.Namespace) -> int:
    metrics = Metrics.create()
    live_metrics = SourceMetrics.create(metrics.registry)
    start_http_server(settings.source_metrics_port, addr="127.0.0.1", registry=metrics.registry)
    cursors = CursorStore(settings.data_dir / "cursors")
    source = spec.build(settings, args, cursors.load(spec.name))
    source.metrics = live_metrics  # connectors count their reconnects here
    producer = RawProducer(
        resolve_bootstrap(settings),
        settings.consumer_groups,
        metrics,
        max_lag=0,  # a live source cannot pause the network; the workers' lag is watched in Grafana
        partitions=settings.partitions,
        max_payload_bytes=settings.max_payload_bytes,
    )

    async def main() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, source.stop)
        return await run_source(source, producer.send, producer.flush, cursors, live_metrics)

    sent = asyncio.run(main())
    producer.close()
    log.info("source %s stopped after %d events", spec.name, sent)
    return 0
