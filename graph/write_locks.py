"""One graph write transaction at a time: per event loop, and across the processes of one machine.

ArcadeDB detects write conflicts per PAGE, not per record. Writers that touch different accounts
still meet on the same pages of the Account bucket, and the later commit fails:
- in one worker, the graph writer's batch, the ranker's score writes and the identity resolver's
  decisions lost ten retries in a row ("Concurrent modification on page ... Account_0 ... bucket",
  measured in the end-to-end benchmark), which crashed the worker;
- across processes (an ingest and a scoring worker), graph batches of 500 activities were retried
  45 times in 13 batches, and the ingest stage fell from ~700 to ~60 raw events/s.
Serialising costs nothing here: one store on two cores did not write faster concurrently.

``write_lock()`` is this event loop's ``asyncio.Lock``; ``MachineLock`` is an advisory ``flock`` on
a file in ``data_dir`` that every process writing to the embedded store takes around each write
transaction (polled, so a waiting loop stays free and a cancelled waiter holds nothing). Neo4j
serialises conflicting writes with its own row locks: the machine lock is only for the embedded
store.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

_LOOP_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
POLL_S = 0.001
POLL_MAX_S = 0.02


def write_lock() -> asyncio.Lock:
    """This event loop's graph write lock."""
    loop = asyncio.get_running_loop()
    lock = _LOOP_LOCKS.get(loop)
    if lock is None:
        lock = _LOOP_LOCKS[loop] = asyncio.Lock()
    return lock


class MachineLock:
    """An exclusive ``flock`` on ``path``, shared by every process of this machine that opens it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        delay = POLL_S
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, POLL_MAX_S)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)
