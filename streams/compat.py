"""Shims for two measured incompatibilities: aiokafka 0.14 with librdkafka's mock cluster, and
faust-streaming 0.15 with aiokafka 0.14.

1. SyncGroup on the mock.

When a second member joins a running group, the mock answers the follower's SyncGroup with
INVALID_REQUEST if it arrives before the leader's (a FIXME in librdkafka's mock handlers);
aiokafka has already asked to rejoin at that point, but then raises the error to the consumer,
and the Faust worker hangs in that state (tests/integration/test_broker_conformance.py: the
second worker never became ready). Real Kafka answers REBALANCE_IN_PROGRESS there, which aiokafka
handles by rejoining. The shim makes aiokafka treat the mock's answer the same way. It changes
nothing for any other error, and nothing on real Kafka, which never sends it here.

2. Faust's stream-health check (``verify_event_path``, run every few seconds for every assigned
partition) reads aiokafka's ``TopicPartitionState.position`` and handles ``None``; aiokafka 0.14
turned that property into an ``assert``. While a partition's position is being reset (a fetch
out of range: records the broker no longer holds, on the embedded broker or after retention on
Kafka) the assert fires and crashed the whole worker (measured in the end-to-end benchmark). The
check only logs slow-processing diagnostics: ``tolerate_unset_positions`` skips it for such a
partition until its position is set again.

3. Faust's fetch wait.

Faust creates its aiokafka consumer with ``fetch_max_wait_ms=1500``, not a setting. The mock
cluster holds every fetch that finds no records for that long, even when records arrive in the
meantime (Kafka answers at once): each consumer hop of the pipeline added ~0.75 s p50 and up to
1.5 s (measured). ``set_fetch_max_wait`` sets the wait of the consumers Faust creates from then on
(``Settings.consumer_fetch_max_wait_ms``).
"""

from __future__ import annotations

from typing import Any

from aiokafka import errors
from aiokafka.consumer import group_coordinator

_PATCHED = "_groundswell_sync_group_patch"
_PATCHED_POSITION = "_groundswell_position_patch"
_PATCHED_FETCH_WAIT = "_groundswell_fetch_wait_patch"
_fetch_max_wait_ms: int | None = None


def install() -> None:
    """Every shim of this module (idempotent)."""
    tolerate_mock_sync_group_invalid_request()
    tolerate_unset_positions()


def set_fetch_max_wait(ms: int) -> None:
    """Faust's worker consumers wait at most ``ms`` per fetch (idempotent; installs the patch)."""
    global _fetch_max_wait_ms
    if ms <= 0:
        raise ValueError(f"fetch max wait must be positive, not {ms}")
    _fetch_max_wait_ms = ms
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    if getattr(AIOKafkaConsumerThread, _PATCHED_FETCH_WAIT, False):
        return
    original = AIOKafkaConsumerThread._create_worker_consumer

    def create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        if _fetch_max_wait_ms is not None:
            consumer._fetch_max_wait_ms = _fetch_max_wait_ms  # read when the consumer starts
        return consumer

    AIOKafkaConsumerThread._create_worker_consumer = create_worker_consumer  # type: ignore[method-assign]
    setattr(AIOKafkaConsumerThread, _PATCHED_FETCH_WAIT, True)


def tolerate_unset_positions() -> None:
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    if getattr(AIOKafkaConsumerThread, _PATCHED_POSITION, False):
        return
    original = AIOKafkaConsumerThread.verify_event_path

    def verify_event_path(self: Any, now: float, tp: Any) -> Any:
        try:
            return original(self, now, tp)
        except AssertionError:  # aiokafka's position of a partition being reset: nothing to verify
            return None

    AIOKafkaConsumerThread.verify_event_path = verify_event_path  # type: ignore[method-assign]
    setattr(AIOKafkaConsumerThread, _PATCHED_POSITION, True)


def tolerate_mock_sync_group_invalid_request() -> None:
    cls = group_coordinator.CoordinatorGroupRebalance
    if getattr(cls, _PATCHED, False):
        return
    original = cls._send_sync_group_request

    async def send_sync_group_request(self: Any, request: Any) -> Any:
        try:
            return await original(self, request)
        except errors.KafkaError as e:
            if "InvalidRequestError" not in str(e):
                raise
            return None  # aiokafka already requested a rejoin; retry after its backoff

    cls._send_sync_group_request = send_sync_group_request
    setattr(cls, _PATCHED, True)
