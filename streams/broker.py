"""The embedded Kafka-protocol broker: librdkafka's mock cluster, hosted by this process.

Chosen over Tansu by the checks in ../shared/DESIGN.md ("Embedded broker") and tests/integration:
exact table restores (Tansu's end offsets break them), fast group joins, two-worker take-over.
What it is not: durable (memory only, gone with the process) and not unbounded: librdkafka keeps
at most about 5 MB of record batches per partition and drops the oldest beyond that (measured,
see README "Embedded broker"), so its memory is bounded and a consumer must not lag further
than that; the producers in this project throttle on the consumers' lag (``streams.backpressure``)
and the graph store is the system of record.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from types import FrameType

import confluent_kafka

from groundswell.settings import Settings

log = logging.getLogger(__name__)

#: librdkafka's mock cluster creates every auto-created topic with this many partitions
MOCK_PARTITIONS = 4


class EmbeddedBroker:
    """A one-broker Kafka mock cluster living as long as this object's process."""

    def __init__(self) -> None:
        self._handle: confluent_kafka.Producer | None = None
        self.bootstrap_servers = ""

    def start(self) -> str:
        self._handle = confluent_kafka.Producer(
            {"test.mock.num.brokers": 1, "bootstrap.servers": "", "log_level": 3}
        )
        metadata = self._handle.list_topics(timeout=10)
        broker = next(iter(metadata.brokers.values()))
        self.bootstrap_servers = f"{broker.host}:{broker.port}"
        log.info("embedded broker listening on %s", self.bootstrap_servers)
        return self.bootstrap_servers

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.flush(1)
            self._handle = None


def write_address(path: Path, bootstrap: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(bootstrap)
    tmp.replace(path)


def resolve_bootstrap(settings: Settings, wait_s: float = 30.0) -> str:
    """External Kafka from settings, else the embedded broker's address (waiting for it to appear)."""
    if settings.kafka_bootstrap_servers:
        return settings.kafka_bootstrap_servers
    deadline = time.monotonic() + wait_s
    path = settings.broker_address_file
    while True:
        if path.exists():
            address = path.read_text().strip()
            if address and broker_reachable(address):
                return address
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"no embedded broker: {path} missing or stale. Start one with `groundswell broker` "
                "(or `groundswell up`), or set GROUNDSWELL_KAFKA_BOOTSTRAP_SERVERS."
            )
        time.sleep(0.2)


def broker_reachable(bootstrap: str, timeout: float = 2.0) -> bool:
    import socket

    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def serve_broker(settings: Settings) -> None:
    """`groundswell broker`: host the embedded broker until SIGINT/SIGTERM."""
    broker = EmbeddedBroker()
    bootstrap = broker.start()
    write_address(settings.broker_address_file, bootstrap)
    print(f"embedded broker ready on {bootstrap} (address in {settings.broker_address_file})", flush=True)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    stop.wait()
    settings.broker_address_file.unlink(missing_ok=True)
    broker.stop()
