"""Every scoring worker reads every erase event, to drop what it cached from the erased accounts.

The ``erasure-notices`` agent reads only this worker's partitions of ``identity.links``, but any
worker may have classified an erased account's posts: the priority stage's intent encoder keeps
their vectors (``streams.priority.PriorityStage.forget_accounts``). So each worker process also runs
an ``ErasureFollower``: a consumer of its own (no group, nothing committed) on all partitions of
``identity.links``, on a thread of its own, from ``FOLLOW_BACK`` records before each partition's
end at its start (an erasure written while the worker started) onwards. It parses only the records
that can be erase events (``alerts.erasures.erased_accounts``) and hands their accounts to
``on_erased`` on its thread. Records arrive at ~0.004 per raw event; idle, the broker holds a fetch
for ``FETCH_WAIT_MS``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from alerts.erasures import erased_accounts
from alerts.topic_reader import assign_when_present, own_reader
from groundswell.metrics import Metrics
from groundswell.settings import TOPIC_IDENTITY

log = logging.getLogger(__name__)

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
    def __init__(
        self, bootstrap: str, group_id: str, on_erased: Callable[[list[str]], object], metrics: Metrics
    ) -> None:
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
            assign_when_present(consumer, TOPIC_IDENTITY, self._stop.is_set, back=FOLLOW_BACK)
            self.ready.set()
            while not self._stop.is_set():
                for msg in consumer.consume(BATCH, POLL_S):
                    if msg.error() is None:
                        self._handle(msg.value())
        finally:
            consumer.close()

    def _handle(self, value: bytes | None) -> None:
        accounts = erased_accounts(value)
        if not accounts:
            return
        self._m.erasures_followed.inc()
        try:
            self._on_erased(accounts)
        except Exception:
            log.exception("dropping what was cached for erased accounts %s failed", accounts)
