"""One thread with its own event loop for a process's graph-store traffic.

Why. A graph batch is one transaction of ~20 Bolt round trips. On the worker's event loop each
round trip's reply waits until the loop is free again, and the loop is busy most of the time
(normalizing a 500-event batch holds it for ~100 ms): measured, the graph stage wrote ~1,400
activities/s in the pipeline while the same store took ~6,500/s from a loop of its own, and the
store's process was mostly idle. Here the driver lives on a dedicated loop: its replies are read
as they arrive (the GIL is handed over every few milliseconds), while the worker's loop goes on
with the stream.

``IOThread.run(coro)`` runs a coroutine on that loop and returns an awaitable for the caller's loop.
Everything a coroutine run there touches must belong to that loop or be thread-safe (the driver,
the transaction functions of ``GraphStore.write``: they only use their transaction).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class IOThread:
    def __init__(self, name: str = "graph-io") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def on_this_thread(self) -> bool:
        return threading.current_thread() is self._thread

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` running on this thread's loop (inline when already on it)."""
        if self.on_this_thread():
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))


_shared: IOThread | None = None
_shared_lock = threading.Lock()


def shared() -> IOThread:
    """The process's graph I/O thread (started on first use; a daemon: it ends with the process)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = IOThread()
        return _shared
