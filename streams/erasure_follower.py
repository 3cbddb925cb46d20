"""Every worker reads every erase event, to drop what it keeps of the erased accounts.

A consumer group would give each worker a share of ``identity.links``, but any worker may hold an
erased account's data: the priority stage's intent encoder keeps vectors of its posts
(``streams.priority.PriorityStage.forget_accounts``), the identity intake the hashes of its profile
fields (``streams.identity_commands.IdentityIntake.mark_erased``; a worker that missed the event
learns of the erasure from the graph write of the account's next activity instead:
``IdentityIntake.commands``), a former owner of the identity
resolver its profile (``streams.identity_agent.ResolverState.forget_erased``). So each worker process
runs one
``ErasureFollower`` (``install_follower``, through ``streams.app.Wiring.on_erasure``): a consumer of
its own (no group, nothing committed) on all partitions of ``identity.links``, on a thread of its
own, from ``FOLLOW_BACK`` records before each partition's end at its start (an erasure written
while the worker started) onwards. It parses only the records that can be erase events
(``alerts.erasures.erased_accounts``) and hands their accounts to ``on_erased`` on its thread;
``install_follower`` passes them on to each listener on the app's event loop.
Records arrive at ~0.004 per raw event; idle, the broker holds a fetch for ``FETCH_WAIT_MS``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from alerts.erasures import erased_accounts
from alerts.topic_reader import assign_when_present, own_reader
from groundswell.metrics import Metrics
from groundswell.settings import TOPIC_IDENTITY

log = logging.getLogger(__name__)

#: called with the accounts of one erase event
Listener = Callable[[list[str]], object]
#: records a partition read back at start (an erase written while the worker was starting)
FOLLOW_BACK = 1_000
#: the broker answers an idle fetch after this long (an erasure may wait this long; it has no deadline
#: like an alert's)
FETCH_WAIT_MS = 500
BATCH = 500
POLL_S = 0.5
#: after a failure (the broker away at start), a new consumer this much later
RETRY_S = 5.0


class ErasureFollower:
    def __init__(self, bootstrap: str, group_id: str, on_erased: Listener, metrics: Metrics) -> None:
        self._bootstrap = bootstrap
        self._group_id = group_id
        self._on_erased = on_erased
        self._m = metrics
        self._stop = threading.Event()
        #: assigned to every partition (read from then on)
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="erasure-follower", daemon=True)

    def start(self) -> ErasureFollower:
        self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> bool:
        """Stop reading; -> whether the thread has ended (within ``timeout``)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow()
            except Exception:  # a new consumer reads the last FOLLOW_BACK records again: no gap
                log.exception("erasure follower failed; it starts again in %.0f s", RETRY_S)
                self._stop.wait(RETRY_S)

    def _follow(self) -> None:
        consumer = own_reader(self._bootstrap, self._group_id, fetch_wait_ms=FETCH_WAIT_MS)
        try:
            ends = assign_when_present(consumer, TOPIC_IDENTITY, self._stop.is_set, back=FOLLOW_BACK)
            self.ready.set()
            while not self._stop.is_set():
                for msg in consumer.consume(BATCH, POLL_S):
                    if msg.error() is None:
                        read_back = (msg.offset() or 0) < ends.get(msg.partition() or 0, 0)
                        self._handle(msg.value(), count=not read_back)
        finally:
            consumer.close()

    def _handle(self, value: bytes | None, count: bool = True) -> None:
        """One record; ``count``: a record written since this consumer started (those read back at
        its start are acted on again, idempotently, and not counted again)."""
        accounts = erased_accounts(value)
        if not accounts:
            return
        if count:
            self._m.erasures_followed.inc()
        try:
            self._on_erased(accounts)
        except Exception:
            log.exception("dropping what was cached for erased accounts %s failed", accounts)


def install_follower(app: Any, bootstrap: str, group_id: str, metrics: Metrics) -> list[Listener]:
    """One ``ErasureFollower`` for a Faust ``app``'s process, started with the app and closed before
    its shutdown; -> the listeners it calls with each erase event's accounts, on the app's event
    loop (where the workers' tables and stages live): add to the list."""
    listeners: list[Listener] = []

    def each(accounts: list[str]) -> None:  # on the follower's thread
        for listener in listeners:
            app.loop.call_soon_threadsafe(listener, accounts)

    follower = ErasureFollower(bootstrap, group_id, each, metrics)

    async def follow_erasures() -> None:
        follower.start()

    async def stop_following(_app: Any, /, *_: Any, signal: Any, **__: Any) -> None:
        await asyncio.to_thread(follower.close)

    app.task(follow_erasures)
    app.on_before_shutdown.connect(stop_following)
    return listeners
