"""What a post's author wants: a complaint, purchase intent, churn risk, a question, or none of these.

Classified by embedding similarity to labelled examples kept in the repository
(``scoring/data/intent_examples.jsonl``, written by the Groundswell team): the examples are embedded
once with the shared :class:`embedding.encoder.Encoder`, a text is embedded and compared with them.
No training step, so a team can fix a misclassification by adding an example.

Each class gets a score from the text's cosine similarities to that class's examples:

- ``CENTROID``: cosine to the (re-normalised) mean of the class's example vectors;
- ``KNN``: mean cosine of the ``k`` most similar examples of the class.

The class with the highest score wins. The outcome is "none" (``intent is None``) when that class is
the ``none`` class (examples of posts that mention the company but want nothing: praise, news,
chatter), when its score is below ``min_similarity`` (the text is unlike every example), or when it
beats the ``none`` class by less than ``margin``. ``confidence`` is the softmax probability of the
outcome over the class scores (``temperature`` sets how peaked it is). The evidence is the most
similar example of the winning class, so a reader can see why.

The defaults were chosen by ``python -m benchmarks.intent_eval``: centroids beat kNN on the held-out
split (0.80 vs 0.53-0.62 accuracy) and in 4-fold cross-validation (0.76 vs 0.47-0.59); a margin over
"none" only lowered accuracy.

The texts are embedded with all of MiniLM's 6 transformer layers. The classifier also runs on an
``Encoder(layers=k)`` of fewer (``python -m benchmarks.intent_eval --layers 3``); the
"none" rule and the temperature are calibrated per depth (``CALIBRATION``), because vectors of fewer
layers all sit closer together. Measured at 3 layers: half the model time, and better on the
examples (4-fold CV 0.83 vs 0.76, held-out 0.88 vs 0.80) with as few real comments given an intent
(1 of 300, threshold 0.80). But on short posts written apart from the examples ("acme app keeps
crashing", "how much is the acme x2?") it found the intent of 5 of 12 against 11 of 12 (accuracy
0.50 vs 0.79): below the last layer the vectors carry the examples' wording more than their
meaning. So intent keeps the whole model.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
import orjson

from embedding.encoder import MODEL_LAYERS, Encoder

#: the intents a post can carry (ScoredPost.intent), in a fixed order
INTENTS: tuple[str, ...] = ("complaint", "purchase_intent", "churn_risk", "question")
#: the label of examples that want nothing
NONE = "none"
CLASSES: tuple[str, ...] = (*INTENTS, NONE)

EXAMPLES_PATH = Path(__file__).with_name("data") / "intent_examples.jsonl"

#: (min_similarity, temperature) calibrated per depth of the encoder (transformer layers it runs)
CALIBRATION: dict[int, tuple[float, float]] = {MODEL_LAYERS: (0.35, 0.03), 3: (0.80, 0.01)}

Matrix = npt.NDArray[np.float32]

#: vectors of recent texts the product's classifier keeps (its encoder's cache). Mentions rarely
#: repeat word for word (a replayed one is skipped before it is classified), and each cached text
#: holds ~1.8 KB, a vector derived from someone's post: at the encoder's default of 100,000 that was
#: up to ~180 MB of a scoring worker's memory for few hits. This many still catch a burst of copies
#: (9 % of the texts of the real samples in ../shared/data/social repeat within 4,096, mostly bots).
#: The priority stage passes each text's author, so an erasure drops them (``forget_owners``).
INTENT_CACHE_SIZE = 4_096


class TextEncoder(Protocol):
    """What the classifier needs from :class:`embedding.encoder.Encoder`: unit vectors, one per text."""

    def encode(self, texts: Sequence[str], owners: Sequence[str] | None = None) -> Matrix: ...

    def forget_owners(self, owners: Iterable[str]) -> int: ...


class Method(StrEnum):
    CENTROID = "centroid"
    KNN = "knn"


@dataclass(frozen=True, slots=True)
class LabelledExample:
    text: str
    intent: str  # one of CLASSES
    held_out: bool = False  # True: kept out of the classifier, used only to measure it


@dataclass(frozen=True, slots=True)
class IntentResult:
    """``intent`` is one of INTENTS, or None for "none"; ``confidence`` is the probability of this
    outcome (of "none" when ``intent`` is None); ``evidence`` the most similar example of the
    winning class and ``evidence_similarity`` its cosine to the text."""

    intent: str | None
    confidence: float
    evidence: str | None = None
    evidence_similarity: float = 0.0
    label: str = NONE  # the winning class before the none-rules (for evaluation)

    @property
    def reason(self) -> str:
        """Human-readable, e.g. ``complaint (0.82)``."""
        return f"{self.intent or NONE} ({self.confidence:.2f})"


def load_examples(path: Path = EXAMPLES_PATH) -> list[LabelledExample]:
    """The labelled examples (skipping the provenance line). A malformed line is a ValueError naming
    the line: the file ships with the code, so a broken one must fail loudly at start-up."""
    examples: list[LabelledExample] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON ({exc})") from exc
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{number}: expected an object")
        if "provenance" in row:
            continue
        text, intent, split = row.get("text"), row.get("intent"), row.get("split", "train")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{path}:{number}: missing text")
        if intent not in CLASSES:
            raise ValueError(f"{path}:{number}: intent {intent!r} is not one of {CLASSES}")
        if split not in ("train", "test"):
            raise ValueError(f"{path}:{number}: split {split!r} is not 'train' or 'test'")
        examples.append(LabelledExample(text=text, intent=intent, held_out=split == "test"))
    return examples


class IntentClassifier:
    """Embeds its examples once; then classifies texts (batched) by similarity to them."""

    def __init__(
        self,
        encoder: TextEncoder,
        examples: Sequence[LabelledExample] | None = None,
        *,
        method: Method = Method.CENTROID,
        k: int = 3,
        min_similarity: float | None = None,
        margin: float = 0.0,
        temperature: float | None = None,
    ) -> None:
        """``min_similarity`` and ``temperature`` default to ``CALIBRATION`` for the encoder's depth
        (its ``layers`` attribute; an encoder without one is taken as the whole model)."""
        depth = getattr(encoder, "layers", MODEL_LAYERS)
        if min_similarity is None or temperature is None:
            if depth not in CALIBRATION:
                raise ValueError(f"no calibration for {depth} layers: give min_similarity, temperature")
            calibrated_min, calibrated_temperature = CALIBRATION[depth]
            min_similarity = calibrated_min if min_similarity is None else min_similarity
            temperature = calibrated_temperature if temperature is None else temperature
        chosen = [e for e in load_examples() if not e.held_out] if examples is None else list(examples)
        missing = [c for c in CLASSES if not any(e.intent == c for e in chosen)]
        if missing:
            raise ValueError(f"no examples for {missing}")
        if k < 1 or temperature <= 0.0:
            raise ValueError("k must be >= 1 and temperature > 0")
        self._encoder = encoder
        self.method = method
        self._k = k
        self._min_similarity = min_similarity
        self._margin = margin
        self._temperature = temperature
        self._texts = [e.text for e in chosen]
        self._labels = np.array([CLASSES.index(e.intent) for e in chosen], dtype=np.int64)
        self._vectors = np.asarray(encoder.encode(self._texts), dtype=np.float32)
        centroids = np.stack([self._vectors[self._labels == c].mean(axis=0) for c in range(len(CLASSES))])
        norms = np.linalg.norm(centroids, axis=1, keepdims=True)
        self._centroids = (centroids / np.maximum(norms, 1e-12)).astype(np.float32)

    def __len__(self) -> int:
        return len(self._texts)

    def classify(self, text: str) -> IntentResult:
        return self.classify_many([text])[0]

    def classify_many(self, texts: Sequence[str], owners: Sequence[str] | None = None) -> list[IntentResult]:
        """One result per text, in order; one encoder call for the batch (the model is the cost).
        ``owners``: the account whose text each one is, so ``forget_owners`` can erase the cached
        vectors of an account's texts."""
        if not texts:
            return []
        return self.classify_vectors(self._encoder.encode([t[:2000] for t in texts], owners))

    def forget_owners(self, owners: Iterable[str]) -> int:
        """Drop the encoder's cached vectors of these accounts' texts (an erasure); -> how many."""
        return self._encoder.forget_owners(owners)

    def classify_vectors(self, vectors: Matrix) -> list[IntentResult]:
        """Classify already-embedded texts (unit vectors, one row per text)."""
        sims = np.asarray(vectors, dtype=np.float32) @ self._vectors.T  # (n, examples)
        scores = self._class_scores(np.asarray(vectors, dtype=np.float32), sims)  # (n, classes)
        z = scores / self._temperature
        probs = np.exp(z - z.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        none = CLASSES.index(NONE)
        results: list[IntentResult] = []
        for i in range(scores.shape[0]):
            best = int(np.argmax(scores[i]))
            label = CLASSES[best]
            in_class = np.flatnonzero(self._labels == best)
            nearest = int(in_class[np.argmax(sims[i, in_class])])
            evidence, evidence_sim = self._texts[nearest], float(sims[i, nearest])
            is_none = (
                best == none
                or scores[i, best] < self._min_similarity
                or scores[i, best] - scores[i, none] < self._margin
            )
            if is_none:
                results.append(
                    IntentResult(
                        None, round(float(probs[i, none]), 4), evidence, round(evidence_sim, 4), label
                    )
                )
            else:
                results.append(
                    IntentResult(
                        label, round(float(probs[i, best]), 4), evidence, round(evidence_sim, 4), label
                    )
                )
        return results

    def _class_scores(self, vectors: Matrix, sims: Matrix) -> Matrix:
        if self.method is Method.CENTROID:
            out: Matrix = vectors @ self._centroids.T
            return out
        scores = np.empty((sims.shape[0], len(CLASSES)), dtype=np.float32)
        for c in range(len(CLASSES)):
            cls = sims[:, self._labels == c]
            k = min(self._k, cls.shape[1])
            top = -np.partition(-cls, k - 1, axis=1)[:, :k]
            scores[:, c] = top.mean(axis=1)
        return scores


def default_classifier() -> IntentClassifier:
    """The product's classifier: the whole model, the repo's examples, a small cache."""
    return IntentClassifier(Encoder(cache_size=INTENT_CACHE_SIZE))
