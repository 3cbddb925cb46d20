"""What the alert channels know about erased accounts (identity.erasure), in every API process.

A consumer reads the ``erase`` audit events on ``identity.links`` (no group): the accounts they name
are dropped from the SSE replay buffer, and an alert about one of them that the dispatcher reads
later (made before the erasure, still on its way) is neither published to SSE clients nor delivered
to webhooks (``groundswell_alerts_erased_withheld_total{channel}``). After a restart:
- the feed first reads the latest ``ERASURE_HISTORY`` records a partition, and the channels deliver
  nothing until it has (``caught_up``): alerts still in the pipeline when the API started meet the
  erasures just before it;
- alerts made before the start (a webhook backlog) may be about accounts erased longer ago than the
  topic still holds (the embedded broker keeps a few thousand records a partition): with an
  ``ErasedLookup`` (the API passes the graph's tombstones) their accounts are looked up before they
  are delivered, and nothing is delivered while the graph does not answer.
The latest ``ERASED_KEEP`` erased accounts are remembered. Upstream, the priority stage withholds
later mentions by an erased account, so no new alert is made about it. An alert that reached a
channel before the erasure is the receiver's to erase.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable

import confluent_kafka
import orjson
from confluent_kafka import TopicPartition

from alerts.metrics import AlertMetrics
from alerts.schema import Alert, AlertHeader, AlertKind, ErasureNotice, ReadAlert, Severity, stable_id
from alerts.sse import AlertHub
from alerts.topic_reader import assign_when_present, own_reader
from groundswell.settings import TOPIC_IDENTITY
from identity.audit import AuditAction, AuditEvent

log = logging.getLogger(__name__)

#: which of these accounts were erased (the graph's tombstones: ``graph.scores.erased_among``)
ErasedLookup = Callable[[list[str]], Awaitable[Iterable[str]]]
#: the latest identity.links records a partition read at start-up, before any alert is delivered
#: (older erasures: ``ErasedLookup``)
ERASURE_HISTORY = 50_000
#: erased accounts remembered (the latest): alerts about them still on their way are held back
ERASED_KEEP = 100_000
BATCH = 500
POLL_S = 0.05
#: the rule name of erasure notices (subscription filters do not apply to them)
ERASURE_RULE = "erasure"


def erase_event(value: bytes | None) -> AuditEvent | None:
    """The ``identity.audit.AuditEvent`` with action ``erase`` in an ``identity.links`` record; None
    for any other record, a malformed one included."""
    if value is None or b'"erase"' not in value:
        return None  # most records are links and merges: no JSON parse for them
    try:
        raw = orjson.loads(value)
        if not isinstance(raw, dict) or not isinstance(raw.get("record_ids"), list):
            return None
        event = AuditEvent.from_dict(raw)
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        return None
    return event if event.action is AuditAction.ERASE else None


def erased_accounts(value: bytes | None) -> list[str]:
    """The accounts an ``identity.links`` record erases; none for any other record."""
    event = erase_event(value)
    return _named(event) if event else []


def _named(event: AuditEvent) -> list[str]:
    return [r for r in event.record_ids if isinstance(r, str) and r]


def erasure_alert(event: AuditEvent, now: float) -> Alert | None:
    """The ``erasure`` alert that tells every subscriber to erase what earlier alerts said about
    these accounts; one id per erase event, so a replay repeats it under the same id."""
    accounts = tuple(_named(event))
    if not accounts:
        return None  # erasing an erased person again names no record
    return Alert(
        alert_id=stable_id("erasure", event.id),
        kind=AlertKind.ERASURE,
        rule=ERASURE_RULE,
        severity=Severity.HIGH,
        emitted_at=now,
        received_at=event.at,
        subject_id=event.person_id or accounts[0],
        reasons=(f"erased: {event.reason}" if event.reason else "erased",),
        erasure=ErasureNotice(event.id, accounts, event.person_id, event.at, event.reason),
    )


class ErasureFeed:
    def __init__(
        self,
        bootstrap: str,
        app_id: str,
        metrics: AlertMetrics,
        stopping: asyncio.Event,
        hub: AlertHub | None = None,
        lookup: ErasedLookup | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._bootstrap = bootstrap
        self._app_id = app_id
        self._m = metrics
        self._stopping = stopping
        self._hub = hub
        self._lookup = lookup
        self._clock = clock
        self._started_at = clock()
        self._erased: OrderedDict[str, None] = OrderedDict()
        #: assigned (the latest history of its topic first)
        self.ready = asyncio.Event()
        #: every erase event of that history read: the channels deliver nothing before this
        self.caught_up = asyncio.Event()
        #: the identity.links records read before it caught up
        self.history_read = 0

    @property
    def known(self) -> int:
        """How many erased accounts are remembered."""
        return len(self._erased)

    def is_erased(self, header: AlertHeader) -> bool:
        return header.account_id is not None and header.account_id in self._erased

    def note(self, account_ids: Iterable[str]) -> int:
        """Remember erased accounts (the latest ``ERASED_KEEP``) and drop their buffered SSE alerts;
        -> how many alerts were dropped."""
        ids = list(account_ids)
        for account in ids:
            self._erased[account] = None
            self._erased.move_to_end(account)
        while len(self._erased) > ERASED_KEEP:
            self._erased.popitem(last=False)
        dropped = self._hub.forget(set(ids)) if self._hub is not None and ids else 0
        if dropped:
            self._m.erased_withheld.labels("sse").inc(dropped)
        return dropped

    def _mark_caught_up(self) -> None:
        self.caught_up.set()
        self._m.erasure_feed_caught_up.set(1)

    async def known_before_start(self) -> bool:
        """Wait until the feed has read the erase events written before it started; -> False when
        the dispatcher stops first."""
        if not self.caught_up.is_set():
            log.info("alerts wait for the erasure feed to read identity.links")
            waits = [asyncio.create_task(e.wait()) for e in (self.caught_up, self._stopping)]
            _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
        return self.caught_up.is_set()

    async def ask_about_older(self, alerts: Iterable[ReadAlert]) -> bool:
        """With a lookup, ask it about the accounts of the ``alerts`` that were made before this
        start, and remember the erased ones; ask again until it answers. -> False when the
        dispatcher stops first."""
        if self._lookup is None:
            return True
        accounts = {
            a.header.account_id
            for a in alerts
            if a.header is not None
            and a.header.account_id
            and a.header.emitted_at < self._started_at
            and a.header.account_id not in self._erased
        }
        while accounts:
            try:
                self.note(await self._lookup(sorted(accounts)))
                self._m.erasure_lookups.labels("ok").inc()
                return True
            except Exception as e:  # the graph restarting: nothing is delivered meanwhile
                self._m.erasure_lookups.labels("error").inc()
                log.warning("alerts wait for the graph to say which accounts are erased: %r", e)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 1.0)
            if self._stopping.is_set():
                return False
        return True

    async def run(self) -> None:
        self._started_at = self._clock()
        self._m.erasure_feed_caught_up.set(0)
        consumer = own_reader(self._bootstrap, f"{self._app_id}-alert-erasures", eof=True)
        started = time.monotonic()
        read = erased = 0
        try:
            loop = asyncio.get_running_loop()
            ends = await asyncio.to_thread(
                assign_when_present,
                consumer,
                TOPIC_IDENTITY,
                self._stopping.is_set,
                back=ERASURE_HISTORY,
                # no erase event was written before this start
                if_absent=lambda: loop.call_soon_threadsafe(self._mark_caught_up),
            )
            self.ready.set()
            behind = set(ends)  # partitions not yet read to their end
            while not self._stopping.is_set():
                if behind:
                    parts = [TopicPartition(TOPIC_IDENTITY, p) for p in behind]
                    positions = await asyncio.to_thread(consumer.position, parts)
                    behind = {tp.partition for tp in positions if tp.offset < ends[tp.partition]}
                if not behind and not self.caught_up.is_set():
                    log.info(
                        "erasure feed caught up: %d records of identity.links read, %d erase events "
                        "among them, in %.1f s",
                        read,
                        erased,
                        time.monotonic() - started,
                    )
                    self.history_read = read
                    self._mark_caught_up()
                messages = await asyncio.to_thread(consumer.consume, BATCH, POLL_S)
                for msg in messages:
                    error = msg.error()
                    if error is None:
                        read += 1
                        ids = erased_accounts(msg.value())
                        if ids:
                            erased += 1
                            self.note(ids)
                    elif error.code() == confluent_kafka.KafkaError._PARTITION_EOF:
                        behind.discard(msg.partition())
        except Exception:
            log.exception("alert erasure feed stopped")
            raise
        finally:
            await asyncio.to_thread(consumer.close)
