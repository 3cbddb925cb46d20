"""First influence score: time-decayed weighted in-degree.

Every interaction an account receives (mention, reply, repost, quote, like, follow) adds its
kind's weight; weights decay exponentially with the event's age (half-life from settings).

The score is kept in log space relative to a fixed epoch, ``L = ln(sum_i w_i * 2^((t_i - T0)/h))``.
Then (a) adding an interaction is ``logaddexp``, independent of arrival order; (b) ranking
accounts by ``L`` ranks them by their current score at *any* time, because every score decays by the
same factor, so the graph store can index ``L`` once and never rewrite stale nodes; (c) the value
at time ``t`` is ``exp(L - ln2 * (t - T0)/h)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from activity.schema import Activity, ActivityKind

#: 2024-01-01T00:00:00Z: the reference time of every log-score
EPOCH = 1_704_067_200.0

#: what one interaction of a kind is worth to the account that receives it
KIND_WEIGHTS: dict[ActivityKind, float] = {
    ActivityKind.MENTION: 1.0,
    ActivityKind.REPLY: 2.0,
    ActivityKind.QUOTE: 3.0,
    ActivityKind.REPOST: 2.0,
    ActivityKind.LIKE: 0.5,
    ActivityKind.FOLLOW: 1.0,
}
#: a plain mention inside any post
MENTION_WEIGHT = 1.0

NO_SCORE = -math.inf


@dataclass(frozen=True, slots=True)
class InEdge:
    """One unit of influence an account receives from one event."""

    account_id: str
    weight: float
    at: float
    event_id: str


def in_edges(activity: Activity) -> list[InEdge]:
    """The influence this activity confers, one entry per receiving account (self-interactions excluded)."""
    received: dict[str, float] = {}
    actor = activity.actor.id
    kind_weight = KIND_WEIGHTS.get(activity.kind)
    if kind_weight is not None and activity.target_account is not None:
        received[activity.target_account.id] = kind_weight
    if activity.kind in (ActivityKind.POST, ActivityKind.REPLY, ActivityKind.QUOTE, ActivityKind.MENTION):
        for m in activity.mentions:
            received[m.id] = max(received.get(m.id, 0.0), MENTION_WEIGHT)
    received.pop(actor, None)
    return [
        InEdge(account_id=a, weight=w, at=activity.created_at, event_id=activity.event_id)
        for a, w in sorted(received.items())
    ]


def add(log_score: float, weight: float, at: float, half_life_s: float) -> float:
    """Add an interaction of ``weight`` at event time ``at`` to a log-score."""
    term = math.log(weight) + math.log(2.0) * (at - EPOCH) / half_life_s
    if log_score == NO_SCORE:
        return term
    hi, lo = (log_score, term) if log_score >= term else (term, log_score)
    return hi + math.log1p(math.exp(lo - hi))


def value_at(log_score: float, now: float, half_life_s: float) -> float:
    """The decayed score at time ``now``."""
    if log_score == NO_SCORE:
        return 0.0
    return math.exp(log_score - math.log(2.0) * (now - EPOCH) / half_life_s)
