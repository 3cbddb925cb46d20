"""The faust-streaming / aiokafka shim for partitions whose position is being reset."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.consumer.subscription_state import TopicPartitionState
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from streams import compat


async def test_aiokafka_asserts_on_an_unset_position_where_faust_expects_none() -> None:
    """The incompatibility itself: Faust's health check reads ``position`` and handles None,
    aiokafka 0.14 asserts instead (a partition being reset after a fetch out of range)."""
    state = TopicPartitionState(assignment=None)
    with pytest.raises(AssertionError):
        _ = state.position


async def test_the_health_check_skips_a_partition_whose_position_is_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[Any] = []

    def health_check(self: Any, now: float, tp: Any) -> Any:
        calls.append(tp)
        if tp == "resetting":
            _ = TopicPartitionState(assignment=None).position  # what aiokafka does mid-reset
        return "checked"

    monkeypatch.setattr(AIOKafkaConsumerThread, "verify_event_path", health_check)
    monkeypatch.delattr(AIOKafkaConsumerThread, "_groundswell_position_patch", raising=False)
    compat.tolerate_unset_positions()
    thread: Any = object.__new__(AIOKafkaConsumerThread)
    assert thread.verify_event_path(0.0, "resetting") is None
    assert thread.verify_event_path(0.0, "steady") == "checked"
    assert calls == ["resetting", "steady"]
    compat.tolerate_unset_positions()  # idempotent: not wrapped twice
    assert thread.verify_event_path(0.0, "steady") == "checked"
    assert calls == ["resetting", "steady", "steady"]


async def test_faust_worker_consumers_wait_the_configured_fetch_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import faust

    monkeypatch.delattr(AIOKafkaConsumerThread, "_groundswell_fetch_wait_patch", raising=False)
    monkeypatch.setattr(
        AIOKafkaConsumerThread, "_create_worker_consumer", AIOKafkaConsumerThread._create_worker_consumer
    )
    app = faust.App("compat-fetch-wait", broker="kafka://127.0.0.1:9")
    thread: Any = app.consumer._thread  # type: ignore[attr-defined]
    assert thread._create_worker_consumer(app.transport)._fetch_max_wait_ms == 1500  # Faust's own
    compat.set_fetch_max_wait(20)
    compat.set_fetch_max_wait(20)  # idempotent: not wrapped twice
    assert thread._create_worker_consumer(app.transport)._fetch_max_wait_ms == 20
    with pytest.raises(ValueError, match="positive"):
        compat.set_fetch_max_wait(0)
