"""Is this the same person? Field comparisons and the embedding cosine -> a calibrated probability.

The model is a logistic regression over the indicator features of ``identity.compare`` (plus the
cosine), so every feature's contribution to the log-odds is explicit and becomes a piece of
``Evidence``. Its coefficients are fitted offline by ``python -m identity.train_matcher`` on labelled
pairs that are not used for evaluation, and stored with how they were trained in
``identity/data/match_model.json``. Thresholds turn the probability into merge / review / no match.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from identity.compare import FEATURE_NAMES, Prepared, compare, prepare
from identity.records import Evidence, MatchDecision, MatchOutcome, ProfileRecord

MODEL_PATH = Path(__file__).parent / "data" / "match_model.json"


class ModelError(ValueError):
    """The stored model is missing or malformed."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    """``probability >= merge`` merges automatically; ``>= review`` asks a human; below, no match."""

    merge: float = 0.9
    review: float = 0.5

    def __post_init__(self) -> None:
        if not (0.0 <= self.review <= self.merge <= 1.0):
            raise ValueError(f"need 0 <= review <= merge <= 1, got review={self.review} merge={self.merge}")

    def outcome(self, probability: float) -> MatchOutcome:
        if probability >= self.merge:
            return MatchOutcome.MERGE
        if probability >= self.review:
            return MatchOutcome.REVIEW
        return MatchOutcome.NO_MATCH


@dataclass(frozen=True, slots=True)
class MatchModel:
    """Logistic-regression coefficients over ``FEATURE_NAMES`` and the record of how they were fitted."""

    intercept: float
    weights: Mapping[str, float]
    thresholds: Thresholds = Thresholds()
    training: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MatchModel:
        try:
            weights = {str(k): float(v) for k, v in data["weights"].items()}
            intercept = float(data["intercept"])
            th = data.get("thresholds") or {}
            thresholds = Thresholds(merge=float(th.get("merge", 0.9)), review=float(th.get("review", 0.5)))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"malformed match model: {exc!r}") from exc
        unknown = sorted(set(weights) - set(FEATURE_NAMES))
        if unknown:
            raise ModelError(f"match model has weights for unknown features: {unknown}")
        return cls(intercept, weights, thresholds, dict(data.get("training") or {}))

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> MatchModel:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"cannot read match model {path}: {exc}") from exc
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return {
            "intercept": self.intercept,
            "weights": {name: self.weights.get(name, 0.0) for name in FEATURE_NAMES},
            "thresholds": {"merge": self.thresholds.merge, "review": self.thresholds.review},
            "training": dict(self.training),
        }


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class Matcher:
    """Pure decision function over two profiles (and their embedding cosine, when known)."""

    def __init__(self, thresholds: Thresholds | None = None, model: MatchModel | None = None) -> None:
        self.model = model if model is not None else MatchModel.load()
        self.thresholds = thresholds if thresholds is not None else self.model.thresholds

    def decide(self, a: ProfileRecord, b: ProfileRecord, cosine: float | None = None) -> MatchDecision:
        """The calibrated decision on ``(a, b)``; ``cosine`` may be ``None``/NaN when not computed."""
        if a.record_id == b.record_id:
            evidence = (Evidence("same_record", 1.0, math.inf, "the same record id"),)
            return MatchDecision(a.record_id, b.record_id, 1.0, MatchOutcome.MERGE, evidence)
        return self.decide_prepared(prepare(a), prepare(b), cosine)

    def decide_prepared(self, a: Prepared, b: Prepared, cosine: float | None = None) -> MatchDecision:
        probability, evidence = self.score(a, b, cosine)
        return MatchDecision(
            a.record_id, b.record_id, probability, self.thresholds.outcome(probability), evidence
        )

    def score(
        self, a: Prepared, b: Prepared, cosine: float | None = None
    ) -> tuple[float, tuple[Evidence, ...]]:
        features = compare(a, b, cosine)
        z = self.model.intercept
        evidence: list[Evidence] = []
        for name in FEATURE_NAMES:  # a fixed order: the sum does not depend on which record came first
            if name in features:
                value, detail = features[name]
                contribution = self.model.weights.get(name, 0.0) * value
                z += contribution
                evidence.append(Evidence(name, value, contribution, detail))
        evidence.sort(key=lambda e: -abs(e.contribution))
        return sigmoid(z), tuple(evidence)

    def probability(self, a: Prepared, b: Prepared, cosine: float | None = None) -> float:
        return self.score(a, b, cosine)[0]
