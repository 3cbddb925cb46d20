"""The composite influence score: bounded, monotone, explained by contributions that add up."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.composite import (
    SIGNALS,
    CompositeScore,
    HalfPoints,
    Signals,
    SignalWeights,
    composite,
    saturate,
)

signals = st.builds(
    Signals,
    pagerank=st.floats(0.0, 1.0),
    pagerank_ratio=st.floats(1.0, 1e6),
    followers=st.none() | st.integers(0, 10**9),
    engagement=st.floats(0.0, 1e9),
    kcore=st.integers(0, 500),
)


@given(signals)
def test_contributions_sum_to_the_value_which_stays_in_the_unit_interval(s: Signals) -> None:
    score = composite("x:a", s, at=1.0)
    assert tuple(c.signal for c in score.breakdown) == SIGNALS
    assert math.isclose(sum(c.contribution for c in score.breakdown), score.value, abs_tol=1e-12)
    assert 0.0 <= score.value < 1.0
    for c in score.breakdown:
        assert 0.0 <= c.normalized < 1.0
        assert c.contribution == pytest.approx(c.weight * c.normalized)
    assert len(score.reasons) == 4
    assert CompositeScore.from_dict(score.to_dict()) == score


@given(signals, st.sampled_from(SIGNALS))
def test_more_of_any_signal_never_lowers_the_score(s: Signals, which: str) -> None:
    more = Signals(
        pagerank=s.pagerank,
        pagerank_ratio=s.pagerank_ratio * 2 if which == "pagerank" else s.pagerank_ratio,
        followers=(s.followers or 0) * 2 + 1 if which == "reach" else s.followers,
        engagement=s.engagement * 2 + 1 if which == "engagement" else s.engagement,
        kcore=s.kcore + 1 if which == "kcore" else s.kcore,
    )
    assert composite("a", more, 0.0).value >= composite("a", s, 0.0).value


def test_half_points_and_baseline() -> None:
    nobody = composite("a", Signals(0.001, 1.0, None, 0.0, 0), 0.0)
    assert nobody.value == 0.0
    half = composite("b", Signals(0.01, 10.0, 1000, 20.0, 5), 0.0)
    assert half.value == pytest.approx(0.5)
    assert [c.normalized for c in half.breakdown] == pytest.approx([0.5] * 4)
    followers_first = composite("c", Signals(0.0, 1.0, 1_000_000, 0.0, 0), 0.0)
    assert followers_first.reasons[0].startswith("1,000,000 followers: +0.200")
    assert "followers not reported" in " ".join(nobody.reasons)
    assert saturate(math.nan, 1.0) == 0.0 and saturate(-3.0, 1.0) == 0.0
    assert half.breakdown_json() == '{"pagerank":0.2,"reach":0.1,"engagement":0.125,"kcore":0.075}'


def test_weights_and_half_points_are_validated() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        SignalWeights(pagerank=0.5, reach=0.5, engagement=0.5, kcore=0.0)
    with pytest.raises(ValueError, match="sum to 1"):
        SignalWeights(pagerank=1.2, reach=-0.2, engagement=0.0, kcore=0.0)
    with pytest.raises(ValueError, match="half-points"):
        HalfPoints(pagerank_ratio=1.0)
    custom = composite("a", Signals(0.1, 10.0, 0, 0.0, 0), 0.0, SignalWeights(1.0, 0.0, 0.0, 0.0))
    assert custom.value == pytest.approx(0.5)
