"""The machine-wide graph write lock: one holder at a time across open handles (as across
processes), and a cancelled waiter holds nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from graph.write_locks import MachineLock, write_lock


def test_two_handles_of_the_lock_file_never_hold_it_at_once(tmp_path: Path) -> None:
    a, b = MachineLock(tmp_path / "graph-write.lock"), MachineLock(tmp_path / "graph-write.lock")
    events: list[str] = []

    async def hold(lock: MachineLock, name: str) -> None:
        for _ in range(5):
            async with lock.held():
                events.append(f"{name}+")
                await asyncio.sleep(0.003)
                events.append(f"{name}-")

    async def main() -> None:
        await asyncio.gather(hold(a, "a"), hold(b, "b"))

    asyncio.run(main())
    a.close()
    b.close()
    assert len(events) == 20
    for enter, leave in zip(events[::2], events[1::2], strict=True):  # never interleaved
        assert enter[0] == leave[0] and enter[1] == "+" and leave[1] == "-"


def test_a_cancelled_waiter_leaves_the_lock_free(tmp_path: Path) -> None:
    a, b = MachineLock(tmp_path / "l"), MachineLock(tmp_path / "l")

    async def main() -> None:
        async with a.held():
            waiter = asyncio.ensure_future(b.held().__aenter__())
            await asyncio.sleep(0.01)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
        async with a.held():  # neither b nor the cancelled wait kept it
            pass

    asyncio.run(main())
    a.close()
    b.close()


def test_write_lock_is_one_lock_per_event_loop() -> None:
    async def same() -> bool:
        return write_lock() is write_lock()

    async def get() -> asyncio.Lock:
        return write_lock()

    assert asyncio.run(same())
    assert asyncio.run(get()) is not asyncio.run(get())
