"""The side-by-side benchmark's bookkeeping (benchmarks.compare): the order of the runs, and the
medians, ranges and ratios it reports from end_to_end's JSON."""

from __future__ import annotations

import pytest

from benchmarks.compare import PROGRESS, Run, run_order, summary, table


def test_each_pair_swaps_its_order() -> None:
    assert run_order(1) == ["head", "base"]
    assert run_order(3) == ["head", "base", "base", "head", "head", "base"]
    for n in range(1, 8):
        order = run_order(n)
        assert order.count("head") == order.count("base") == n


def result(rate: float, scoring: float, ingest: float) -> dict[str, object]:
    """The part of end_to_end's JSON that compare reads."""
    return {
        "end_to_end_raw_events_per_s": rate,
        "cpu_ms_per_raw_event": {"scoring_workers": scoring, "ingest_workers": ingest},
        "alerts": 3,  # the rest is ignored
    }


def test_medians_ranges_and_the_ratio() -> None:
    runs = [
        Run.from_result("head", result(700.0, 1.2, 0.6)),
        Run.from_result("base", result(600.0, 1.5, 0.7)),
        Run.from_result("base", result(800.0, 1.1, 0.5)),
        Run.from_result("head", result(760.0, 1.3, 0.4)),
        Run.from_result("head", result(650.0, 1.0, 0.5)),
        Run.from_result("base", result(640.0, 1.4, 0.6)),
    ]
    s = summary(runs)
    assert (s["head"]["raw_events_per_s"].median, s["base"]["raw_events_per_s"].median) == (700.0, 640.0)
    assert (s["head"]["raw_events_per_s"].low, s["head"]["raw_events_per_s"].high) == (650.0, 760.0)
    assert s["head"]["cpu_ms_all"].median == pytest.approx(1.7)  # 1.8, 1.7, 1.5
    assert s["base"]["cpu_ms.scoring_workers"].median == pytest.approx(1.4)
    text = table(runs, "abc1234")
    assert "| base (abc1234) | 600 | 1.50 / 0.70 = 2.20 ms |" in text
    assert "| raw_events_per_s | 700 (650–760) | 640 (600–800) | 1.094 |" in text
    assert text.count("\n| head |") == 3 and text.count("\n| base (abc1234) |") == 3


def test_one_side_alone_has_no_ratio() -> None:
    text = table([Run.from_result("head", result(700.0, 1.2, 0.6))], "abc1234")
    assert "| head | 700 | 1.20 / 0.60 = 1.80 ms |" in text
    assert "head / base |" in text and "| raw_events_per_s |" not in text


def test_progress_lines_are_passed_on_and_the_tables_are_not() -> None:
    assert PROGRESS.match("     35s sent   24550  graph    34383  alerts 843")
    assert PROGRESS.match("195842 events ready (842 real, 195000 simulated)")
    assert not PROGRESS.match("| end to end: raw events all the way to the graph, 47 s | 712 events/s |")
    assert not PROGRESS.match("raw numbers: /tmp/x.json")
