"""A shim for one measured incompatibility between aiokafka 0.14 and librdkafka's mock cluster.

When a second member joins a running group, the mock answers the follower's SyncGroup with
INVALID_REQUEST if it arrives before the leader's (a FIXME in librdkafka's mock handlers);
aiokafka has already asked to rejoin at that point, but then raises the error to the consumer,
and the Faust worker hangs in that state (tests/integration/test_broker_conformance.py: the
second worker never became ready). Real Kafka answers REBALANCE_IN_PROGRESS there, which aiokafka
handles by rejoining. The shim makes aiokafka treat the mock's answer the same way. It changes
nothing for any other error, and nothing on real Kafka, which never sends it here.
"""

from __future__ import annotations

from typing import Any

from aiokafka import errors
from aiokafka.consumer import group_coordinator

_PATCHED = "_groundswell_sync_group_patch"


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
