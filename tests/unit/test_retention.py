"""The scoring worker's table retention (streams.retention): stamps, the sweep's plan, the sweeper."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from groundswell.metrics import Metrics
from groundswell.settings import Settings
from streams.partitioner import partition_for
from streams.retention import (
    FIRST_SWEEP_S,
    SWEEP_CHUNK,
    StampedTable,
    TableSweeper,
    install_sweeps,
    plan_sweep,
    stamped,
    unstamped,
)

DAY = 86400.0


def test_a_stamped_value_comes_back_with_its_time() -> None:
    assert unstamped(stamped(b"[1,2,3]", 1_790_000_000.5)) == (b"[1,2,3]", 1_790_000_000.5)
    assert unstamped(stamped(b"", 0.0)) == (b"", 0.0)


def test_a_stamped_table_reads_and_writes_bare_values_and_stores_them_stamped() -> None:
    raw: dict[str, bytes] = {"legacy": b"[7]"}
    table = StampedTable(raw, clock=lambda: 42.0)
    table["k"] = b"[1]"
    assert raw["k"] == stamped(b"[1]", 42.0)
    assert table.get("k") == b"[1]" and table.read("k") == (b"[1]", 42.0)
    assert table.read("legacy") == (b"[7]", None) and table.get("missing") is None


def test_a_value_from_before_stamps_has_no_time() -> None:
    assert unstamped(b'{"v":2,"c":{},"h":[]}') == (b'{"v":2,"c":{},"h":[]}', None)
    assert unstamped(b"[12,34]") == (b"[12,34]", None)
    assert unstamped(None) == (None, None)


def test_the_plan_expires_old_entries_restamps_unstamped_ones_and_keeps_the_rest() -> None:
    now = 100 * DAY
    items = [
        ("old", stamped(b"[1]", now - 31 * DAY)),
        ("fresh", stamped(b"[2]", now - 29 * DAY)),
        ("legacy", b"[3]"),
        ("gone", None),  # deleted since the keys were listed
    ]
    plan = plan_sweep(items, now, 30 * DAY)
    assert plan.expired == ["old"]
    assert plan.restamp == ["legacy"]
    assert plan.kept == 1


def test_the_plan_leaves_other_workers_keys_alone() -> None:
    now = 100 * DAY
    items = [("mine", stamped(b"[1]", 0.0)), ("theirs", stamped(b"[1]", 0.0)), ("their legacy", b"[1]")]
    plan = plan_sweep(items, now, DAY, owned=lambda k: k == "mine")
    assert plan.expired == ["mine"]
    assert plan.restamp == []
    assert plan.kept == 0


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.one_of(st.none(), st.floats(min_value=0, max_value=1e9)),
        max_size=40,
    ),
    st.floats(min_value=1, max_value=1e8),
)
def test_every_entry_lands_in_exactly_one_place_and_nothing_within_the_retention_expires(
    written: dict[str, float | None], retention_s: float
) -> None:
    now = 1e9
    items = [(k, b"[0]" if at is None else stamped(b"[0]", at)) for k, at in written.items()]
    plan = plan_sweep(items, now, retention_s)
    assert not set(plan.expired) & set(plan.restamp)
    assert len(plan.expired) + len(plan.restamp) + plan.kept == len(written)
    assert set(plan.expired) == {k for k, at in written.items() if at is not None and now - at > retention_s}
    assert set(plan.restamp) == {k for k, at in written.items() if at is None}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def sample(metrics: Metrics, name: str, table: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"table": table})


def test_the_sweeper_deletes_what_expired_in_its_partitions_and_counts_it() -> None:
    partitions = 4
    clock = Clock(50 * DAY)
    keys = [f"bluesky:did:plc:{i:04d}" for i in range(40)]
    owned = {0, 2}
    table: dict[str, bytes] = {}
    for i, key in enumerate(keys):
        table[key] = stamped(b"[%d]" % i, clock.now - (40 * DAY if i % 2 else DAY))
    table["legacy:0"] = b"[7]"
    metrics = Metrics.create()
    sweeper = TableSweeper("mention-authors", table, partitions, lambda: owned, 30 * DAY, metrics, clock)

    done = asyncio.run(sweeper.sweep())

    def mine(key: str) -> bool:
        return partition_for(key.encode(), partitions) in owned

    expected_gone = {k for i, k in enumerate(keys) if i % 2 and mine(k)}
    assert expected_gone and set(done.expired) == expected_gone
    assert not expected_gone & table.keys()
    assert {k for k in keys if not mine(k)} <= table.keys()  # another worker's to sweep
    if mine("legacy:0"):
        assert unstamped(table["legacy:0"]) == (b"[7]", clock.now)
    else:
        assert table["legacy:0"] == b"[7]"
    assert sample(metrics, "groundswell_table_entries_expired_total", "mention-authors") == len(expected_gone)
    assert done.kept == sum(1 for i, k in enumerate(keys) if not i % 2)  # fresh, whoever's
    assert sample(metrics, "groundswell_table_entries", "mention-authors") == len(table)

    clock.now += 31 * DAY  # nothing written since: everything of its partitions goes
    asyncio.run(sweeper.sweep())
    assert not any(mine(k) for k in table)
    assert sample(metrics, "groundswell_table_entries", "mention-authors") == len(table) > 0


def test_an_entry_written_while_the_sweep_yields_is_kept() -> None:
    clock = Clock(50 * DAY)
    table = {f"k{i}": stamped(b"[0]", 0.0) for i in range(SWEEP_CHUNK + 10)}
    late = f"k{SWEEP_CHUNK + 5}"  # in the second chunk

    class Writing(dict[str, bytes]):
        def keys(self):  # type: ignore[no-untyped-def,override]
            listed = list(super().keys())
            self[late] = stamped(b"[1]", clock.now)  # as an agent would, between two chunks
            return listed

    written = Writing(table)
    sweeper = TableSweeper("alert-subjects", written, 1, lambda: {0}, DAY, Metrics.create(), clock)
    done = asyncio.run(sweeper.sweep())
    assert late not in done.expired
    assert dict(written) == {late: stamped(b"[1]", clock.now)}


def test_the_first_sweep_comes_at_the_first_tick_then_one_per_interval() -> None:
    assert TableSweeper.tick_seconds(600.0) == FIRST_SWEEP_S
    assert TableSweeper.tick_seconds(1.0) == 1.0
    sweeper = TableSweeper("mention-authors", {}, 4, lambda: {0}, DAY, Metrics.create())
    ticks = [1000.0 + FIRST_SWEEP_S * i for i in range(45)]  # 22 minutes of timer ticks
    swept = [t - 1000.0 for t in ticks if sweeper.due(t, 600.0)]
    assert swept == [0.0, 600.0, 1200.0]


class TimerApp:
    """What ``install_sweeps`` uses of a Faust app: its timers (kept to be called by hand) and the
    partitions it holds."""

    def __init__(self, held: set[int]) -> None:
        self.timers: list[Any] = []
        self.assignor = SimpleNamespace(
            assigned_actives=lambda: {SimpleNamespace(topic="src", partition=p) for p in held}
        )

    def timer(self, interval: float, name: str) -> Any:
        def register(fn: Any) -> Any:
            self.timers.append(fn)
            return fn

        return register


def test_what_follows_a_sweep_runs_on_its_schedule_and_its_failure_stops_nothing() -> None:
    calls: list[str] = []

    async def then() -> None:
        calls.append("then")
        if len(calls) > 1:
            raise RuntimeError("the graph store is away")

    def ticks() -> Any:
        app = TimerApp(held={0, 1})
        table = StampedTable({}, Clock(0.0))
        install_sweeps(
            app, (("seen", table),), "src", Settings(state_sweep_seconds=600.0), Metrics.create(), then
        )
        (tick,) = app.timers
        return tick

    tick = ticks()
    asyncio.run(tick())  # the first tick sweeps, then follows up
    asyncio.run(tick())  # not due again for 600 s: nothing
    assert calls == ["then"]
    asyncio.run(ticks()())  # a follow-up that fails is logged; the timer goes on
    assert calls == ["then", "then"]
