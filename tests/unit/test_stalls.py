"""groundswell.stalls: a call off the loop that does not return is logged with the threads' stacks."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from groundswell.metrics import Metrics
from groundswell.stalls import DUMP_SIGNAL, thread_stacks, watched

REPO = Path(__file__).resolve().parents[2]


def stalls(metrics: Metrics, name: str) -> float:
    return metrics.stalls.labels(name)._value.get()


def test_a_call_that_finishes_in_time_is_not_a_stall(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics.create()
    result = asyncio.run(watched(asyncio.to_thread(lambda: 42), "quick", 5.0, metrics))
    assert result == 42 and stalls(metrics, "quick") == 0
    assert not [r for r in caplog.records if r.name == "groundswell.stalls"]


def test_a_stalled_call_is_logged_with_the_stack_it_waits_in_and_still_awaited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = Metrics.create()
    release = threading.Event()

    def waiting_for_a_lock_that_is_held() -> str:
        release.wait(10)
        return "done"

    async def main() -> str:
        call = asyncio.to_thread(waiting_for_a_lock_that_is_held)
        asyncio.get_running_loop().call_later(0.3, release.set)  # after the warning
        return await watched(call, "intent", 0.05, metrics)

    with caplog.at_level(logging.WARNING, logger="groundswell.stalls"):
        assert asyncio.run(main()) == "done"
    assert stalls(metrics, "intent") == 1
    error, finished = [r for r in caplog.records if r.name == "groundswell.stalls"]
    assert error.levelno == logging.ERROR and "intent has not finished" in error.getMessage()
    assert "waiting_for_a_lock_that_is_held" in error.getMessage()  # where the thread waits
    assert finished.levelno == logging.WARNING and "intent finished after" in finished.getMessage()


def test_cancelling_the_wait_cancels_the_call() -> None:
    async def main() -> bool:
        started = asyncio.Event()

        async def slow() -> None:
            started.set()
            await asyncio.sleep(10)

        inner = asyncio.ensure_future(slow())
        outer = asyncio.ensure_future(watched(inner, "slow", 5.0))
        await started.wait()
        outer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await outer
        return inner.cancelled()

    assert asyncio.run(main())


def test_thread_stacks_names_every_thread() -> None:
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name="a-named-thread", daemon=True)
    t.start()
    try:
        text = thread_stacks()
    finally:
        stop.set()
        t.join()
    assert "thread a-named-thread" in text and "thread MainThread" in text
    assert "test_thread_stacks_names_every_thread" in text


CHILD = """
import sys, threading, time
from groundswell.stalls import dump_stacks_on_signal

def stuck_here(event):
    event.wait()

threading.Thread(target=stuck_here, args=(threading.Event(),), daemon=True).start()
print(dump_stacks_on_signal(), flush=True)
time.sleep(30)
"""


@pytest.mark.skipif(DUMP_SIGNAL is None, reason="no real-time signals on this platform")
def test_the_dump_signal_writes_every_threads_stack_to_stderr_and_the_process_goes_on() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == str(DUMP_SIGNAL).encode()
        assert DUMP_SIGNAL is not None
        child.send_signal(DUMP_SIGNAL)
        time.sleep(1.0)
        assert child.poll() is None  # still running
    finally:
        child.kill()
        _, err = child.communicate(timeout=10)
    text = err.decode()
    assert "stuck_here" in text and "Thread 0x" in text
