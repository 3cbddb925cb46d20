"""Delivers ``crm.alerts`` to webhooks and to the SSE hub (runs in the API process).

Two consumers, because the two channels need different semantics:

* webhooks: the shared group ``<app_id>-alert-webhooks`` (several API processes share the work);
  each record's deliveries run concurrently (bounded), and its offset is committed only once
  every matching subscription has been delivered or dead-lettered (the highest contiguous done
  offset per partition); a subscription that acknowledged an alert id (SQLite delivery log) is
  never sent it again, so a redelivery after a crash or rebalance is idempotent; a record that is
  not an alert goes to ``crm.alerts.deadletter``. A new group starts at the end of the topic.
* SSE: every process must see every alert, so it reads all partitions without a group, from the
  end at start-up, and never commits.

Erasure reaches both channels through ``alerts.erasures.ErasureFeed``: they deliver nothing until it
has read the recent erase events, and nothing about an erased account after that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import confluent_kafka
from confluent_kafka import TopicPartition

from alerts.erasures import ErasedLookup, ErasureFeed
from alerts.metrics import AlertMetrics
from alerts.schema import AlertHeader, ReadAlert, read_alerts
from alerts.sse import AlertHub
from alerts.subscriptions import Subscription, SubscriptionStore
from alerts.topic_reader import FETCH_WAIT_MS, assign_when_present, own_reader
from alerts.webhooks import TOPIC_ALERTS_DEADLETTER, WITHHELD, WebhookDeadLetter, WebhookSender
from groundswell.settings import TOPIC_ALERTS

log = logging.getLogger(__name__)

POLL_S = 0.05
BATCH = 500
#: delivery-log entries older than this are forgotten at start-up: a broker keeps alerts for days,
#: not longer, so an older alert id cannot be redelivered
DELIVERY_LOG_KEEP_S = 14 * 24 * 3600.0


@dataclass
class PartitionProgress:
    """Offsets read but not yet fully delivered; the committable point is below the first one."""

    pending: dict[int, int] = field(default_factory=dict)  # offset -> deliveries still running
    highest_read: int = -1
    committed: int = -1  # next offset to read, as last committed

    def read(self, offset: int, deliveries: int) -> None:
        self.highest_read = max(self.highest_read, offset)
        if deliveries:
            self.pending[offset] = deliveries

    def done(self, offset: int) -> None:
        left = self.pending.get(offset, 0) - 1
        if left <= 0:
            self.pending.pop(offset, None)
        else:
            self.pending[offset] = left

    def commit_point(self) -> int:
        """The next offset to consume after a restart: the first still pending, else past the end."""
        return min(self.pending) if self.pending else self.highest_read + 1


class AlertDispatcher:
    def __init__(
        self,
        bootstrap: str,
        app_id: str,
        metrics: AlertMetrics,
        hub: AlertHub | None = None,
        store: SubscriptionStore | None = None,
        sender: WebhookSender | None = None,
        concurrency: int = 32,
        clock: Callable[[], float] = time.time,
        erased_lookup: ErasedLookup | None = None,
    ) -> None:
        self._bootstrap = bootstrap
        self._app_id = app_id
        self._m = metrics
        self._hub = hub
        self._store = store
        self._sender = sender
        self._clock = clock
        self._concurrency = concurrency
        #: deliveries waiting for a worker; full means the consumer waits (backpressure)
        self._jobs: asyncio.Queue[tuple[Subscription, AlertHeader, bytes, int, int]] = asyncio.Queue(
            maxsize=concurrency * 20
        )
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._progress: dict[int, PartitionProgress] = {}
        self._producer: confluent_kafka.Producer | None = None
        self._dead_since_flush = 0
        self.sse_ready = asyncio.Event()
        self.webhooks_ready = asyncio.Event()
        #: what the channels know about erased accounts
        self.erasures = ErasureFeed(
            bootstrap, app_id, metrics, self._stopping, hub=hub, lookup=erased_lookup, clock=clock
        )
        self.delivered = 0
        self.dead_lettered = 0

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        if self._hub is not None or self._store is not None:
            self._tasks.append(asyncio.create_task(self.erasures.run(), name="alerts-erasures"))
        if self._hub is not None:
            self._tasks.append(asyncio.create_task(self._sse_loop(), name="alerts-sse"))
        if self._store is not None and self._sender is not None:
            self._tasks.append(asyncio.create_task(self._webhook_loop(), name="alerts-webhooks"))

    async def wait_ready(self) -> None:
        """Both feeds are assigned: an alert produced from now on reaches them. They deliver once
        the erasure feed has caught up (``erasures.caught_up``)."""
        waits = []
        if self._hub is not None:
            waits.append(self.sse_ready.wait())
        if self._store is not None and self._sender is not None:
            waits.append(self.webhooks_ready.wait())
        await asyncio.gather(*waits)

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    # -- SSE -----------------------------------------------------------------------------------
    async def _sse_loop(self) -> None:
        assert self._hub is not None
        consumer = own_reader(self._bootstrap, f"{self._app_id}-alert-sse")
        try:
            await asyncio.to_thread(assign_when_present, consumer, TOPIC_ALERTS, self._stopping.is_set)
            self.sse_ready.set()
            if not await self.erasures.known_before_start():
                return
            while not self._stopping.is_set():
                alerts = read_alerts(await asyncio.to_thread(consumer.consume, BATCH, POLL_S))
                if not await self.erasures.ask_about_older(alerts):
                    return
                now = self._clock()
                for alert in alerts:
                    header, value = alert.header, alert.value
                    if header is None:
                        continue  # counted and dead-lettered by the webhook loop
                    if self.erasures.is_erased(header):
                        self._m.erased_withheld.labels("sse").inc()
                        continue
                    self._hub.publish(value, header)
                    self._m.source_to_channel.labels("sse").observe(max(0.0, now - header.received_at))
        except Exception:
            log.exception("alert SSE feed stopped")
            raise
        finally:
            await asyncio.to_thread(consumer.close)

    # -- webhooks --------------------------------------------------------------------------------
    async def _webhook_loop(self) -> None:
        if not await self.erasures.known_before_start():
            return
        consumer = confluent_kafka.Consumer(
            {
                "bootstrap.servers": self._bootstrap,
                "group.id": f"{self._app_id}-alert-webhooks",
                "enable.auto.commit": False,
                "auto.offset.reset": "latest",
                "fetch.wait.max.ms": FETCH_WAIT_MS,
                # as the workers (streams.faust_config): a restarted API's member replaces its old
                # one after 10 s, not librdkafka's 45 s (the embedded broker ignores a member leaving)
                "session.timeout.ms": 10_000,
                "heartbeat.interval.ms": 1_000,
                "log_level": 3,
            }
        )
        self._producer = confluent_kafka.Producer(
            {"bootstrap.servers": self._bootstrap, "linger.ms": 5, "log_level": 3}
        )
        loop = asyncio.get_running_loop()

        def on_assign(c: confluent_kafka.Consumer, partitions: list[TopicPartition]) -> None:
            committed = c.committed(partitions, timeout=10)
            for tp in committed:
                if tp.offset < 0:  # a new group: start at the end, not at the topic's history
                    _, tp.offset = c.get_watermark_offsets(tp, timeout=10)
            c.assign(committed)
            for tp in committed:
                self._progress[tp.partition] = PartitionProgress(
                    committed=tp.offset, highest_read=tp.offset - 1
                )
            loop.call_soon_threadsafe(self.webhooks_ready.set)

        def on_revoke(c: confluent_kafka.Consumer, partitions: list[TopicPartition]) -> None:
            self._commit_sync(c)
            for tp in partitions:
                self._progress.pop(tp.partition, None)

        assert self._store is not None
        forgotten = self._store.forget_deliveries_before(self._clock() - DELIVERY_LOG_KEEP_S)
        if forgotten:
            log.info(
                "forgot %d delivery-log entries older than %.0f days", forgotten, DELIVERY_LOG_KEEP_S / 86400
            )
        consumer.subscribe([TOPIC_ALERTS], on_assign=on_assign, on_revoke=on_revoke)
        last_commit = time.monotonic()
        workers = [asyncio.create_task(self._work()) for _ in range(self._concurrency)]
        try:
            while not self._stopping.is_set():
                alerts = read_alerts(await asyncio.to_thread(consumer.consume, BATCH, POLL_S))
                if not await self.erasures.ask_about_older(alerts):
                    break  # stopping: these records are not committed, and are read again next time
                for alert in alerts:
                    await self._dispatch(alert)
                if time.monotonic() - last_commit >= 0.2 or not alerts:
                    await asyncio.to_thread(self._commit_sync, consumer)
                    last_commit = time.monotonic()
            await self._jobs.join()  # queued deliveries finish (in success or a dead letter)
            await asyncio.to_thread(self._commit_sync, consumer)
        except Exception:
            log.exception("alert webhook dispatcher stopped")
            raise
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            await asyncio.to_thread(consumer.close)
            producer, self._producer = self._producer, None
            await asyncio.to_thread(producer.flush, 10)

    async def _work(self) -> None:
        while True:
            job = await self._jobs.get()
            try:
                await self._deliver(*job)
            finally:
                self._jobs.task_done()

    async def _dispatch(self, alert: ReadAlert) -> None:
        partition, offset, header, value = alert.partition, alert.offset, alert.header, alert.value
        progress = self._progress.setdefault(partition, PartitionProgress())
        if header is None:
            self._m.bad_alerts.inc()
            self._dead_letter(
                WebhookDeadLetter("", "", "", "bad_alert", 0, None, alert.error, self._clock(), value)
            )
            progress.read(offset, 0)
            return
        if self.erasures.is_erased(header):
            self._m.erased_withheld.labels("webhook").inc()
            progress.read(offset, 0)
            return
        now = self._clock()
        self._m.dispatch_lag.observe(max(0.0, now - header.emitted_at))
        assert self._store is not None
        todo: list[Subscription] = [
            s
            for s in self._store.matching(header)
            if self._store.delivery_status(s.id, header.alert_id) not in ("delivered", "dead", WITHHELD)
        ]
        progress.read(offset, len(todo))
        for sub in todo:
            await self._jobs.put((sub, header, value, partition, offset))

    async def _deliver(
        self, sub: Subscription, header: AlertHeader, body: bytes, partition: int, offset: int
    ) -> None:
        assert self._sender is not None and self._store is not None
        try:
            # an erasure read while this waited in the queue or between retries stops it, so that
            # neither a retry nor a dead letter carries the erased account's alert on
            outcome = await self._sender.deliver(
                sub.url, sub.secret, header.alert_id, body, withhold=lambda: self.erasures.is_erased(header)
            )
            if outcome.reason == WITHHELD or (not outcome.delivered and self.erasures.is_erased(header)):
                self._m.erased_withheld.labels("webhook").inc()
                self._store.record_delivery(sub.id, header.alert_id, WITHHELD, outcome.attempts)
            elif outcome.delivered:
                # SQLite in WAL mode without fsync per commit: tens of microseconds, cheaper inline
                # than a thread hop
                self._store.record_delivery(sub.id, header.alert_id, "delivered", outcome.attempts)
                self.delivered += 1
                self._m.source_to_channel.labels("webhook").observe(
                    max(0.0, self._clock() - header.received_at)
                )
            else:
                self._dead_letter(
                    WebhookDeadLetter(
                        header.alert_id,
                        sub.id,
                        sub.url,
                        outcome.reason,
                        outcome.attempts,
                        outcome.last_status,
                        outcome.last_error,
                        self._clock(),
                        body,
                    )
                )
                self._store.record_delivery(sub.id, header.alert_id, "dead", outcome.attempts)
        except Exception:
            # never lose the record: it stays pending and is redelivered after a restart
            log.exception("delivery of %s to %s failed unexpectedly", header.alert_id, sub.id)
            return
        progress = self._progress.get(partition)
        if progress is not None:
            progress.done(offset)

    def _dead_letter(self, dl: WebhookDeadLetter) -> None:
        assert self._producer is not None
        self._producer.produce(TOPIC_ALERTS_DEADLETTER, key=dl.alert_id.encode(), value=dl.to_bytes())
        self._producer.poll(0)
        self._dead_since_flush += 1
        self.dead_lettered += 1
        self._m.webhook_dead_letters.labels(dl.reason).inc()

    def _commit_sync(self, consumer: confluent_kafka.Consumer) -> None:
        """Commit what is fully handled; dead letters are flushed first so none is lost."""
        offsets = []
        for partition, progress in list(self._progress.items()):
            point = progress.commit_point()
            if point > progress.committed:
                offsets.append(TopicPartition(TOPIC_ALERTS, partition, point))
        if not offsets:
            return
        if self._dead_since_flush and self._producer is not None:
            self._producer.flush(10)
            self._dead_since_flush = 0
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except confluent_kafka.KafkaException as e:
            log.warning("alert offsets not committed (will be retried): %s", e)
            return
        for tp in offsets:
            kept = self._progress.get(tp.partition)
            if kept is not None:
                kept.committed = max(kept.committed, tp.offset)
