"""Blocking keys: the same person's records must meet; unrelated records should not."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from identity.blocking import blocking_keys, candidate_pairs
from identity.records import ProfileRecord


def shared(a: ProfileRecord, b: ProfileRecord) -> frozenset[str]:
    return blocking_keys(a) & blocking_keys(b)


def test_bridged_mirror_meets_its_bluesky_account() -> None:
    # the shapes of a real Bridgy-Fed mirror (shared/data/social/mastodon/statuses.jsonl)
    mirror = ProfileRecord(
        record_id="mastodon:https://bsky.brid.gy/ap/did:plc:o7mqzu7aleiaz4hi44hod7x2",
        source="mastodon",
        handle="@judithbeyer.bsky.social@bsky.brid.gy",
        links=("https://bsky.app/profile/judithbeyer.bsky.social",),
    )
    original = ProfileRecord(
        record_id="bluesky:did:plc:o7mqzu7aleiaz4hi44hod7x2",
        source="bluesky",
        handle="judithbeyer.bsky.social",
    )
    keys = shared(mirror, original)
    assert "h:bsky:judithbeyer.bsky.social" in keys
    assert "h:did:plc:o7mqzu7aleiaz4hi44hod7x2" in keys


def test_profile_link_meets_the_linked_account() -> None:
    a = ProfileRecord("x:1", "x", handle="@jsmith_dev", links=("https://fosstodon.org/@jsmith",))
    b = ProfileRecord(
        "mastodon:https://fosstodon.org/users/jsmith", "mastodon", handle="@jsmith@fosstodon.org"
    )
    assert "h:fedi:jsmith@fosstodon.org" in shared(a, b)


def test_contact_and_domain_keys() -> None:
    a = ProfileRecord("crm:1", "crm", emails=("Jane.Doe+x@gmail.com",), phones=("+1 415 555 0100",))
    b = ProfileRecord("crm:2", "crm", emails=("janedoe@gmail.com",), phones=("(415) 555-0100",))
    assert {"e:janedoe@gmail.com", "p:155550100"} <= shared(a, b)
    c = ProfileRecord("bluesky:did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "bluesky", handle="janedoe.dev")
    d = ProfileRecord("x:2", "x", websites=("https://www.janedoe.dev/blog",))
    assert "d:janedoe.dev" in shared(c, d)  # a domain handle proves the same site a bio links to
    e = ProfileRecord("x:3", "x", websites=("https://bsky.app/profile/someone.bsky.social",))
    assert not any(k.startswith("d:") for k in blocking_keys(e))  # platform hosts are not personal


def test_name_keys_tolerate_nicknames_order_and_typos() -> None:
    thomas = ProfileRecord("crm:1", "crm", first_name="Thomas", last_name="Clifford")
    assert shared(thomas, ProfileRecord("x:1", "x", display_name="Tom Clifford"))
    assert shared(thomas, ProfileRecord("x:2", "x", display_name="Clifford Thomas"))
    assert shared(thomas, ProfileRecord("x:3", "x", first_name="Thomas", last_name="Cliford"))
    assert not shared(thomas, ProfileRecord("x:4", "x", display_name="Mary Jones"))


def test_candidate_pairs_groups_and_block_cap() -> None:
    smiths = [ProfileRecord(f"r{i}", "crm", first_name="john", last_name="smith") for i in range(6)]
    assert len(candidate_pairs(smiths)) == 15
    assert candidate_pairs(smiths, max_block=5) == []  # a key shared by too many records is skipped
    groups = ["a", "a", "a", "b", "b", "b"]
    assert all(groups[i] != groups[j] for i, j in candidate_pairs(smiths, groups=groups))
    assert len(candidate_pairs(smiths, groups=groups)) == 9


names = st.text(alphabet="abcdefghij ", min_size=0, max_size=12)


@given(names, names, st.text(max_size=30))
def test_keys_are_deterministic_and_never_raise(first: str, last: str, handle: str) -> None:
    r = ProfileRecord("x:1", "x", first_name=first, last_name=last, handle=handle, websites=(handle,))
    assert blocking_keys(r) == blocking_keys(r)
    assert all(":" in k for k in blocking_keys(r))


def test_record_from_account_reads_links_out_of_the_bio() -> None:
    from activity.schema import AccountRef, Network, Profile
    from identity.records import record_from_account

    # the bio of a real bridged account (shared/data/social/mastodon/statuses.jsonl), shortened
    bluesky = record_from_account(
        AccountRef("bluesky:did:plc:3oezhi4yroqopcpgvjmrzmjx", Network.BLUESKY, "rheinze.bsky.social", "R H"),
        Profile(
            bio="Historian. Mastodon:\n@rheinze@todon.eu\n@rheinze@hcommons.social\nsite: https://rheinze.example/."
        ),
    )
    assert bluesky.links == ("@rheinze@todon.eu", "@rheinze@hcommons.social")
    assert bluesky.websites == ("https://rheinze.example/",)
    mastodon = record_from_account(
        AccountRef("mastodon:https://todon.eu/users/rheinze", Network.MASTODON, "rheinze@todon.eu"),
        Profile(url="https://todon.eu/@rheinze"),
    )
    assert mastodon.websites == () and mastodon.links == ("https://todon.eu/@rheinze",)
    assert "h:fedi:rheinze@todon.eu" in shared(bluesky, mastodon)
