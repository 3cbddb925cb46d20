from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from identity.resolver import IdentityLink, person_id_for, resolve_single


@given(st.text(min_size=1, max_size=200), st.text(min_size=1, max_size=200))
def test_one_account_one_person_deterministic_and_distinct(a: str, b: str) -> None:
    assert person_id_for(a) == person_id_for(a)
    if a != b:
        assert person_id_for(a) != person_id_for(b)


def test_link_round_trips() -> None:
    link = resolve_single("bluesky:did:plc:abc", "ev1", 12.5)
    assert IdentityLink.from_dict(orjson.loads(link.to_bytes())) == link
    assert link.confidence == 1.0 and link.evidence == ("one-account-one-person",)
