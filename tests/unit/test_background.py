"""groundswell.background: work that can wait runs on one thread at a lower CPU priority."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from groundswell.background import BackgroundThread


def nice_of(thread_id: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, thread_id)


@pytest.mark.skipif(sys.platform != "linux", reason="a per-thread nice value is Linux's")
async def test_its_calls_run_on_one_thread_that_is_nicer_than_the_stream() -> None:
    background = BackgroundThread("test-background", niceness=7)
    try:
        loop_thread = threading.get_native_id()
        first = await background.run(threading.get_native_id)
        second = await background.run(threading.get_native_id)
        assert first == second != loop_thread
        assert nice_of(first) == min(19, nice_of(loop_thread) + 7)
        assert nice_of(loop_thread) == nice_of(0)  # the rest of the process keeps its priority
        assert await background.run(divmod, 17, 5) == (3, 2)
        with pytest.raises(ZeroDivisionError):
            await background.run(divmod, 1, 0)
    finally:
        background.close()


async def test_niceness_zero_keeps_the_processs_priority() -> None:
    background = BackgroundThread("test-background-same", niceness=0)
    try:
        tid = await background.run(threading.get_native_id)
        if sys.platform == "linux":
            assert nice_of(tid) == nice_of(threading.get_native_id())
    finally:
        background.close()
