"""A thread for work that can wait, at a lower CPU priority than the stream.

On a busy machine every thread of every process competes for the same cores. Some work can wait
(the identity resolver's backlog of profiles to embed and match: ~25 ms of model time each) and
some cannot (a complaint's intent on its way to an alert, the ranker's next report). The kernel's
scheduler gives a thread with a higher nice value a smaller share while others want the CPU, and
all of it when they do not. ``BackgroundThread`` runs its calls on one thread that raised its own
nice value (Linux: a per-thread attribute; elsewhere the thread keeps the process's priority).
The model releases the GIL while it computes, so the scheduler, not the GIL, shares that time.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

#: how much nicer background work runs than the stream: at nice +10 the kernel gives a busy thread
#: about a tenth of the share of a nice-0 one while both want the CPU
NICENESS = 10


def lower_own_priority(niceness: int = NICENESS) -> bool:
    """Raise the calling thread's nice value by ``niceness`` (at most to 19): on Linux a per-thread
    attribute, so the rest of the process keeps its priority (in a forked child, the whole child).
    -> whether it was lowered."""
    if niceness <= 0:
        return False
    me = threading.get_native_id()
    try:
        own = os.getpriority(os.PRIO_PROCESS, me)
        os.setpriority(os.PRIO_PROCESS, me, min(19, own + niceness))
    except (AttributeError, OSError) as e:  # a platform without it: the process's priority
        log.info("background work keeps the process's priority (%r)", e)
        return False
    return True


class BackgroundThread:
    """Calls run one at a time on one thread at ``niceness`` above the process's (0: the same)."""

    def __init__(self, name: str, niceness: int = NICENESS) -> None:
        self.niceness = niceness
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name, initializer=self._start)

    def _start(self) -> None:
        lower_own_priority(self.niceness)

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on the background thread; awaits its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
