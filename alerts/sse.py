"""Server-sent events: an in-process fan-out of alerts to connected clients.

* Each client has a bounded queue; a client whose queue is full is dropped (counted) rather than
  slowing the others or growing memory - it reconnects and resumes.
* Event ids are ``<hub epoch>-<sequence>``; a recent-alerts ring buffer serves ``Last-Event-ID``
  resumes. When the id is unknown (the API restarted, or it fell out of the buffer), the client is
  sent an ``event: reset`` and then the whole buffer: delivery is at least once, and the alert id
  in each event's data lets a client de-duplicate.
* A comment line every ``heartbeat_s`` keeps proxies from closing an idle stream.
* ``forget`` drops the buffered alerts about erased accounts (the dispatcher calls it for every
  erasure on ``identity.links``): a resume does not send them again.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field

import orjson

from alerts.metrics import AlertMetrics
from alerts.schema import AlertHeader
from alerts.subscriptions import AlertFilter

RETRY_MS = 2000
DROPPED = b'event: dropped\ndata: {"reason": "too slow: reconnect with Last-Event-ID"}\n\n'


@dataclass(frozen=True, slots=True)
class SseEvent:
    seq: int
    id: str
    data: bytes  # the alert record, one line of JSON
    header: AlertHeader

    def encode(self) -> bytes:
        return b"id: " + self.id.encode() + b"\nevent: alert\ndata: " + self.data + b"\n\n"


@dataclass(eq=False)
class SseClient:
    filter: AlertFilter
    queue: asyncio.Queue[SseEvent | None]
    dropped: bool = False
    connected_at: float = field(default_factory=time.time)


class AlertHub:
    def __init__(self, metrics: AlertMetrics, queue_size: int = 2048, buffer_size: int = 1000) -> None:
        self._m = metrics
        self._queue_size = queue_size
        self._buffer: deque[SseEvent] = deque(maxlen=buffer_size)
        self._last_seq = 0
        self.epoch = format(time.time_ns() // 1_000_000, "x")
        self._clients: set[SseClient] = set()

    @property
    def clients(self) -> int:
        return len(self._clients)

    def publish(self, data: bytes, header: AlertHeader) -> SseEvent:
        """Called on the event loop (by the dispatcher): never blocks, whatever the clients do."""
        self._last_seq += 1
        seq = self._last_seq
        event = SseEvent(seq, f"{self.epoch}-{seq}", data.replace(b"\n", b""), header)
        self._buffer.append(event)
        for client in list(self._clients):
            if not client.filter.matches(header):
                continue
            try:
                client.queue.put_nowait(event)
            except asyncio.QueueFull:
                self._drop(client)
        return event

    def forget(self, account_ids: Collection[str]) -> int:
        """Drop the buffered alerts whose author is one of ``account_ids``; -> how many. (An alert
        already queued to a connected client is sent: it left before the erasure was known.)"""
        kept = [e for e in self._buffer if e.header.account_id not in account_ids]
        dropped = len(self._buffer) - len(kept)
        if dropped:
            self._buffer = deque(kept, maxlen=self._buffer.maxlen)
        return dropped

    def _drop(self, client: SseClient) -> None:
        client.dropped = True
        self._clients.discard(client)
        self._m.sse_dropped.inc()
        self._m.sse_clients.set(len(self._clients))
        while not client.queue.empty():
            client.queue.get_nowait()
        client.queue.put_nowait(None)  # wakes the stream, which tells the client and closes

    def backlog(self, last_event_id: str | None, flt: AlertFilter) -> tuple[bool, list[SseEvent]]:
        """(reset?, events to replay) for a client resuming after ``last_event_id``."""
        if not last_event_id:
            return False, []
        epoch, _, seq_text = last_event_id.strip().rpartition("-")
        events = [e for e in self._buffer if flt.matches(e.header)]
        try:
            seq = int(seq_text)
        except ValueError:
            return True, events
        oldest = self._buffer[0].seq if self._buffer else self._last_seq + 1
        if epoch != self.epoch or seq < oldest - 1 or seq > self._last_seq:
            return True, events
        return False, [e for e in events if e.seq > seq]

    def connect(self, flt: AlertFilter, last_event_id: str | None = None) -> tuple[SseClient, bytes]:
        """Register a client; returns it with the bytes to send first (retry hint, reset, backlog).
        Registration and backlog happen together on the loop, so no alert falls between them."""
        client = SseClient(flt, asyncio.Queue(maxsize=self._queue_size))
        reset, events = self.backlog(last_event_id, flt)
        preamble = [f"retry: {RETRY_MS}\n\n".encode()]
        if reset:
            notice = orjson.dumps(
                {"reason": "resume point unknown: replaying recent alerts", "count": len(events)}
            )
            preamble.append(b"event: reset\ndata: " + notice + b"\n\n")
        preamble.extend(e.encode() for e in events)
        self._clients.add(client)
        self._m.sse_clients.set(len(self._clients))
        return client, b"".join(preamble)

    def disconnect(self, client: SseClient) -> None:
        self._clients.discard(client)
        self._m.sse_clients.set(len(self._clients))

    async def stream(self, client: SseClient, preamble: bytes, heartbeat_s: float) -> AsyncIterator[bytes]:
        try:
            yield preamble
            while True:
                try:
                    event = await asyncio.wait_for(client.queue.get(), heartbeat_s)
                except TimeoutError:
                    yield b": heartbeat\n\n"
                    continue
                if event is None:
                    yield DROPPED
                    return
                # send everything already queued as one chunk: one write per burst, not per alert
                chunk = [event.encode()]
                while not client.queue.empty():
                    more = client.queue.get_nowait()
                    if more is None:
                        yield b"".join(chunk) + DROPPED
                        return
                    chunk.append(more.encode())
                yield b"".join(chunk)
        finally:
            self.disconnect(client)
