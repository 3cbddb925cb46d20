"""Mastodon: hand-picked real statuses from the bundled sample."""

from __future__ import annotations

import orjson

from activity.normalize import normalize
from activity.schema import ActivityKind
from tests.unit._normalize_helpers import find, raw, sample_lines

LINES = sample_lines("mastodon_statuses.jsonl.gz")
M = "mastodon"


def test_reply_with_mentions_and_tags() -> None:
    r = normalize(find(M, LINES, b'"id": "108228515727074327"'))
    status, profile = r.activities
    assert status.kind is ActivityKind.REPLY
    assert [m.id for m in status.mentions][:2] == [
        "mastodon:https://chaos.social/users/Fischblog",
        "mastodon:https://zusammenkunft.net/users/Mela",
    ]
    assert status.mentions[0].handle == "Fischblog@chaos.social"
    assert status.target_account == status.mentions[0]  # in_reply_to_account_id is a mentioned account
    assert status.target_post_id is not None
    assert status.target_post_id.startswith("mastodon:local:")
    assert "IchbinHanna" in status.hashtags
    assert status.text is not None
    assert "<" not in status.text
    assert "@Fischblog" in status.text
    assert profile.kind is ActivityKind.PROFILE
    assert profile.actor == status.actor


def test_bridged_post_ids_and_profile() -> None:
    first = orjson.loads(LINES[0])
    status, profile = normalize(raw(M, LINES[0])).activities
    assert status.post_id == "mastodon:" + first["uri"]
    assert status.actor.id == "mastodon:https://bsky.brid.gy/ap/did:plc:eu6urrd67yaoywvt6nzcl6ou"
    assert status.actor.handle == "realscientists.de@bsky.brid.gy"
    assert status.event_id == "mastodon:status:" + first["uri"]
    assert profile.profile is not None
    assert profile.profile.followers == 242
    assert profile.profile.bio is not None
    assert "Real Scientists" not in profile.profile.bio[:0]
    assert status.context == ("bsky.brid.gy",)


def test_reblog_is_a_repost_of_the_inner_status() -> None:
    inner = orjson.loads(LINES[0])
    outer = dict(
        inner,
        id="1",
        uri="https://example.social/users/a/statuses/1/activity",
        reblog=inner,
        account=dict(
            inner["account"],
            id="77",
            uri="https://example.social/users/a",
            acct="a",
            url="https://example.social/@a",
        ),
    )
    acts = normalize(raw(M, outer)).activities
    repost = next(a for a in acts if a.kind is ActivityKind.REPOST)
    assert repost.target_post_id == "mastodon:" + inner["uri"]
    assert repost.actor.handle == "a@example.social"
    assert repost.target_account is not None
    assert repost.target_account.handle == "realscientists.de@bsky.brid.gy"
    assert any(a.post_id == "mastodon:" + inner["uri"] and a.kind is not ActivityKind.REPOST for a in acts)


def test_profile_event_id_changes_only_with_content() -> None:
    st = orjson.loads(LINES[0])
    p1 = normalize(raw(M, st)).activities[1].event_id
    p2 = normalize(raw(M, dict(st, id="2", uri=st["uri"] + "x"))).activities[1].event_id
    p3 = normalize(raw(M, dict(st, account=dict(st["account"], followers_count=243)))).activities[1].event_id
    assert p1 == p2 != p3
