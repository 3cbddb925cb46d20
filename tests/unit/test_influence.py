from __future__ import annotations

import math
import random

from hypothesis import given
from hypothesis import strategies as st

from activity.schema import AccountRef, Activity, ActivityKind, Network
from scoring import influence

HALF_LIFE = 7 * 24 * 3600.0


def acct(name: str) -> AccountRef:
    return AccountRef(id=f"x:{name}", network=Network.X, handle=name)


def act(
    kind: ActivityKind, actor: str, target: str | None = None, mentions: tuple[str, ...] = ()
) -> Activity:
    return Activity(
        event_id=f"e-{kind}-{actor}-{target}-{mentions}",
        kind=kind,
        network=Network.X,
        actor=acct(actor),
        created_at=1_750_000_000.0,
        received_at=1_750_000_001.0,
        source="test",
        target_account=acct(target) if target else None,
        mentions=tuple(acct(m) for m in mentions),
    )


def test_in_edges_weights_by_kind_and_excludes_self() -> None:
    edges = influence.in_edges(act(ActivityKind.REPLY, "a", "b", mentions=("b", "c", "a")))
    assert [(e.account_id, e.weight) for e in edges] == [("x:b", 2.0), ("x:c", 1.0)]
    assert influence.in_edges(act(ActivityKind.LIKE, "a", "a")) == []
    assert influence.in_edges(act(ActivityKind.PROFILE, "a")) == []
    assert [e.weight for e in influence.in_edges(act(ActivityKind.FOLLOW, "a", "b"))] == [1.0]


def test_value_decays_by_half_per_half_life() -> None:
    t0 = 1_750_000_000.0
    score = influence.add(influence.NO_SCORE, 4.0, t0, HALF_LIFE)
    assert math.isclose(influence.value_at(score, t0, HALF_LIFE), 4.0, rel_tol=1e-9)
    assert math.isclose(influence.value_at(score, t0 + HALF_LIFE, HALF_LIFE), 2.0, rel_tol=1e-9)
    assert influence.value_at(influence.NO_SCORE, t0, HALF_LIFE) == 0.0


@given(
    st.lists(
        st.tuples(st.floats(0.1, 5.0), st.floats(1_700_000_000.0, 1_800_000_000.0)), min_size=1, max_size=40
    ),
    st.randoms(use_true_random=False),
)
def test_log_score_is_order_independent_and_equals_the_direct_sum(
    items: list[tuple[float, float]], rnd: random.Random
) -> None:
    def fold(seq: list[tuple[float, float]]) -> float:
        s = influence.NO_SCORE
        for w, t in seq:
            s = influence.add(s, w, t, HALF_LIFE)
        return s

    shuffled = items[:]
    rnd.shuffle(shuffled)
    a, b = fold(items), fold(shuffled)
    assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)
    now = max(t for _, t in items)
    direct = sum(w * 2 ** (-(now - t) / HALF_LIFE) for w, t in items)
    assert math.isclose(influence.value_at(a, now, HALF_LIFE), direct, rel_tol=1e-9)


@given(st.floats(0.1, 5.0), st.floats(0.1, 5.0), st.floats(1_700_000_000.0, 1_800_000_000.0))
def test_ranking_by_log_score_matches_ranking_by_current_value(w1: float, w2: float, t: float) -> None:
    s1 = influence.add(influence.NO_SCORE, w1, t, HALF_LIFE)
    s2 = influence.add(influence.NO_SCORE, w2, t - 3600, HALF_LIFE)
    later = t + 10 * HALF_LIFE
    assert (s1 > s2) == (influence.value_at(s1, later, HALF_LIFE) > influence.value_at(s2, later, HALF_LIFE))
