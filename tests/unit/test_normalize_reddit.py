"""Reddit: hand-picked real comments from the bundled sample."""

from __future__ import annotations

import orjson

from activity.normalize import normalize
from activity.normalize.reddit import DELETED_PREFIX
from activity.schema import ActivityKind
from tests.unit._normalize_helpers import find, raw, sample_lines

LINES = sample_lines("reddit_comments.jsonl.gz")
R = "reddit"


def test_top_level_comment() -> None:
    (a,) = normalize(find(R, LINES, b'"id": "c366h34"')).activities
    assert a.kind is ActivityKind.REPLY
    assert a.event_id == "reddit:t1_c366h34"
    assert a.actor.id == "reddit:u/AlphaKlams"
    assert a.text == "Black magic, got it."
    assert a.target_post_id == "reddit:t3_n49rw"
    assert a.created_at == 1323325251.0
    assert a.context == ("r/announcements",)


def test_link_author_only_targets_the_submission() -> None:
    c = orjson.loads(
        next(line for line in LINES if b'"link_author"' in line and b'"parent_id": "t1_' in line)
    )
    (a,) = normalize(raw(R, c)).activities
    assert a.target_account is None  # the parent comment's author is not in the data
    top = dict(c, parent_id=c["link_id"])
    (b,) = normalize(raw(R, top)).activities
    assert b.target_account is not None
    assert b.target_account.id == f"reddit:u/{c['link_author']}"


def test_deleted_author_gets_a_per_comment_actor() -> None:
    c = orjson.loads(LINES[0])
    (a,) = normalize(raw(R, dict(c, author="[deleted]", body="[deleted]"))).activities
    assert a.actor.id == f"{DELETED_PREFIX}t1_c366h34"
    assert a.actor.handle is None
    assert a.text is None
    assert a.kind is ActivityKind.REPLY


def test_submission_and_edit() -> None:
    (s,) = normalize(
        raw(
            R,
            {
                "kind": "t3",
                "data": {
                    "id": "abc",
                    "author": "x",
                    "created_utc": 1.0,
                    "title": "Hi",
                    "selftext": "see u/someone",
                    "subreddit": "a",
                },
            },
        )
    ).activities
    assert s.kind is ActivityKind.POST
    assert s.post_id == "reddit:t3_abc"
    assert s.mentions[0].id == "reddit:u/someone"
    (e,) = normalize(raw(R, dict(orjson.loads(LINES[0]), edited=1323330000.0))).activities
    assert e.event_id == "reddit:t1_c366h34:edited:1323330000.0"
