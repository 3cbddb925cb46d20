"""Is this the same person? Field comparisons and the embedding cosine -> a calibrated probability.

The model is a logistic regression over the indicator features of ``identity.compare`` (plus the
cosine), so every feature's contribution to the log-odds is explicit and becomes a piece of
``Evidence``. Its coefficients are fitted offline by ``python -m identity.train_matcher`` on labelled
pairs that are not used for evaluation, and stored with how they were trained in
``identity/data/match_model.json``. Thresholds turn the probability into merge / review / no match.

Pairs of two social-network accounts (``Prepared.social``) are weighed by a second pair of models
fitted on social profiles only, when the stored document has them (``social_with_cosine``,
``social_without_cosine``): on registry records (FEBRL-like person data) a wholly different given
name is often a typo next to an agreeing birth date and address, while between two accounts of one
person the given name rarely changes and a bio or a handle is the evidence; one set of weights cannot
say both.

One rule overrides the model: two records of the same account (the same record id, or the same
canonical handle, e.g. a Bridgy-Fed mirror and its original) are the same person, probability 1.
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
_SOCIAL_VARIANTS = ("social_with_cosine", "social_without_cosine")


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
    def from_dict(cls, data: Mapping[str, Any], variant: str = "with_cosine") -> MatchModel:
        """One variant (``with_cosine`` / ``without_cosine``) of the stored model document."""
        try:
            part = data[variant]
            weights = {str(k): float(v) for k, v in part["weights"].items()}
            intercept = float(part["intercept"])
            th = data.get("thresholds") or {}
            thresholds = Thresholds(merge=float(th.get("merge", 0.9)), review=float(th.get("review", 0.5)))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"malformed match model ({variant}): {exc!r}") from exc
        unknown = sorted(set(weights) - set(FEATURE_NAMES))
        if unknown:
            raise ModelError(f"match model has weights for unknown features: {unknown}")
        training = {**dict(data.get("training") or {}), "variant": variant}
        return cls(intercept, weights, thresholds, training)


def load_models(path: Path = MODEL_PATH) -> tuple[MatchModel | None, MatchModel]:
    """The stored models: (with the embedding cosine, or ``None`` if not fitted; without it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read match model {path}: {exc}") from exc
    with_cosine = MatchModel.from_dict(data, "with_cosine") if "with_cosine" in data else None
    return with_cosine, MatchModel.from_dict(data, "without_cosine")


def load_social_models(path: Path = MODEL_PATH) -> tuple[MatchModel | None, MatchModel | None]:
    """The stored social-profile models (with the cosine; without it), each ``None`` if not fitted."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read match model {path}: {exc}") from exc
    models = [MatchModel.from_dict(data, v) if v in data else None for v in _SOCIAL_VARIANTS]
    return models[0], models[1]


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class Matcher:
    """Pure decision function over two profiles (and their embedding cosine, when known).

    Two fitted models: one weighing the cosine, and one fitted without it, used when the cosine is
    not known (so a probability stays calibrated whether or not the profiles were embedded); and the
    same two fitted on social profiles only, for pairs of two network accounts (when not given or
    not stored, the general ones weigh those pairs too).
    """

    def __init__(
        self,
        thresholds: Thresholds | None = None,
        model: MatchModel | None = None,
        model_without_cosine: MatchModel | None = None,
        social_model: MatchModel | None = None,
        social_model_without_cosine: MatchModel | None = None,
    ) -> None:
        if model is None and model_without_cosine is None:
            model, model_without_cosine = load_models()
            if social_model is None and social_model_without_cosine is None:
                social_model, social_model_without_cosine = load_social_models()
        plain = model_without_cosine if model_without_cosine is not None else model
        if plain is None:
            raise ModelError("no match model")
        self.model = model if model is not None else plain
        self.model_without_cosine = plain
        social_plain = (
            social_model_without_cosine if social_model_without_cosine is not None else social_model
        )
        self.social_model = social_model if social_model is not None else social_plain or self.model
        self.social_model_without_cosine = social_plain or plain
        self.thresholds = thresholds if thresholds is not None else plain.thresholds

    def model_for(self, a: Prepared, b: Prepared, with_cosine: bool) -> MatchModel:
        """The model that weighs ``(a, b)``: social or general, with or without the cosine."""
        if a.social and b.social:
            return self.social_model if with_cosine else self.social_model_without_cosine
        return self.model if with_cosine else self.model_without_cosine

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
        model = self.model_for(a, b, "cosine" in features)
        z = math.inf if "same_account" in features else model.intercept  # one account seen twice
        evidence: list[Evidence] = []
        # compare() emits features in a fixed code order whichever record came first, so the sum
        # (and the probability) is exactly symmetric
        for name, (value, detail) in features.items():
            contribution = math.inf if name == "same_account" else model.weights.get(name, 0.0) * value
            z += contribution
            evidence.append(Evidence(name, value, contribution, detail))
        evidence.sort(key=lambda e: -abs(e.contribution))
        return sigmoid(z), tuple(evidence)

    def probability(self, a: Prepared, b: Prepared, cosine: float | None = None) -> float:
        """``score`` without building the evidence (bulk scoring)."""
        features = compare(a, b, cosine)
        model = self.model_for(a, b, "cosine" in features)
        if "same_account" in features:
            return 1.0
        weights = model.weights
        z = model.intercept
        for name, (value, _detail) in features.items():
            z += weights.get(name, 0.0) * value
        return sigmoid(z)
