"""Intent by embedding similarity to the labelled examples in scoring/data (real model, one per module)."""

from __future__ import annotations

from pathlib import Path

import pytest

from activity.schema import AccountRef, Activity, ActivityKind, Network
from embedding.encoder import Encoder
from scoring.intent import (
    CLASSES,
    NONE,
    IntentClassifier,
    LabelledExample,
    Method,
    load_examples,
)
from scoring.priority import MentionSignals, TopicMatcher, score_mention

#: measured held-out accuracy of the default (centroid) classifier is 0.80 (benchmarks/intent_eval.py)
ACCURACY_FLOOR = 0.75


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder()


@pytest.fixture(scope="module")
def classifier(encoder: Encoder) -> IntentClassifier:
    return IntentClassifier(encoder)  # the bundled examples' train split


def test_bundled_examples_have_every_class_a_held_out_split_and_provenance() -> None:
    examples = load_examples()
    for c in CLASSES:
        train = [e for e in examples if e.intent == c and not e.held_out]
        test = [e for e in examples if e.intent == c and e.held_out]
        assert len(train) >= 30 and len(test) >= 10, c
    assert len({e.text for e in examples}) == len(examples)  # no example both trained on and held out
    first = Path("scoring/data/intent_examples.jsonl").read_text(encoding="utf-8").splitlines()[0]
    assert "Groundswell team" in first


def test_held_out_accuracy_is_above_the_floor(classifier: IntentClassifier) -> None:
    held_out = [e for e in load_examples() if e.held_out]
    results = classifier.classify_many([e.text for e in held_out])
    predicted = [r.intent or NONE for r in results]
    accuracy = sum(p == e.intent for p, e in zip(predicted, held_out, strict=True)) / len(held_out)
    assert accuracy >= ACCURACY_FLOOR, accuracy
    for c in CLASSES:  # no class is given up on
        of_class = [p for p, e in zip(predicted, held_out, strict=True) if e.intent == c]
        assert sum(p == c for p in of_class) / len(of_class) >= 0.4, c
    assert len(classifier) == sum(1 for e in load_examples() if not e.held_out)


def test_result_carries_confidence_and_the_nearest_example_as_evidence(classifier: IntentClassifier) -> None:
    complaint = classifier.classify(
        "@acme the parcel came smashed and support still hasn't replied after a week"
    )
    assert complaint.intent == "complaint"
    assert 0.0 < complaint.confidence <= 1.0
    assert complaint.evidence in {e.text for e in load_examples() if e.intent == "complaint"}
    assert 0.3 < complaint.evidence_similarity <= 1.0
    assert complaint.reason.startswith("complaint (")
    leaving = classifier.classify("cancelling my acme plan today, switching to a competitor")
    assert leaving.intent == "churn_risk"
    buying = classifier.classify("thinking of buying the acme noise cancelling headphones, worth it?")
    assert buying.intent == "purchase_intent"
    asking = classifier.classify("how do I reset the password on my acme account?")
    assert asking.intent == "question"


def test_praise_and_news_have_no_intent(classifier: IntentClassifier, encoder: Encoder) -> None:
    for text in ("love my new acme speaker, sounds amazing", "acme announced a new office in Porto today"):
        assert classifier.classify(text).intent is None, text
    strict = IntentClassifier(encoder, min_similarity=0.99)
    result = strict.classify("my acme order arrived broken")
    assert result.intent is None and result.label == "complaint"  # like complaints, but not enough


def test_batches_agree_with_single_texts_and_empty_batches_cost_nothing(classifier: IntentClassifier) -> None:
    texts = ["acme app keeps crashing", "where can I buy acme shoes", "", "x" * 5000]
    batch = classifier.classify_many(texts)
    assert [r.intent for r in batch] == [classifier.classify(t).intent for t in texts]
    assert classifier.classify_many([]) == []


def test_knn_method_also_classifies(encoder: Encoder) -> None:
    knn = IntentClassifier(encoder, method=Method.KNN, k=3)
    assert knn.classify("cancelling my acme subscription, done with them").intent == "churn_risk"


def test_bad_example_files_fail_loudly_naming_the_line(tmp_path: Path, encoder: Encoder) -> None:
    cases = {
        "not JSON": "{",
        "missing text": '{"intent": "complaint"}',
        "is not one of": '{"text": "x", "intent": "rant"}',
        "split": '{"text": "x", "intent": "complaint", "split": "dev"}',
        "expected an object": "[1]",
    }
    for message, line in cases.items():
        path = tmp_path / "ex.jsonl"
        path.write_text('{"provenance": "test"}\n' + line + "\n", encoding="utf-8")
        with pytest.raises(ValueError, match=message) as info:
            load_examples(path)
        assert ":2:" in str(info.value)
    with pytest.raises(ValueError, match="no examples for"):
        IntentClassifier(encoder, [LabelledExample("x", "complaint")])
    with pytest.raises(ValueError, match="temperature"):
        IntentClassifier(encoder, [LabelledExample(f"{c} example", c) for c in CLASSES], temperature=0.0)


def test_thresholds_come_calibrated_for_the_encoders_depth() -> None:
    """Fewer layers give vectors closer to each other: a 3-layer "none" threshold at the 6-layer
    value would give nearly every real comment an intent (benchmarks/intent_eval.py)."""
    examples = [LabelledExample(f"{c} example", c) for c in CLASSES]
    assert IntentClassifier(Encoder(layers=3), examples)._min_similarity == 0.80
    assert IntentClassifier(Encoder(), examples)._min_similarity == 0.35
    with pytest.raises(ValueError, match="no calibration for 4 layers"):
        IntentClassifier(Encoder(layers=4), examples)
    explicit = IntentClassifier(Encoder(layers=4), examples, min_similarity=0.7, temperature=0.02)
    assert explicit._min_similarity == 0.7


def test_mention_signals_classify_a_batch_in_one_pass_and_the_scorer_reads_it(
    classifier: IntentClassifier, encoder: Encoder
) -> None:
    built: list[int] = []

    def factory() -> IntentClassifier:
        built.append(1)
        return classifier

    signals = MentionSignals(TopicMatcher("acme", ["acme"]), intents=factory)
    assert signals.signals([_post("e0", "nothing to see")]) == [] and built == []  # no mention: no model
    texts = [
        "acme charged me twice and support ignores me",
        "where can I buy the acme x2?",
        "acme day!",
    ]
    before = encoder.computed
    found = signals.signals([_post(f"e{i}", t) for i, t in enumerate(texts, start=1)])
    assert encoder.computed - before == len(texts) and built == [1]  # one encoder pass for the batch
    records = [r for _, r in found]
    assert [r["intent"] for r in records] == ["complaint", "purchase_intent", None]
    assert records[0]["intent_evidence"] and 0.0 < records[0]["intent_confidence"] <= 1.0
    scored = score_mention(records[0], influence=5.0, customer_value=40_000.0, person_id="crm:7")
    assert scored.intent == "complaint" and scored.person_id == "crm:7"
    assert (
        any(r.startswith("complaint (") for r in scored.reasons) and "customer value 40,000" in scored.reasons
    )


def _post(event_id: str, text: str) -> Activity:
    return Activity(
        event_id=event_id,
        kind=ActivityKind.POST,
        network=Network.BLUESKY,
        actor=AccountRef(id="bluesky:did:plc:a", network=Network.BLUESKY),
        created_at=1_750_000_000.0,
        received_at=1_750_000_000.0,
        source="test",
        text=text,
    )
