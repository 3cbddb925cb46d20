"""identity.candidates.CandidateSearch with the real MiniLM encoder: ANN hits, exact-key hits, erasure."""

from __future__ import annotations

import numpy as np
import pytest

from embedding.encoder import Encoder, content_hash
from identity.ann import VectorIndex
from identity.candidates import CandidateSearch
from identity.profile_text import profile_text
from identity.records import ProfileRecord

DISTRACTORS = [
    ProfileRecord(f"x:{i}", "x", display_name=name, handle=handle, bio=bio)
    for i, (name, handle, bio) in enumerate(
        [
            (
                "Maria Gonzalez",
                "mariag_bakes",
                "Pastry chef in Seville. Sourdough, croissants and too much coffee.",
            ),
            (
                "Tom Becker",
                "tbecker",
                "Backend engineer. Rust, Postgres, distributed systems. Opinions my own.",
            ),
            ("Aisha Khan", "aishak_md", "Paediatrician in Leeds. Child health, vaccines, parenting myths."),
            ("Jonas Weber", "jonasweber", "Fotograf aus Hamburg. Hafen, Nebel, Analogfilm."),
            ("Priya Raman", "priya_codes", "Data scientist. Python, causal inference, cricket on weekends."),
            ("Lucas Martin", "lucas_velo", "Cycling commuter in Lyon. Bike lanes, urbanism, trains."),
            ("Emma Clarke", "emmaclarke_news", "Political reporter at a regional paper. Tips welcome."),
            ("Kenji Sato", "kenji_s", "Game designer in Osaka. Board games, pixel art, ramen."),
            ("Sofia Rossi", "sofiarossi", "Marine biologist. Coral reefs, diving, ocean policy."),
            ("David Cohen", "dcohen_law", "Employment lawyer. Workers' rights, unions, tenancy law."),
            ("Olga Petrova", "olga_reads", "Librarian and translator. Russian poetry, crime novels."),
            (
                "Sam Taylor",
                "samtaylor_fit",
                "Personal trainer. Strength training, mobility, nutrition basics.",
            ),
        ]
    )
]

ANNA_MASTODON = ProfileRecord(
    "mastodon:https://fediscience.org/users/anna_neumann",
    "mastodon",
    display_name="Anna Neumann",
    handle="anna_neumann@fediscience.org",
    bio="Professor of religious studies at Ruhr University Bochum. Religion and digital media, plurality.",
)
ANNA_X = ProfileRecord(
    "x:9001",
    "x",
    display_name="Anna N.",
    handle="neumann_relwiss",
    bio="Religionswissenschaft @ Bochum: religion & digital media, plurality. Views my own.",
)


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder()


@pytest.fixture
def search(encoder: Encoder) -> CandidateSearch:
    cs = CandidateSearch(encoder, VectorIndex(384))
    cs.add_many([*DISTRACTORS, ANNA_MASTODON])
    return cs


def test_the_same_person_on_another_network_is_the_top_embedding_candidate(search: CandidateSearch) -> None:
    hits = search.candidates(ANNA_X, k=3)
    assert hits[0][0] == ANNA_MASTODON.record_id
    assert hits[0][1] > hits[1][1] + 0.1
    assert all(hits[i][1] >= hits[i + 1][1] for i in range(len(hits) - 1))


def test_an_exact_key_hit_is_returned_with_its_true_cosine_even_when_the_ann_misses_it(
    search: CandidateSearch, encoder: Encoder
) -> None:
    shared_email = ProfileRecord(
        "crm:77", "crm", display_name="Sofia Rossi-Bauer", emails=("sofia@reef.example",)
    )
    search.add(shared_email)
    query = ProfileRecord(
        "x:5000",
        "x",
        display_name="Pastry lover",
        bio="Croissants and sourdough",
        emails=("Sofia@Reef.example",),
    )
    ann_only = [rid for rid, _ in search.index.search(encoder.encode([profile_text(query)]), 1)[0]]
    assert "crm:77" not in ann_only  # the embedding alone would not propose it
    hits = dict(search.candidates(query, k=1))
    assert "crm:77" in hits
    want = float(np.dot(*encoder.encode([profile_text(query), profile_text(shared_email)])))
    assert hits["crm:77"] == pytest.approx(want, abs=1e-4)
    assert "crm:77" in search.key_hits(query)
    assert any(k.startswith("e:") for k in search.shared_keys(query, "crm:77"))


def test_a_record_is_never_its_own_candidate(search: CandidateSearch) -> None:
    hits = search.candidates(ANNA_MASTODON, k=5)
    assert ANNA_MASTODON.record_id not in {rid for rid, _ in hits}
    assert len(hits) == 5


def test_bridgy_fed_mirror_meets_its_bluesky_account_by_key(search: CandidateSearch) -> None:
    mirror = ProfileRecord(
        "mastodon:https://bsky.brid.gy/ap/did:plc:ryrk3zd26dw34bmwxrhsp77p",
        "mastodon",
        display_name="Anna Neumaier",
        handle="annaneumaier.bsky.social@bsky.brid.gy",
        links=("https://bsky.app/profile/annaneumaier.bsky.social",),
    )
    search.add(mirror)
    bluesky = ProfileRecord(
        "bluesky:did:plc:ryrk3zd26dw34bmwxrhsp77p", "bluesky", handle="annaneumaier.bsky.social"
    )
    assert mirror.record_id in search.key_hits(bluesky)


def test_remove_erases_the_record_from_both_routes_and_from_the_encoder_cache(
    search: CandidateSearch, encoder: Encoder
) -> None:
    assert search.remove(ANNA_MASTODON.record_id) is True
    assert search.remove(ANNA_MASTODON.record_id) is False
    assert ANNA_MASTODON.record_id not in search
    assert ANNA_MASTODON.record_id not in search.index
    assert encoder.forget([content_hash(profile_text(ANNA_MASTODON))]) == 0  # already forgotten
    lookalike = ProfileRecord("x:9002", "x", display_name="Anna Neumann", handle="anna_neumann")
    for query in (ANNA_X, lookalike, ANNA_MASTODON):
        assert ANNA_MASTODON.record_id not in {rid for rid, _ in search.candidates(query, k=20)}
        assert ANNA_MASTODON.record_id not in search.key_hits(query)


def test_re_adding_a_record_replaces_its_keys(search: CandidateSearch) -> None:
    v1 = ProfileRecord("crm:1", "crm", display_name="Lee Park", emails=("lee@old.example",))
    v2 = ProfileRecord("crm:1", "crm", display_name="Lee Park", emails=("lee@new.example",))
    search.add(v1)
    search.add(v2)
    assert len(search) == len(DISTRACTORS) + 2
    assert search.key_hits(ProfileRecord("q:1", "x", emails=("lee@old.example",))) == []
    assert search.key_hits(ProfileRecord("q:2", "x", emails=("lee@new.example",))) == ["crm:1"]


def test_keys_shared_by_too_many_records_are_skipped(encoder: Encoder) -> None:
    cs = CandidateSearch(encoder, VectorIndex(384), max_block=3)
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((5, 384)).astype(np.float32)
    same_domain = [
        ProfileRecord(f"crm:{i}", "crm", websites=("https://acme-widgets.example",)) for i in range(5)
    ]
    cs.add_many(same_domain, vecs)
    query = ProfileRecord("q", "x", websites=("acme-widgets.example",))
    assert cs.key_hits(query) == []
    cs.remove("crm:0")
    cs.remove("crm:1")
    assert cs.key_hits(query) == ["crm:2", "crm:3", "crm:4"]


def test_given_vectors_must_line_up_with_records(encoder: Encoder) -> None:
    cs = CandidateSearch(encoder, VectorIndex(384))
    with pytest.raises(ValueError, match="vectors for"):
        cs.add_many(DISTRACTORS[:3], np.ones((2, 384), dtype=np.float32))
    assert len(cs) == 0 and len(cs.index) == 0
