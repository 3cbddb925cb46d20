"""Run a function in a forked child: a copy-on-write view of this process's memory, frozen at the fork.

For work that reads a large in-memory state and must not hold up the event loop that keeps
changing it (the ranker's snapshot, ``streams.ranking``): the loop pays for ``fork()`` (page tables:
milliseconds, whatever the state's size) instead of copying the state object by object, and the
child's CPU is outside this process's GIL. POSIX only: ``can_fork()`` says whether it is available,
and callers keep an in-process path for where it is not.

The child runs only the given function and leaves with ``os._exit`` (no ``atexit``, no event loop,
no other thread: they do not exist in it). It takes the default action for SIGINT and SIGTERM (a
Ctrl-C stops it with its parent's process group), stops Python's signal wake-up (which would write
to the parent's loop), turns off the cyclic garbage collector (a collection would touch, and so
copy, every page of the heap), and on Linux dies with its parent (``PR_SET_PDEATHSIG``): a child
outliving a killed worker must not overwrite what a restarted one wrote since.

A process that forks must keep its BLAS libraries on one thread (``blas_on_one_thread``, which the
worker calls at its start). OpenBLAS (numpy, scipy and faiss each load a copy) shuts its thread pool
down before every ``fork()``; when another thread is inside a multi-threaded BLAS call right then,
the fork waits for threads that wait for it, while holding the GIL: the whole process stops. Caught
on 2026-12-07 with py-spy (the ranker's snapshot forking while the priority stage's intent matmul
ran, a scoring worker that no longer answered ``/metrics``), and reproduced with a thread doing
matmuls while the main thread forks (it hung at the first fork in one of three runs; with one BLAS
thread, runs of 3,000 forks never did).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from groundswell.background import lower_own_priority

_PR_SET_PDEATHSIG = 1
_blas_limited = False


def blas_on_one_thread() -> None:
    """Every BLAS library loaded in this process runs on one thread from now on, and so does any
    loaded later (see the module's docstring: a fork during a multi-threaded BLAS call hangs the
    process). Call it before the process's first BLAS call, as the worker does at its start: a call
    in flight on another thread keeps the threads it started with. ``start`` calls it on a
    process's first fork, a fallback that makes the later forks safe but not that first one. A
    worker's model and stages already run on one thread each (two cores shared with the graph
    store), so it costs no parallelism they used."""
    global _blas_limited
    from threadpoolctl import threadpool_limits

    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # read by a copy of OpenBLAS that loads later
    threadpool_limits(1, user_api="blas")  # the copies loaded already
    _blas_limited = True


def can_fork() -> bool:
    return hasattr(os, "fork") and hasattr(os, "waitpid")


@dataclass(frozen=True, slots=True)
class Child:
    pid: int
    fork_s: float  # seconds the caller was held by fork() itself


def start(fn: Callable[[], None], niceness: int = 0) -> Child:
    """Fork; the child runs ``fn`` and exits 0, or 1 if it raised (the traceback on stderr). With
    ``niceness``, the child runs that much nicer than the thread that forked it
    (``groundswell.background``): work that can wait yields the CPU to the stream."""
    if not _blas_limited:
        blas_on_one_thread()
    parent = os.getpid()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            _as_child(parent)
            lower_own_priority(niceness)
            fn()
            code = 0
        except BaseException:  # the child reports and leaves, whatever happened
            with contextlib.suppress(BaseException):
                traceback.print_exc()
                sys.stderr.flush()
        finally:
            os._exit(code)
    return Child(pid=pid, fork_s=time.monotonic() - t0)


def _as_child(parent: int) -> None:
    gc.disable()
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)


async def wait(child: Child) -> int:
    """The child's exit code (negative: the signal that ended it), waited for on a thread. Cancelled
    (the worker stopping), it ends the child and reaps it."""
    try:
        _, status = await asyncio.to_thread(os.waitpid, child.pid, 0)
    except asyncio.CancelledError:
        kill(child)
        raise
    except ChildProcessError:  # reaped by ``kill`` meanwhile: that is how it ended
        return -signal.SIGKILL
    return os.waitstatus_to_exitcode(status)


def kill(child: Child) -> None:
    """End a child that has not finished, and reap it."""
    try:
        os.kill(child.pid, signal.SIGKILL)
        os.waitpid(child.pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
