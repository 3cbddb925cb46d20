"""Normalization of names, handles (Bridgy-Fed forms included), emails, phones and domains.

The Bridgy-Fed handles and URLs below are the shapes seen in real Mastodon API responses
(shared/data/social/mastodon/statuses.jsonl, from gesistsa/rtoot's recorded fixtures).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from identity.nicknames import are_nicknames, canonical_forms
from identity.normalize import (
    canonical_handle,
    handle_domain,
    handle_from_record_id,
    handle_local,
    name_tokens,
    normalize_domain,
    normalize_email,
    normalize_phone,
    personal_domain,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "@realscientists.de@bsky.brid.gy",
            "bsky:realscientists.de",
        ),  # Bluesky account bridged to the fediverse
        ("judithbeyer.bsky.social@bsky.brid.gy", "bsky:judithbeyer.bsky.social"),
        ("https://bsky.brid.gy/r/https://bsky.app/profile/ancaleth.bsky.social", "bsky:ancaleth.bsky.social"),
        ("https://fed.brid.gy/bsky/benbrox.me", "bsky:benbrox.me"),
        ("https://bsky.brid.gy/ap/did:plc:zb3xigxcpqfm6egsityz7pit", "did:plc:zb3xigxcpqfm6egsityz7pit"),
        ("https://bsky.app/profile/Alice.bsky.social", "bsky:alice.bsky.social"),
        ("jo.fosstodon.org.ap.brid.gy", "fedi:jo@fosstodon.org"),  # fediverse account bridged to Bluesky
        ("@example.com@web.brid.gy", "web:example.com"),  # a website bridged to the fediverse
        ("@rheinze@todon.eu", "fedi:rheinze@todon.eu"),
        ("https://social.vivaldi.net/@Patricia", "fedi:patricia@social.vivaldi.net"),
        ("https://fosstodon.org/users/jo", "fedi:jo@fosstodon.org"),
        ("https://x.com/Jack", "x:jack"),
        ("https://twitter.com/jack/status/20", "x:jack"),
        ("u/Volden", "reddit:volden"),
        ("https://www.reddit.com/user/Volden", "reddit:volden"),
    ],
)
def test_canonical_handles(raw: str, expected: str) -> None:
    assert canonical_handle(raw) == expected


def test_bare_handles_need_the_network() -> None:
    assert canonical_handle("jack", "x") == "x:jack"
    assert canonical_handle("@jo", "reddit") == "reddit:jo"
    assert canonical_handle("alice.bsky.social", "bluesky") == "bsky:alice.bsky.social"
    assert canonical_handle("jack") is None  # a bare word could be any network


@pytest.mark.parametrize(
    "bad", ["", "   ", "@", "@@", "https://", "http://x.com/home", "not a handle!", "did:plc:short"]
)
def test_bad_handles_give_none(bad: str) -> None:
    assert canonical_handle(bad) is None


def test_handle_parts() -> None:
    assert handle_local("bsky:jo-smith.bsky.social") == "josmith"
    assert handle_local("fedi:jo_smith@fosstodon.org") == "josmith"
    assert handle_domain("bsky:benbrox.me") == "benbrox.me"  # a domain handle proves the domain
    assert handle_domain("bsky:jo.bsky.social") is None
    assert (
        handle_from_record_id("bluesky:did:plc:zb3xigxcpqfm6egsityz7pit")
        == "did:plc:zb3xigxcpqfm6egsityz7pit"
    )
    assert handle_from_record_id("mastodon:https://fosstodon.org/users/jo") == "fedi:jo@fosstodon.org"
    assert handle_from_record_id("x:68401342") is None


def test_emails_phones_domains() -> None:
    assert normalize_email("John.Smith+news@GMail.com") == "johnsmith@gmail.com"
    assert normalize_email("mailto:Jo@Example.org") == "jo@example.org"
    assert normalize_email("jo.smith@example.org") == "jo.smith@example.org"  # dots matter outside Gmail
    assert normalize_email("not-an-email") is None
    assert normalize_phone("+44 20 7946 0958") == normalize_phone("020 7946 0958")
    assert normalize_phone("12") is None
    assert normalize_domain("https://www.Judithbeyer.com/about?x=1") == "judithbeyer.com"
    assert normalize_domain("judithbeyer.com.") == "judithbeyer.com"
    assert normalize_domain("localhost") is None
    assert personal_domain("https://bsky.app/profile/x") is None  # a platform, not a person
    assert personal_domain("https://www.ig-elf.at/") == "ig-elf.at"


def test_names_and_nicknames() -> None:
    assert name_tokens("Zoë O'Brien 🏳️‍🌈 (she/her)") == ("zoe", "o", "brien", "she", "her")
    assert (
        are_nicknames("Tom", "Thomas")
        and are_nicknames("bill", "William")
        and are_nicknames("Liz", "elizabeth")
    )
    assert not are_nicknames("john", "mary")
    assert not are_nicknames("", "mary")
    assert {"tom", "thomas"} <= canonical_forms("Tom")


@given(st.text(max_size=80), st.sampled_from([None, "bluesky", "mastodon", "x", "reddit"]))
def test_normalizers_never_raise(text: str, network: str | None) -> None:
    handle = canonical_handle(text, network)
    assert handle is None or ":" in handle
    for fn in (normalize_email, normalize_phone, normalize_domain, personal_domain):
        value = fn(text)
        assert value is None or isinstance(value, str)
    assert isinstance(handle_local(handle), str)
