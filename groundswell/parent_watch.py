"""The processes `groundswell up` starts stop when `up` is gone.

`up` starts each part in a session of its own, so that a Ctrl-C reaches `up` alone and `up` stops
the parts in order: workers and the API first, then the graph store and the broker. When `up`
itself dies without that chance (SIGKILL, the OOM killer, a crash), the parts used to run on as
orphans, holding the ports the next `up` needs. Each part now watches its parent: once `up` is no
longer its parent, it stops as if it had been sent SIGTERM, and is killed if it has not stopped
after ``kill_after_s``. The broker and the graph store wait ``delay_s`` first, so that the workers
and the API stop while what they write to is still there (a Faust worker whose broker has gone
waits in its stop, and the graph store's JVM waits for its open Bolt connections).

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

log = logging.getLogger(__name__)

#: the broker and the graph store outlive `up` by this much: the clients' stop, and its kill
INFRASTRUCTURE_DELAY_S = 35.0
#: a part that has not stopped this long after its SIGTERM is killed
KILL_AFTER_S = 30.0


def stop_with_parent(
    parent_pid: int,
    *,
    delay_s: float = 0.0,
    kill_after_s: float = KILL_AFTER_S,
    interval_s: float = 0.5,
) -> threading.Thread:
    """Watch, on a daemon thread, for ``parent_pid`` to stop being this process's parent; then,
    after ``delay_s``, send this process SIGTERM, and SIGKILL ``kill_after_s`` later."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval_s)
        log.warning("the process that started this one (%d) is gone: stopping in %.0f s", parent_pid, delay_s)
        time.sleep(delay_s)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(kill_after_s)
        log.error("not stopped %.0f s after SIGTERM: killing this process", kill_after_s)
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))  # SIGKILL: POSIX only

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread
