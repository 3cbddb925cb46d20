from __future__ import annotations

import math

import jsonschema
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.schema import AlertKind, alert_schema
from alerts.spikes import HOUR, MINUTE, SpikeDetector, TopicCount, TopicVolume, VolumeCounter, observe_all
from tests.unit._alert_posts import T0, scored

START = math.floor(T0 / HOUR) * HOUR  # an hour boundary


def feed_hours(det: SpikeDetector, state: TopicVolume, hours: int, per_hour: int) -> None:
    """``per_hour`` mentions spread over each of ``hours`` hours from START."""
    for h in range(hours):
        for i in range(per_hour):
            minute = (START + h * HOUR) // MINUTE + (i * 60 // max(per_hour, 1))
            assert (
                det.observe(state, TopicCount("billing", int(minute), 1, 0.0), now=START + 10 * 24 * HOUR)
                is None
            )


def at_hour(h: int, minute_in_hour: int = 0) -> int:
    return int((START + h * HOUR) // MINUTE + minute_in_hour)


def test_a_burst_over_a_steady_baseline_alerts_once_per_hour() -> None:
    det = SpikeDetector(k=3.0, min_baseline_hours=24, min_count=10)
    state = TopicVolume()
    feed_hours(det, state, hours=48, per_hour=5)
    now = START + 60 * HOUR
    alerts = [
        det.observe(state, TopicCount("billing", at_hour(49, 10), 1, START + 49 * HOUR), now)
        for _ in range(40)
    ]
    fired = [a for a in alerts if a is not None]
    assert len(fired) == 1  # once per topic per hour, however long the burst goes on
    alert = fired[0]
    assert alert.kind is AlertKind.VOLUME_SPIKE and alert.topics == ("billing",) and alert.spike is not None
    assert (
        alert.spike.baseline_mean == 5.0 and alert.spike.baseline_hours == 48
    )  # hours 0..47 = H-2 back to first seen
    assert alert.spike.count > alert.spike.threshold
    assert alert.to_dict()["reasons"][0].endswith("mentions of 'billing' in the last hour")
    jsonschema.Draft202012Validator(alert_schema()).validate(orjson.loads(alert.to_bytes()))
    # the next clock hour may alert again (same burst still in the rolling window)
    again = det.observe(state, TopicCount("billing", at_hour(50, 5), 30, START + 50 * HOUR), now)
    assert again is not None and again.alert_id != alert.alert_id


def test_no_spike_without_enough_baseline_or_mentions_or_excess() -> None:
    det = SpikeDetector(k=3.0, min_baseline_hours=24, min_count=10)
    young = TopicVolume()
    feed_hours(det, young, hours=10, per_hour=2)  # 10 hours of history: too young
    assert det.observe(young, TopicCount("billing", at_hour(11), 500, 0.0), now=START + 20 * HOUR) is None
    quiet = TopicVolume()
    feed_hours(det, quiet, hours=30, per_hour=0)  # no mentions at all: first_hour unset
    flat = TopicVolume()
    feed_hours(det, flat, hours=30, per_hour=1)
    # 9 mentions over a flat baseline of 1/hour: above mean + 3 * max(std, 1) = 4, but under min_count
    assert det.observe(flat, TopicCount("billing", at_hour(31), 9, 0.0), now=START + 40 * HOUR) is None
    noisy = TopicVolume()
    for h in range(30):  # alternating 0 / 40 per hour: mean 20, std 20
        det.observe(noisy, TopicCount("billing", at_hour(h), 40 * (h % 2), 0.0), now=START + 40 * HOUR)
    assert det.observe(noisy, TopicCount("billing", at_hour(31), 70, 0.0), now=START + 40 * HOUR) is None
    assert (
        det.observe(noisy, TopicCount("billing", at_hour(31, 1), 20, 0.0), now=START + 40 * HOUR) is not None
    )


def test_the_baseline_ignores_the_window_hours_and_old_counts_are_pruned() -> None:
    det = SpikeDetector(k=3.0, min_baseline_hours=24, min_count=10)
    state = TopicVolume()
    feed_hours(det, state, hours=200, per_hour=3)
    base = det.baseline(state)
    assert base.hours == 168 and base.mean == 3.0 and base.std == 0.0
    assert len(state.hours) <= 168 + 3 and len(state.minutes) <= 60


def test_future_dated_counts_are_clamped_to_the_wall_clock() -> None:
    det = SpikeDetector()
    state = TopicVolume()
    now = START + 5 * HOUR
    det.observe(state, TopicCount("billing", int((now + 365 * 24 * HOUR) // MINUTE), 1, 0.0), now)
    assert state.newest <= now


def test_state_round_trips_and_counter_aggregates_per_topic_and_minute() -> None:
    counter = VolumeCounter()
    for i in range(5):
        counter.add(
            scored(f"e{i}", topics=("Billing", "shipping"), created_at=T0 + i, received_at=T0 + i + 0.1)
        )
    counter.add(scored("x", topics=()))
    counts = counter.drain()
    assert {(c.topic, c.count) for c in counts} == {("billing", 5), ("shipping", 5)}
    assert all(c.newest_received_at == T0 + 4.1 for c in counts) and len(counter) == 0
    assert TopicCount.from_bytes(counts[0].to_bytes()) == counts[0]
    det = SpikeDetector()
    states: dict[str, TopicVolume] = {}
    assert observe_all(det, states, counts, now=T0 + 10) == []
    restored = TopicVolume.from_bytes(states["billing"].to_bytes())
    assert restored == states["billing"] and TopicVolume.from_bytes(None) == TopicVolume()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 24 * 9 * 60), st.integers(1, 50)), max_size=80))
def test_never_more_than_one_spike_per_topic_hour(counts: list[tuple[int, int]]) -> None:
    det = SpikeDetector(k=1.0, min_baseline_hours=1, min_count=1)
    state = TopicVolume()
    now = START + 10 * 24 * HOUR
    hours = []
    for minute, n in counts:
        alert = det.observe(state, TopicCount("t", int(START // MINUTE) + minute, n, 0.0), now)
        if alert is not None:
            assert alert.spike is not None
            hours.append(math.floor(alert.spike.window_end / HOUR - 1e-9))
    assert len(hours) == len(set(hours))
