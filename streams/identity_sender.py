"""Hands identity work to the one resolver from processes that are not it (the API, the CLI): records
to resolve and erasures on ``identity.commands``, audit events on ``identity.links``. The resolver
owner and its agents are in ``streams/identity_agent.py``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from groundswell.settings import TOPIC_IDENTITY
from identity.audit import AuditEvent
from identity.records import ProfileRecord
from streams.identity_commands import RESOLVER_KEY, TOPIC_IDENTITY_COMMANDS, Command


class CommandSender:
    """For processes that are not the resolver (the API, the CLI): hand records and erasures to the
    resolver owner through ``identity.commands``, and publish audit events on ``identity.links``.
    ``bootstrap`` may be a function (e.g. ``lambda: resolve_bootstrap(settings)``): the broker is
    then looked up on first use, so a process can start before the broker does."""

    def __init__(self, bootstrap: str | Callable[[], str], prefix: str = "") -> None:
        self._bootstrap = bootstrap
        self._producer_: Any = None
        self._commands = prefix + TOPIC_IDENTITY_COMMANDS
        self._links = prefix + TOPIC_IDENTITY

    @property
    def _producer(self) -> Any:
        if self._producer_ is None:
            import confluent_kafka

            address = self._bootstrap if isinstance(self._bootstrap, str) else self._bootstrap()
            self._producer_ = confluent_kafka.Producer(
                {
                    "bootstrap.servers": address,
                    "linger.ms": 5,
                    "partitioner": "murmur2_random",
                    "log_level": 3,
                }
            )
        return self._producer_

    def _flush(self) -> None:
        left = self._producer.flush(30)
        if left:
            raise RuntimeError(f"{left} identity record(s) not delivered to the broker")

    def _send(self, topic: str, items: Sequence[tuple[bytes, bytes]]) -> None:
        for key, value in items:
            self._producer.produce(topic, value, key)
            self._producer.poll(0)
        self._flush()

    async def _send_off_loop(self, topic: str, items: Sequence[tuple[bytes, bytes]]) -> None:
        """Finding the broker and flushing block: not on the event loop of an API or a worker."""
        import asyncio

        await asyncio.to_thread(self._send, topic, list(items))

    async def submit(self, records: Sequence[ProfileRecord], cause: str = "crm-import") -> None:
        commands = [Command("resolve", f"{cause}:{r.record_id}", record=r) for r in records]
        await self._send_off_loop(self._commands, [(RESOLVER_KEY, c.to_bytes()) for c in commands])

    async def forward_erasure(self, record_ids: Sequence[str]) -> None:
        commands = [
            Command("erase_record", f"forward:{rid}", record_id=rid, reason="erased elsewhere")
            for rid in record_ids
        ]
        await self._send_off_loop(self._commands, [(RESOLVER_KEY, c.to_bytes()) for c in commands])

    async def publish(self, events: Sequence[AuditEvent]) -> None:
        await self._send_off_loop(self._links, [(e.key, e.to_bytes()) for e in events])
