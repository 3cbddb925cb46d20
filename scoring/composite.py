"""The composite influence score: four signals, each normalized to [0, 1), weighted, explained.

Signals (what an account *receives*):

- ``pagerank``: weighted PageRank over the interaction graph, taken as ``ratio`` = the account's
  rank over the rank of an account nobody interacts with (1.0 for such an account). Using the
  ratio, not the networkx-normalized value, keeps the signal local: it does not shift for every
  account whenever a stranger joins the graph.
- ``reach``: followers count (as last reported by the network; unknown counts contribute 0).
- ``engagement``: kind-weighted interactions received, decayed by age (half-life from settings).
- ``kcore``: the account's core number in the undirected interaction graph (embeddedness).

Normalization is a *saturation* curve ``x / (x + h)``: 0 at nothing, 0.5 at the half-point ``h``,
approaching 1; it is monotone, needs no global state (so an account's score changes only when its
own signals do, which is what makes incremental scoring cheap) and is easy to explain ("10x the
baseline PageRank is half of the PageRank credit"). For PageRank ``x = ratio - 1`` so that a nobody
gets 0. The weights sum to 1, so the composite is in [0, 1) and equals the sum of the contributions
``weight * normalized`` (the breakdown), exactly as reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import orjson

SIGNALS = ("pagerank", "reach", "engagement", "kcore")


@dataclass(frozen=True, slots=True)
class SignalWeights:
    """Share of each signal in the composite; must be non-negative and sum to 1."""

    pagerank: float = 0.4
    reach: float = 0.2
    engagement: float = 0.25
    kcore: float = 0.15

    def __post_init__(self) -> None:
        values = [getattr(self, f.name) for f in fields(self)]
        if any(not math.isfinite(v) or v < 0.0 for v in values) or not math.isclose(
            math.fsum(values), 1.0, abs_tol=1e-9
        ):
            raise ValueError(f"signal weights must be >= 0 and sum to 1, got {self}")


@dataclass(frozen=True, slots=True)
class HalfPoints:
    """The raw value at which each signal earns half its credit."""

    pagerank_ratio: float = 10.0
    followers: float = 1_000.0
    engagement: float = 20.0
    kcore: float = 5.0

    def __post_init__(self) -> None:
        if self.pagerank_ratio <= 1.0 or min(self.followers, self.engagement, self.kcore) <= 0.0:
            raise ValueError(f"half-points must be positive (PageRank ratio > 1), got {self}")


@dataclass(frozen=True, slots=True)
class Signals:
    """The raw signals of one account at one time."""

    pagerank: float  # networkx-normalized (all accounts sum to 1)
    pagerank_ratio: float  # over an account nobody interacts with (>= 1 once known)
    followers: int | None  # None: not reported yet
    engagement: float  # decayed, kind-weighted interactions received
    kcore: int


class Contribution(NamedTuple):
    """One signal's part of a composite (a named tuple: the engine builds many of them)."""

    signal: str
    raw: float
    normalized: float
    weight: float
    contribution: float


@dataclass(frozen=True, slots=True)
class CompositeScore:
    account_id: str
    value: float
    signals: Signals
    breakdown: tuple[Contribution, ...]
    at: float

    @property
    def reasons(self) -> tuple[str, ...]:
        """One human-readable line per signal, largest contribution first (built on demand: the
        engine scores many accounts per batch and most scores are never shown)."""
        return _reasons(self.signals, self.breakdown)

    def to_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "value": self.value,
            "pagerank": self.signals.pagerank,
            "pagerank_ratio": self.signals.pagerank_ratio,
            "followers": self.signals.followers,
            "engagement": self.signals.engagement,
            "kcore": self.signals.kcore,
            "breakdown": [
                {
                    "signal": c.signal,
                    "raw": c.raw,
                    "normalized": c.normalized,
                    "weight": c.weight,
                    "contribution": c.contribution,
                }
                for c in self.breakdown
            ],
            "reasons": list(self.reasons),
            "at": self.at,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CompositeScore:
        followers = d.get("followers")
        return cls(
            account_id=str(d["account_id"]),
            value=float(d["value"]),
            signals=Signals(
                pagerank=float(d["pagerank"]),
                pagerank_ratio=float(d["pagerank_ratio"]),
                followers=None if followers is None else int(followers),
                engagement=float(d["engagement"]),
                kcore=int(d["kcore"]),
            ),
            breakdown=tuple(
                Contribution(
                    str(c["signal"]),
                    float(c["raw"]),
                    float(c["normalized"]),
                    float(c["weight"]),
                    float(c["contribution"]),
                )
                for c in d.get("breakdown") or ()
            ),
            at=float(d["at"]),
        )

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_dict())

    def graph_properties(self) -> dict[str, Any]:
        """What to SET on the (:Account) node: flat scalars plus the breakdown as a JSON string."""
        return {
            "influence_composite": self.value,
            "influence_pagerank": self.signals.pagerank,
            "influence_pagerank_ratio": self.signals.pagerank_ratio,
            "influence_kcore": self.signals.kcore,
            "influence_engagement": self.signals.engagement,
            "influence_breakdown": self.breakdown_json(),
            "influence_at": self.at,
        }

    def breakdown_json(self) -> str:
        """``{signal: contribution}`` as JSON, e.g. for one property on a graph node."""
        return orjson.dumps({c.signal: c.contribution for c in self.breakdown}).decode()


DEFAULT_WEIGHTS = SignalWeights()
DEFAULT_HALF_POINTS = HalfPoints()


def saturate(x: float, half: float) -> float:
    """``x / (x + half)`` for ``x >= 0`` (negative or non-finite input counts as 0)."""
    if not math.isfinite(x) or x <= 0.0:
        return 0.0
    return x / (x + half)


def composite(
    account_id: str,
    signals: Signals,
    at: float,
    weights: SignalWeights | None = None,
    half: HalfPoints | None = None,
) -> CompositeScore:
    """Score one account; the breakdown's contributions sum to ``value``."""
    w = weights or DEFAULT_WEIGHTS
    h = half or DEFAULT_HALF_POINTS
    followers = float(signals.followers) if signals.followers is not None else 0.0
    kcore = float(signals.kcore)
    n_pr = saturate(signals.pagerank_ratio - 1.0, h.pagerank_ratio - 1.0)
    n_reach = saturate(followers, h.followers)
    n_eng = saturate(signals.engagement, h.engagement)
    n_k = saturate(kcore, h.kcore)
    breakdown = (
        Contribution("pagerank", signals.pagerank_ratio, n_pr, w.pagerank, w.pagerank * n_pr),
        Contribution("reach", followers, n_reach, w.reach, w.reach * n_reach),
        Contribution("engagement", signals.engagement, n_eng, w.engagement, w.engagement * n_eng),
        Contribution("kcore", kcore, n_k, w.kcore, w.kcore * n_k),
    )
    value = breakdown[0][4] + breakdown[1][4] + breakdown[2][4] + breakdown[3][4]
    return CompositeScore(account_id, value, signals, breakdown, at)


def _reasons(signals: Signals, breakdown: tuple[Contribution, ...]) -> tuple[str, ...]:
    """One line per signal, largest contribution first, saying the raw value and its share."""
    text = {
        "pagerank": f"PageRank {signals.pagerank_ratio:.1f}x that of an account nobody interacts with",
        "reach": (
            f"{signals.followers:,} followers" if signals.followers is not None else "followers not reported"
        ),
        "engagement": f"{signals.engagement:.1f} decayed weighted interactions received",
        "kcore": f"in the {signals.kcore}-core of the interaction graph",
    }
    ordered = sorted(breakdown, key=lambda c: (-c.contribution, c.signal))
    return tuple(
        f"{text[c.signal]}: +{c.contribution:.3f} ({c.normalized:.0%} of weight {c.weight:.2f})"
        for c in ordered
    )
