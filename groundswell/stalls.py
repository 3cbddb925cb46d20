"""Calls that hang, made visible.

Work a stage hands to a thread (a model call, ``asyncio.to_thread``) cannot be stopped from the
event loop, and a call that never returns stops its stage without an error: once, in a benchmark,
the priority stage's first intent call never returned, so no mention was scored and no alert was
sent, while the rest of the worker went on (2026-12-07, once in ~25 runs; cause unknown).
``watched`` waits for such a call as before, but when it has not finished after ``after_s`` it
logs every thread's Python stack (what the call is waiting on), counts the stall in
``groundswell_stalls_total{call}``, and logs again when the call finishes.

A whole process can stop too: in another run the scoring worker stopped answering its ``/metrics``
right after the identity resolver's warm-up (2026-12-07; a run of the sixth session ended the same
way, then put down to a deadlock it fixed). ``dump_stacks_on_signal``
lets workers and the API write every thread's stack to their log on ``DUMP_SIGNAL``
(``kill -s RTMIN+1 PID`` on Linux); ``faulthandler`` does it from the signal handler, without the
GIL, so it works while a thread holds it. ``benchmarks/end_to_end.py`` sends it when a scrape
times out.
"""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import signal
import sys
import threading
import time
import traceback
from collections.abc import Awaitable
from typing import TypeVar

from groundswell.metrics import Metrics

log = logging.getLogger(__name__)

T = TypeVar("T")

#: the signal on which a process writes every thread's stack to stderr (Linux; Faust's worker
#: already uses SIGUSR1 and SIGUSR2); None where the platform has no real-time signals
DUMP_SIGNAL: int | None = signal.SIGRTMIN + 1 if hasattr(signal, "SIGRTMIN") else None


def dump_stacks_on_signal() -> int | None:
    """From now on, ``DUMP_SIGNAL`` makes this process write every thread's stack to stderr (its
    log), and carry on -> the signal, or None where there is none."""
    if DUMP_SIGNAL is None:
        return None
    faulthandler.register(DUMP_SIGNAL, all_threads=True, chain=False)
    return DUMP_SIGNAL


def thread_stacks() -> str:
    """Every thread's current Python stack, the way a traceback prints it."""
    names = {t.ident: t.name for t in threading.enumerate()}
    parts = []
    for ident, frame in sys._current_frames().items():
        stack = "".join(traceback.format_stack(frame))
        parts.append(f"thread {names.get(ident, '?')} ({ident}):\n{stack}")
    return "\n".join(parts)


async def watched(call: Awaitable[T], name: str, after_s: float, metrics: Metrics | None = None) -> T:
    """The result of ``call``, however long it takes; past ``after_s`` seconds, the stall is logged
    with every thread's stack and counted under ``name``. Cancelled, it cancels ``call`` too (a thread
    behind it finishes on its own)."""
    task = asyncio.ensure_future(call)
    started = time.monotonic()
    try:
        done, _ = await asyncio.wait({task}, timeout=after_s)
        if done:
            return task.result()
        if metrics is not None:
            metrics.stalls.labels(name).inc()
        log.error(
            "%s has not finished after %.0f s; every thread's stack:\n%s", name, after_s, thread_stacks()
        )
        result = await task
        log.warning("%s finished after %.1f s", name, time.monotonic() - started)
        return result
    except asyncio.CancelledError:
        task.cancel()
        raise
