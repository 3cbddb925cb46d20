"""The processes `groundswell up` starts stop when `up` is gone.

`up` starts each part in a session of its own, so that a Ctrl-C reaches `up` alone and `up` stops
the parts in order: workers and the API first, then the graph store and the broker. When `up`
itself dies without that chance (SIGKILL, the OOM killer, a crash), the parts used to run on as
orphans, holding the ports the next `up` needs. Each part now watches its parent: once `up` is no
longer its parent, it stops as if it had been sent SIGTERM, and is killed if it has not stopped
after ``kill_after_s``. The broker and the graph store wait first, so that the workers and the API
stop while what they write to is still there (a Faust worker whose broker has gone waits in its
stop, and the graph store's JVM waits for its open Bolt connections): until none of `up`'s other
parts runs (:func:`clients_of`, read from ``/proc``), or ``delay_s`` where that cannot be read.

The same watch stops a graph store started with ``--parent-pid`` (``graph.arcadedb_server.spawn``,
for tests and benchmarks). Polling ``getppid`` is what works on Linux and macOS alike
(``PR_SET_PDEATHSIG`` is Linux only).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable

from groundswell import processes

log = logging.getLogger(__name__)

#: the broker and the graph store outlive `up` by at most this much: the clients' stop, and its kill
INFRASTRUCTURE_DELAY_S = 35.0
#: the parts `up` starts that the others use; they stop last
INFRASTRUCTURE = ("broker", "graph-server")
SUPERVISOR_PID_ENV = "GROUNDSWELL_SUPERVISOR_PID"


def part_of(pid: int) -> str | None:
    """Which `groundswell` command a process runs (``worker``, ``broker``...), from its argv."""
    argv = processes.command_of(pid)
    for i, arg in enumerate(argv[:-1]):
        if arg == "groundswell.cli" or arg.endswith("/groundswell"):
            return argv[i + 1]
    return None


def clients_of(supervisor_pid: int) -> list[int] | None:
    """The processes started for the `up` whose pid is ``supervisor_pid`` (they carry it in their
    environment) that still run and are not the infrastructure (the broker, the graph store, and
    their own children such as the graph store's JVM); children of the clients count. None where
    ``/proc`` cannot be read."""
    if not processes.readable():
        return None
    started = processes.running_with_env(f"{SUPERVISOR_PID_ENV}={supervisor_pid}")
    infrastructure = {pid for pid in started if part_of(pid) in INFRASTRUCTURE}
    return [p for p in started if p not in infrastructure and processes.parent_of(p) not in infrastructure]


#: a part that has not stopped this long after its SIGTERM is killed
KILL_AFTER_S = 30.0


def stop_with_parent(
    parent_pid: int,
    *,
    delay_s: float = 0.0,
    kill_after_s: float = KILL_AFTER_S,
    interval_s: float = 0.5,
    done_waiting: Callable[[], bool] = lambda: False,
) -> threading.Thread:
    """Watch, on a daemon thread, for ``parent_pid`` to stop being this process's parent; then,
    after ``delay_s`` or as soon as ``done_waiting()`` says so, send this process SIGTERM, and SIGKILL
    ``kill_after_s`` later."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval_s)
        log.warning("the process that started this one (%d) is gone: stopping", parent_pid)
        deadline = time.monotonic() + delay_s
        while time.monotonic() < deadline and not done_waiting():
            time.sleep(min(interval_s, max(0.0, deadline - time.monotonic())))
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(kill_after_s)
        log.error("not stopped %.0f s after SIGTERM: killing this process", kill_after_s)
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))  # SIGKILL: POSIX only

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread


def stop_with_supervisor(supervisor_pid: int, part: str) -> threading.Thread:
    """The watch of a part ``up`` started: a client stops at once, the infrastructure once the
    clients are gone (at most ``INFRASTRUCTURE_DELAY_S`` later)."""
    if part not in INFRASTRUCTURE:
        return stop_with_parent(supervisor_pid)

    def clients_gone() -> bool:
        return clients_of(supervisor_pid) == []

    return stop_with_parent(supervisor_pid, delay_s=INFRASTRUCTURE_DELAY_S, done_waiting=clients_gone)
