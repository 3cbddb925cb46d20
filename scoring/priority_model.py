"""How urgent a post is: a documented weighted combination of its signals, with the reasons.

Each signal is first mapped into [0, 1]:

- negativity: ``max(0, -sentiment)`` (VADER compound; praise is not urgent);
- intent: ``urgency[intent] * confidence`` (complaint and churn risk 1.0, purchase intent 0.8,
  question 0.6; no intent 0);
- influence, customer value, velocity: saturating, ``1 - 2^(-x / scale)``, so the signal is one
  half at ``x = scale`` and no single huge account or customer swamps the rest.

The base is the weighted sum with weights scaled to sum to 1, so it lies in [0, 1]. Recency then
multiplies it by ``floor + (1 - floor) * 2^(-age / half_life)``: a fresh post keeps its full base, an
old one (a replay, a late delivery) keeps at least ``floor`` of it, so ordering among old posts still
follows their content. ``priority = base * recency``.

``breakdown`` lists each signal's weighted contribution to the base and, last, ``recency`` (zero or
negative: what age took away), so the entries sum to ``priority``. Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from groundswell.settings import Settings

#: how urgent each intent is, before its confidence
INTENT_URGENCY: dict[str, float] = {
    "complaint": 1.0,
    "churn_risk": 1.0,
    "purchase_intent": 0.8,
    "question": 0.6,
}


@dataclass(frozen=True, slots=True)
class Weights:
    """Relative weights of the signals (any non-negative numbers; scaled to sum to 1)."""

    negativity: float = 0.30
    intent: float = 0.25
    influence: float = 0.20
    customer_value: float = 0.15
    velocity: float = 0.10

    def normalised(self) -> tuple[float, float, float, float, float]:
        raw = (self.negativity, self.intent, self.influence, self.customer_value, self.velocity)
        if any(not math.isfinite(w) or w < 0.0 for w in raw) or sum(raw) <= 0.0:
            raise ValueError(f"priority weights must be finite, non-negative and not all zero: {raw}")
        total = sum(raw)
        n, i, f, c, v = (w / total for w in raw)
        return n, i, f, c, v


@dataclass(frozen=True, slots=True)
class PriorityModel:
    weights: Weights = field(default_factory=Weights)
    #: influence at which the influence signal is one half (the stream passes the composite
    #: influence in [0, 1) with settings.priority_influence_scale; 10 suits scoring.influence units)
    influence_scale: float = 10.0
    #: customer value (CRM currency) at which the customer-value signal is one half
    customer_value_scale: float = 10_000.0
    #: mentions/hour at which the velocity signal is one half
    velocity_scale: float = 5.0
    recency_half_life_s: float = 6 * 3600.0
    #: the share of the base an arbitrarily old post keeps
    recency_floor: float = 0.5

    def __post_init__(self) -> None:
        self.weights.normalised()  # validates
        scales = (
            self.influence_scale,
            self.customer_value_scale,
            self.velocity_scale,
            self.recency_half_life_s,
        )
        if any(not math.isfinite(s) or s <= 0.0 for s in scales):
            raise ValueError(f"priority scales and half-life must be positive: {scales}")
        if not 0.0 <= self.recency_floor <= 1.0:
            raise ValueError(f"recency_floor must be in [0, 1]: {self.recency_floor}")

    @classmethod
    def from_settings(cls, settings: Settings) -> PriorityModel:
        return cls(
            weights=Weights(
                negativity=settings.priority_weight_negativity,
                intent=settings.priority_weight_intent,
                influence=settings.priority_weight_influence,
                customer_value=settings.priority_weight_customer_value,
                velocity=settings.priority_weight_velocity,
            ),
            influence_scale=settings.priority_influence_scale,
            customer_value_scale=settings.priority_customer_value_scale,
            velocity_scale=settings.priority_velocity_scale,
            recency_half_life_s=settings.priority_recency_half_life_hours * 3600.0,
            recency_floor=settings.priority_recency_floor,
        )


DEFAULT_MODEL = PriorityModel()


@dataclass(frozen=True, slots=True)
class Priority:
    value: float  # in [0, 1]
    breakdown: tuple[tuple[str, float], ...]  # sums to value
    reasons: tuple[str, ...]


def saturate(x: float, scale: float) -> float:
    """``1 - 2^(-x/scale)`` for x >= 0 (0 for negative or non-finite x): 0.5 at ``scale``, below 1."""
    if not math.isfinite(x) or x <= 0.0:
        return 0.0
    return 1.0 - math.exp(-math.log(2.0) * x / scale)


def _finite(x: float | None) -> float:
    return x if x is not None and math.isfinite(x) else 0.0


def combine(
    *,
    sentiment: float,
    influence: float,
    intent: str | None = None,
    intent_confidence: float = 0.0,
    customer_value: float | None = None,
    velocity: float = 0.0,
    age_s: float = 0.0,
    model: PriorityModel = DEFAULT_MODEL,
) -> Priority:
    """The priority of one post from its signals (see the module docstring). Non-finite or
    out-of-range inputs are clamped, never raised: a bad signal must not stop the stream."""
    sentiment = min(1.0, max(-1.0, _finite(sentiment)))
    negativity = max(0.0, -sentiment)
    confidence = min(1.0, max(0.0, _finite(intent_confidence)))
    urgency = INTENT_URGENCY.get(intent, 0.0) * confidence if intent is not None else 0.0
    reach = saturate(_finite(influence), model.influence_scale)
    value = saturate(_finite(customer_value), model.customer_value_scale)
    speed = saturate(_finite(velocity), model.velocity_scale)
    w_neg, w_int, w_inf, w_val, w_vel = model.weights.normalised()
    parts = (
        ("negativity", w_neg * negativity),
        ("intent", w_int * urgency),
        ("influence", w_inf * reach),
        ("customer_value", w_val * value),
        ("velocity", w_vel * speed),
    )
    base = min(1.0, sum(p for _, p in parts))
    age = max(0.0, _finite(age_s))
    decay = model.recency_floor + (1.0 - model.recency_floor) * math.exp(
        -math.log(2.0) * age / model.recency_half_life_s
    )
    priority = min(1.0, max(0.0, round(base * decay, 6)))
    rounded = tuple((name, round(p, 6)) for name, p in parts)
    breakdown = (*rounded, ("recency", priority - sum(p for _, p in rounded)))

    reasons = [f"sentiment {sentiment:+.2f}", f"author influence {_finite(influence):.2f}"]
    if negativity >= 0.5:
        reasons.append("strongly negative")
    if intent is not None and urgency > 0.0:
        reasons.append(f"{intent} ({confidence:.2f})")
    if reach >= 0.5:
        reasons.append("influential author")
    if customer_value is not None and math.isfinite(customer_value):
        reasons.append(f"customer value {customer_value:,.0f}")
    if speed > 0.0:
        reasons.append(f"{_finite(velocity):.3g} mentions/hour")
    if decay < 0.95:
        reasons.append(f"posted {_age_text(age)} ago")
    return Priority(value=priority, breakdown=breakdown, reasons=tuple(reasons))


def _age_text(age_s: float) -> str:
    if age_s < 3600.0:
        return f"{age_s / 60.0:.0f} min"
    if age_s < 2 * 86400.0:
        return f"{age_s / 3600.0:.0f} h"
    return f"{age_s / 86400.0:.0f} days"
