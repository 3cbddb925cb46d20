"""Bad input of every kind becomes a dead letter with the right reason; normalize never raises."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activity.normalize import normalize
from activity.raw import RawEvent, RawFormat
from tests.unit._normalize_helpers import raw, sample_lines

FORMATS = [f.value for f in RawFormat]
GOOD = {
    "jetstream": orjson.loads(sample_lines("bluesky_jetstream_capture.jsonl.gz")[0]),
    "mastodon": orjson.loads(sample_lines("mastodon_statuses.jsonl.gz")[0]),
    "reddit": orjson.loads(sample_lines("reddit_comments.jsonl.gz")[0]),
    "twitter_v2": orjson.loads(sample_lines("twitter_v2_streaming_output_with_error.jsonl.gz")[0]),
}


def reasons(fmt: str, payload: bytes | dict[str, Any]) -> list[str]:
    r = normalize(raw(fmt, payload))
    return [d.reason.value for d in r.dead_letters]


@pytest.mark.parametrize("fmt", FORMATS)
def test_envelope_errors(fmt: str) -> None:
    assert reasons(fmt, b'{"did": ') == ["malformed_json"]
    assert reasons(fmt, b"\xff\xfe{}") == ["invalid_utf8"]
    assert reasons(fmt, b"[1, 2]") == ["wrong_type"]
    assert reasons(fmt, b'"text"') == ["wrong_type"]
    assert reasons(fmt, b"  \n") == ["empty"]
    assert reasons(fmt, b"{}") in (["missing_field"], ["unknown_kind"])
    big = b'{"x": "' + b"a" * 1_000_001 + b'"}'
    assert reasons(fmt, big) == ["too_large"]
    assert normalize(raw(fmt, orjson.dumps(GOOD[fmt])), max_bytes=10).dead_letters[0].reason == "too_large"


def test_unknown_format_and_good_payloads() -> None:
    assert reasons("myspace", b"{}") == ["unknown_format"]
    for fmt, good in GOOD.items():
        assert normalize(raw(fmt, good)).activities, fmt


def _set(obj: Any, path: tuple[str, ...], value: Any) -> Any:
    obj = orjson.loads(orjson.dumps(obj))
    cur = obj
    for key in path[:-1]:
        cur = cur[key]
    if value is ...:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value
    return obj


@pytest.mark.parametrize(
    ("fmt", "path", "value", "reason"),
    [
        ("jetstream", ("did",), 5, "wrong_type"),
        ("jetstream", ("did",), ..., "missing_field"),
        ("jetstream", ("kind",), "weird", "unknown_kind"),
        ("jetstream", ("commit",), [], "wrong_type"),
        ("jetstream", ("commit", "collection"), ..., "missing_field"),
        ("jetstream", ("commit", "collection"), "app.bsky.graph.listitem", "unknown_kind"),
        ("jetstream", ("commit", "record", "subject"), "str", "wrong_type"),
        ("jetstream", ("commit", "record", "subject", "uri"), ..., "missing_field"),
        ("jetstream", ("commit", "record", "createdAt"), "yesterday", "invalid_value"),
        ("jetstream", ("time_us",), "soon", "wrong_type"),
        ("mastodon", ("account",), "me", "wrong_type"),
        ("mastodon", ("account", "followers_count"), "many", "wrong_type"),
        ("mastodon", ("uri",), ..., "missing_field"),
        ("mastodon", ("created_at",), "not a date", "invalid_value"),
        ("mastodon", ("mentions",), {"a": 1}, "wrong_type"),
        ("mastodon", ("tags",), [1], "wrong_type"),
        ("reddit", ("created_utc",), "2011", "wrong_type"),
        ("reddit", ("created_utc",), True, "wrong_type"),
        ("reddit", ("parent_id",), "x_1", "invalid_value"),
        ("reddit", ("parent_id",), ..., "missing_field"),
        ("reddit", ("name",), "t5_abc", "unknown_kind"),
        ("twitter_v2", ("data",), "tweet", "wrong_type"),
        ("twitter_v2", ("includes",), [], "wrong_type"),
        ("twitter_v2", ("data", "created_at"), "noon", "invalid_value"),
        ("twitter_v2", ("data", "referenced_tweets"), 3, "wrong_type"),
    ],
)
def test_wrong_fields_at_depth(fmt: str, path: tuple[str, ...], value: Any, reason: str) -> None:
    good = GOOD[fmt]
    if fmt == "jetstream" and path[:2] == ("commit", "record"):
        good = orjson.loads(
            next(line for line in sample_lines("bluesky_jetstream_capture.jsonl.gz") if b"feed.like" in line)
        )
    assert reason in reasons(fmt, _set(good, path, value))


def test_bad_raw_event_fields_do_not_raise() -> None:
    weird = RawEvent(format="reddit", source="s", received_at=0.0, payload="not bytes")  # type: ignore[arg-type]
    assert normalize(weird).dead_letters[0].reason == "wrong_type"


# --- properties -----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = [
    "did",
    "kind",
    "commit",
    "record",
    "collection",
    "operation",
    "rkey",
    "data",
    "includes",
    "users",
    "tweets",
    "id",
    "uri",
    "account",
    "author",
    "created_at",
    "created_utc",
    "parent_id",
    "reblog",
    "mentions",
    "text",
    "referenced_tweets",
    "identity",
    "errors",
    "name",
    "time_us",
    "content",
]
shaped = st.recursive(
    json_values,
    lambda children: (
        st.dictionaries(st.sampled_from(KEYS), children, max_size=6) | st.lists(children, max_size=3)
    ),
    max_leaves=30,
)


def _mutations(fmt: str) -> st.SearchStrategy[Any]:
    good = GOOD[fmt]
    return st.builds(lambda k, v: dict(good, **{k: v}), st.sampled_from(sorted(good)), shaped)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fmt=st.sampled_from([*FORMATS, "other"]), payload=st.binary(max_size=300))
def test_never_raises_on_bytes(fmt: str, payload: bytes) -> None:
    r1 = normalize(raw(fmt, payload))
    assert r1 == normalize(raw(fmt, payload))
    assert r1.activities or r1.dead_letters


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), fmt=st.sampled_from(FORMATS))
def test_never_raises_on_json_shapes(data: st.DataObject, fmt: str) -> None:
    obj = data.draw(st.one_of(shaped, _mutations(fmt)))
    payload = orjson.dumps(obj)
    r1 = normalize(raw(fmt, payload))
    assert r1 == normalize(raw(fmt, payload))
    assert r1.activities or r1.dead_letters
    assert len({a.event_id for a in r1.activities}) == len(r1.activities)
