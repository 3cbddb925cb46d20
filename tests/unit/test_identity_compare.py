"""The field comparisons behind the cross-network evidence (bio words, handle relations, name forms,
missing fields), the scheme-less profile link, and the split by person that keeps profiles out of
training."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.compare import _longest_common, compare, prepare
from identity.matcher import Matcher
from identity.normalize import canonical_handle
from identity.records import ProfileRecord
from identity.social_training import held_out, person_key, social_dataset


def _features(a: ProfileRecord, b: ProfileRecord) -> set[str]:
    ab, ba = set(compare(prepare(a), prepare(b))), set(compare(prepare(b), prepare(a)))
    assert ab == ba  # symmetric
    return ab


def test_bio_levels() -> None:
    base = "Historian of the Baltic Sea region and the Holy Roman Empire. Podcast host."
    a = ProfileRecord("x:1", "x", handle="@a1", bio=base)
    same = ProfileRecord("x:2", "x", handle="@b1", bio=base)
    cut = ProfileRecord("x:3", "x", handle="@c1", bio="historian of the baltic sea region")
    other = ProfileRecord(
        "x:4", "x", handle="@d1", bio="Electrical engineer, loves memes, live life king size"
    )
    empty = ProfileRecord("x:5", "x", handle="@e1")
    assert "bio_same" in _features(a, same)
    assert "bio_overlap" in _features(a, cut)
    assert "bio_different" in _features(a, other)
    assert "bio_missing_one" in _features(a, empty)
    assert not {f for f in _features(empty, empty) if f.startswith("bio")}


@pytest.mark.parametrize(
    ("x", "y", "level"),
    [
        ("@heelwiley", "@theheelwiley@mastodon.social", "handle_contains"),
        ("@cabe15_mc", "@cabe15_mc_dev@fosstodon.org", "handle_contains"),
        ("@seonaidsnail", "seonaidbarber.bsky.social", "handle_overlap"),
        ("@pixelriver46", "@annaneumaier@fosstodon.org", "handle_different"),
        ("@annaneumaier", "annaneumaier.bsky.social", "handle_exact"),
    ],
)
def test_handle_levels(x: str, y: str, level: str) -> None:
    a = ProfileRecord("x:1", "x", handle=x)
    b = ProfileRecord("other:2", "bluesky" if "bsky" in y else "mastodon", handle=y)
    assert level in _features(a, b)


def test_name_forms() -> None:
    full = ProfileRecord("x:1", "x", display_name="Anna Neumaier", handle="@anna")
    short = ProfileRecord("bluesky:2", "bluesky", display_name="Anna N.", handle="x.bsky.social")
    nameless = ProfileRecord("bluesky:3", "bluesky", handle="y.bsky.social")
    assert {"first_exact", "last_initial"} <= _features(full, short)
    assert "name_missing_one" in _features(full, nameless)
    # a name in a non-Latin script is compared as it is written, not dropped as missing
    arabic = ProfileRecord("x:4", "x", display_name="لينة 🌻", handle="@l1")
    same = ProfileRecord("x:5", "x", display_name="لينة", handle="@l2")
    latin = ProfileRecord("x:6", "x", display_name="Julia Cerisi", handle="@l3")
    assert "full_name_exact" in _features(arabic, same)
    assert {"full_name_different"} <= _features(arabic, latin)
    assert "name_missing_one" not in _features(arabic, latin)


def test_social_pairs_use_the_social_model() -> None:
    m = Matcher()
    a = prepare(ProfileRecord("x:1", "x", display_name="Anna Neumaier", handle="@anna_n"))
    b = prepare(ProfileRecord("mastodon:2", "mastodon", display_name="Anna N.", handle="@anna@a.social"))
    crm = prepare(ProfileRecord("crm:1", "crm", display_name="Anna Neumaier", emails=("a@n.example",)))
    assert a.social and b.social and not crm.social
    assert m.model_for(a, b, True) is m.social_model
    assert m.model_for(a, b, False) is m.social_model_without_cosine
    assert m.model_for(a, crm, True) is m.model
    assert "social_pair" in compare(a, b) and "social_pair" not in compare(a, crm)


def test_a_copied_profile_under_another_name_is_not_merged() -> None:
    bio = "Palestinian feminist. MENA Policy Manager. Views my own."
    real = ProfileRecord("x:1", "x", display_name="Marwa Fatafta", handle="@marwasf", bio=bio)
    copy = ProfileRecord(
        "bluesky:2", "bluesky", display_name="Jake Jung", handle="marwasf.bsky.social", bio=bio
    )
    assert Matcher().decide(real, copy, cosine=0.87).probability < 0.5


def test_scheme_less_profile_links() -> None:
    assert canonical_handle("x.com/TheGamblerFic") == "x:thegamblerfic"
    assert canonical_handle("fosstodon.org/@jo") == "fedi:jo@fosstodon.org"
    a = ProfileRecord("x:1", "x", display_name="The Gambler", handle="@TheGamblerFic")
    b = ProfileRecord(
        "mastodon:2", "mastodon", display_name="The Gambler", handle="@gamblert@chaos.social",
        links=("x.com/TheGamblerFic",),
    )  # fmt: skip
    assert "linked_account" in _features(a, b)


def test_split_by_person() -> None:
    # one person's accounts fall on the same side whatever the network's handle form
    assert person_key("@jo_smith@fosstodon.org", "mastodon:1") == person_key("jo_smith", "x:2")
    assert person_key("jo_smith.bsky.social@bsky.brid.gy", "m:3") == "josmith"
    assert person_key("@jo", "x:9") == "x:9"  # too short to tell people apart
    assert held_out("@jo_smith@a.social", "m:1") == held_out("JoSmith", "x:2")
    shares = [held_out(f"@user{i:04d}", f"x:{i}") for i in range(2000)]
    assert 0.45 < sum(shares) / len(shares) < 0.55


def test_training_never_reads_held_out_profiles() -> None:
    records, clusters = social_dataset(limit=60)
    real = [r for r, c in zip(records, clusters, strict=True) if r.record_id == c and ":namesake-" not in c]
    if not real:
        pytest.skip("no shared social data")
    assert not any(held_out(r.handle, r.record_id) for r in real)
    with pytest.raises(ValueError, match="part"):
        social_dataset(part="test")


def _longest_common_reference(x: str, y: str) -> int:
    """The longest common substring by brute force over every pair of start positions."""
    best = 0
    for i in range(len(x)):
        for j in range(len(y)):
            n = 0
            while i + n < len(x) and j + n < len(y) and x[i + n] == y[j + n]:
                n += 1
            best = max(best, n)
    return best


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="abcde_1", max_size=16), st.text(alphabet="abcde_1", max_size=16))
def test_longest_common_substring_is_exact_and_symmetric(x: str, y: str) -> None:
    assert _longest_common(x, y) == _longest_common(y, x) == _longest_common_reference(x, y)


def test_longest_common_substring_of_handles() -> None:
    assert _longest_common("seonaidsnail", "seonaidbarber") == len("seonaid")
    assert _longest_common("", "anything") == 0
