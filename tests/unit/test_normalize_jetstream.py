"""Bluesky Jetstream: hand-picked real events from the bundled capture."""

from __future__ import annotations

from activity.normalize import normalize
from activity.schema import ActivityKind, Network
from tests.unit._normalize_helpers import find, raw, sample_lines

LINES = sample_lines("bluesky_jetstream_capture.jsonl.gz")
J = "jetstream"


def test_like() -> None:
    r = normalize(find(J, LINES, b'"rkey":"3mptbyplj5d2a"'))
    (a,) = r.activities
    assert a.kind is ActivityKind.LIKE
    assert a.network is Network.BLUESKY
    assert a.actor.id == "bluesky:did:plc:wq4aajammjtxdomz3e23667t"
    assert (
        a.target_post_id == "bluesky:at://did:plc:r2zybk6op3ymzpz6jhqpkoy5/app.bsky.feed.post/3mpsjbtci2c2o"
    )
    assert a.target_account is not None
    assert a.target_account.id == "bluesky:did:plc:r2zybk6op3ymzpz6jhqpkoy5"
    assert a.post_id == "bluesky:at://did:plc:wq4aajammjtxdomz3e23667t/app.bsky.feed.like/3mptbyplj5d2a"
    assert (
        a.event_id
        == "bluesky:did:plc:wq4aajammjtxdomz3e23667t:app.bsky.feed.like:3mptbyplj5d2a:create:3mptbypluud2a"
    )
    assert a.created_at == 1783175888.999  # record.createdAt
    assert a.received_at == 1_800_000_000.0
    assert a.source == "test"


def test_reply_has_parent_target() -> None:
    (a,) = normalize(find(J, LINES, b'"rkey":"3mptbyp7lu223"')).activities
    assert a.kind is ActivityKind.REPLY
    assert a.text == "이쁘시네용~~~"
    assert a.lang == "ko"
    assert (
        a.target_post_id == "bluesky:at://did:plc:i5y2f3gtpjxs3qg6fwgb6jb4/app.bsky.feed.post/3mpt7u2vlgs2c"
    )
    assert a.target_account is not None
    assert a.target_account.id == "bluesky:did:plc:i5y2f3gtpjxs3qg6fwgb6jb4"


def test_post_facets_give_links_and_tags() -> None:
    (a,) = normalize(find(J, LINES, b'"rkey":"3mptbyoeyc22k"')).activities
    assert a.kind is ActivityKind.POST
    assert a.urls == ("https://www.youtube.com/watch?v=V5lDo-jw8mA",)
    (b,) = normalize(find(J, LINES, b"HowToTellAiToShutUp")).activities
    assert b.hashtags == ("HowToTellAiToShutUp", "IndieRebellion")


def test_follow_repost_and_deletes() -> None:
    (f,) = normalize(find(J, LINES, b'"rkey":"3mptbypmibb2v"')).activities
    assert f.kind is ActivityKind.FOLLOW
    assert f.target_account is not None
    assert f.target_account.id == "bluesky:did:plc:mlbpil2fwz43vfn6uuysxtqa"
    (rp,) = normalize(find(J, LINES, b'"rkey":"3mptbypowzs2e"')).activities
    assert rp.kind is ActivityKind.REPOST
    (d,) = normalize(find(J, LINES, b'"rkey":"3m3q3ut7jsm2m"')).activities
    assert d.kind is ActivityKind.DELETE
    assert d.post_id == "bluesky:at://did:plc:ux2eeflheratfrvp3xfbp4zi/app.bsky.graph.follow/3m3q3ut7jsm2m"
    (dp,) = normalize(find(J, LINES, b'"rkey":"3mpt73z3ejc2p"')).activities
    assert dp.kind is ActivityKind.DELETE
    assert dp.created_at == 1783175888.377628


def test_identity_account_and_unhandled_collections() -> None:
    (i,) = normalize(find(J, LINES, b'"kind":"identity"')).activities
    assert i.kind is ActivityKind.PROFILE
    assert i.actor.id == "bluesky:did:plc:hqvhxrowqbemo5e4wjnj6zao"
    (acc,) = normalize(find(J, LINES, b'"kind":"account"')).activities
    assert acc.profile is not None
    assert acc.profile.active is True
    block = normalize(find(J, LINES, b"app.bsky.graph.block"))
    assert block.activities == ()
    assert block.dead_letters[0].reason == "unknown_kind"


def test_synthetic_quote_mention_inactive_account() -> None:
    quoted = "at://did:plc:q/app.bsky.feed.post/3abc"
    post = {
        "did": "did:plc:me",
        "time_us": 1,
        "kind": "commit",
        "commit": {
            "rev": "r1",
            "operation": "create",
            "collection": "app.bsky.feed.post",
            "rkey": "k",
            "record": {
                "text": "look @bob.test",
                "createdAt": "2026-01-01T00:00:00Z",
                "embed": {"$type": "app.bsky.embed.recordWithMedia", "record": {"record": {"uri": quoted}}},
                "facets": [
                    {
                        "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:bob"}],
                        "index": {"byteStart": 5, "byteEnd": 14},
                    }
                ],
            },
        },
    }
    (q,) = normalize(raw(J, post)).activities
    assert q.kind is ActivityKind.QUOTE
    assert q.target_post_id == f"bluesky:{quoted}"
    assert [m.id for m in q.mentions] == ["bluesky:did:plc:bob"]
    gone = {
        "did": "did:plc:x",
        "time_us": 5,
        "kind": "account",
        "account": {"active": False, "status": "deleted", "seq": 9, "did": "did:plc:x"},
    }
    kinds = [a.kind for a in normalize(raw(J, gone)).activities]
    assert kinds == [ActivityKind.PROFILE, ActivityKind.DELETE]
