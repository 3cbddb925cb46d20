"""X API v2: real responses from the bundled samples, plus the shapes the samples lack."""

from __future__ import annotations

from typing import Any

import orjson

from activity.normalize import normalize
from activity.schema import ActivityKind
from tests.unit._normalize_helpers import raw, sample_lines

FLAT = sample_lines("twitter_v2_flat.jsonl.gz")
STREAM = sample_lines("twitter_v2_streaming_output_with_error.jsonl.gz")
X = "twitter_v2"


def test_flat_retweet() -> None:
    acts = normalize(raw(X, FLAT[0])).activities
    rt = next(a for a in acts if a.event_id == "x:tweet:1380242611781386245")
    assert rt.kind is ActivityKind.REPOST
    assert rt.text is None
    assert rt.actor.id == "x:1352661060663336960"
    assert rt.actor.handle == "Alexandravm12"
    assert rt.target_post_id == "x:1380175475545362437"
    assert rt.target_account is not None
    assert rt.target_account.id == "x:2718660392"
    original = next(a for a in acts if a.event_id == "x:tweet:1380175475545362437")
    assert original.kind is ActivityKind.POST
    assert original.actor.handle == "williamserafino"
    assert {a.actor.id for a in acts if a.kind is ActivityKind.PROFILE} == {
        "x:1352661060663336960",
        "x:2718660392",
    }


def test_flat_reply_targets_in_reply_to_user() -> None:
    line = next(line for line in FLAT if b'"in_reply_to_user_id": "1142605723601264640"' in line)
    tweet = next(a for a in normalize(raw(X, line)).activities if a.kind is ActivityKind.REPLY)
    assert tweet.target_account is not None
    assert tweet.target_account.id == "x:1142605723601264640"
    assert {m.handle for m in tweet.mentions} >= {"TalkToTheFoot", "JackPosobiec"}


def test_stream_frames_and_truncated_frame() -> None:
    r = normalize(raw(X, STREAM[3]))
    tweet = r.activities[0]
    assert tweet.event_id == "x:tweet:1377650387579248643"
    assert tweet.hashtags == ("DogsofTwitter", "dogs")
    assert normalize(raw(X, STREAM[-1])).dead_letters[0].reason == "malformed_json"


def test_errors_only_is_a_source_error_and_bad_items_are_partial() -> None:
    r = normalize(raw(X, {"errors": [{"title": "Operational Disconnect", "detail": "stream reset"}]}))
    assert r.activities == ()
    assert r.dead_letters[0].reason == "source_error"
    ok = orjson.loads(STREAM[0])
    mixed = {"data": [ok["data"], {"start": "x", "end": "y"}], "includes": ok["includes"]}
    r = normalize(raw(X, mixed))
    assert any(a.event_id == "x:tweet:1377650090978992134" for a in r.activities)
    assert [d.reason for d in r.dead_letters] == ["unknown_kind"]


def test_quote_and_user_profile_ids() -> None:
    user: dict[str, Any] = {"id": "9", "username": "u", "name": "U", "public_metrics": {"followers_count": 1}}
    resp: dict[str, Any] = {
        "data": {
            "id": "1",
            "author_id": "9",
            "text": "so true https://t.co/x",
            "created_at": "2021-04-01T15:52:31.000Z",
            "referenced_tweets": [{"type": "quoted", "id": "2"}],
        },
        "includes": {"users": [user], "tweets": [{"id": "2", "author_id": "8", "text": "orig"}]},
    }
    acts = {a.event_id: a for a in normalize(raw(X, resp)).activities}
    q = acts["x:tweet:1"]
    assert q.kind is ActivityKind.QUOTE
    assert q.target_post_id == "x:2"
    assert q.target_account is not None
    assert q.target_account.id == "x:8"
    (pid,) = [k for k in acts if k.startswith("x:user:9:")]
    same = {a.event_id for a in normalize(raw(X, resp)).activities}
    changed: dict[str, Any] = {**resp, "includes": {"users": [{**user, "name": "V"}], "tweets": []}}
    assert pid in same
    assert pid not in {a.event_id for a in normalize(raw(X, changed)).activities}
