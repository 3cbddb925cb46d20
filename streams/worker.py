"""`groundswell worker`: one Faust worker process with its own /metrics."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import faust
from prometheus_client import start_http_server

from groundswell.heap import freeze_long_lived_heaps, watch_collections
from groundswell.metrics import Metrics
from groundswell.settings import Settings
from groundswell.stalls import dump_stacks_on_signal
from streams.app import create_app
from streams.broker import resolve_bootstrap
from streams.forked import blas_on_one_thread


def spawn_worker(settings: Settings, log_path: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """`groundswell worker` as a child process with exactly these settings (tests, benchmarks)."""
    env = {**os.environ, **settings.to_env()}
    if cwd is not None:
        env["PYTHONPATH"] = str(cwd)
    return subprocess.Popen(
        [sys.executable, "-m", "groundswell.cli", "worker"],
        cwd=cwd,
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
    )


def run_worker(settings: Settings) -> None:
    blas_on_one_thread()  # before any BLAS call: the ranker forks its snapshots (streams.forked)
    bootstrap = resolve_bootstrap(settings)
    metrics = Metrics.create()
    watch_collections(metrics)
    freeze_long_lived_heaps(settings.gc_freeze)  # a long-running process: freeze after large loads
    dump_stacks_on_signal()  # kill -s RTMIN+1: every thread's stack to the log (groundswell.stalls)
    start_http_server(
        settings.worker_metrics_port,
        addr="127.0.0.1" if settings.embedded_broker else "0.0.0.0",
        registry=metrics.registry,
    )
    app = create_app(settings, bootstrap, metrics)
    logging.getLogger(__name__).info("worker on %s, metrics on :%d", bootstrap, settings.worker_metrics_port)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=False)
    worker.execute_from_commandline()
