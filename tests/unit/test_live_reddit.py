"""The Reddit source's pure parts: fullnames, cursors, rate-limit headers, tokens, listings, CLI."""

from __future__ import annotations

import argparse
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from groundswell.settings import Settings
from sources.live.reddit import (
    SPEC,
    RedditConfig,
    RedditSource,
    _after,
    _children,
    default_user_agent,
    fullname_id,
    parse_cursor,
    rate_limit_delay,
    token_refresh_at,
)


def test_fullname_ids_are_base36_sequence_numbers() -> None:
    assert fullname_id("t1_c366h34") == int("c366h34", 36)
    assert fullname_id("t1_zz") > fullname_id("t1_zy") > fullname_id("t1_9")
    assert fullname_id("garbage") == -1
    assert fullname_id("t3_") == -1


def test_cursor_round_trips_and_bad_cursors_mean_none() -> None:
    assert parse_cursor('{"comments": "t1_abc", "new": "t3_xyz"}') == {"comments": "t1_abc", "new": "t3_xyz"}
    assert parse_cursor('{"comments": "t1_abc", "other": "t1_x", "new": 5}') == {"comments": "t1_abc"}
    for bad in (None, "", "not json", "[1, 2]", '{"comments": "nope"}'):
        assert parse_cursor(bad) == {}
    config = RedditConfig(subreddits=("a",), client_id="i", client_secret="s")
    source = RedditSource(config, '{"comments": "t1_abc"}')
    assert orjson.loads(source.cursor()) == {"comments": "t1_abc"}


@pytest.mark.parametrize(
    ("headers", "delay"),
    [
        ({"X-Ratelimit-Remaining": "0.0", "X-Ratelimit-Reset": "42", "X-Ratelimit-Used": "600"}, 42.0),
        ({"X-Ratelimit-Remaining": "10.0", "X-Ratelimit-Reset": "42", "X-Ratelimit-Used": "590"}, 0.0),
        ({"X-Ratelimit-Remaining": "0.5", "X-Ratelimit-Reset": "3"}, 3.0),
        ({}, 0.0),
        ({"X-Ratelimit-Remaining": "x", "X-Ratelimit-Reset": "3"}, 0.0),
    ],
)
def test_rate_limit_sleeps_to_the_reset_once_spent(headers: dict[str, str], delay: float) -> None:
    assert rate_limit_delay(headers) == delay


def test_rate_limit_reserve() -> None:
    headers = {"X-Ratelimit-Remaining": "2.0", "X-Ratelimit-Reset": "7"}
    assert rate_limit_delay(headers, reserve=2) == 7.0
    assert rate_limit_delay(headers, reserve=1) == 0.0


def test_token_is_renewed_before_expiry() -> None:
    assert token_refresh_at(1000.0, 86400) == 1000.0 + 86400 - 60
    assert token_refresh_at(1000.0, 4) == 1002.0


def test_user_agent_is_descriptive() -> None:
    assert default_user_agent("bot") == "python:groundswell:0.1.0 (by /u/bot)"
    assert default_user_agent(None).startswith("python:groundswell:")


def test_listing_children_and_after() -> None:
    body: dict[str, Any] = {
        "kind": "Listing",
        "data": {
            "after": "t1_b",
            "children": [
                {"kind": "t1", "data": {"name": "t1_b", "body": "x"}},
                {"kind": "t1", "data": {"id": "no-name"}},
                "junk",
                {"kind": "more", "data": {"name": "t1_c"}},
            ],
        },
    }
    assert [d["name"] for d in _children(body)] == ["t1_b", "t1_c"]
    assert _after(body) == "t1_b"
    assert _children({"error": 403}) == [] and _after([]) is None


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    SPEC.add_arguments(parser)
    return parser.parse_args(argv)


def test_spec_builds_from_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SPEC.name == "reddit"
    args = _args(
        ["--subreddit", "r/python", "--subreddit", "rust", "--client-id", "i", "--client-secret", "s"]
    )
    source = SPEC.build(Settings(), args, '{"new": "t3_abc"}')
    assert isinstance(source, RedditSource)
    assert source.name == "reddit"
    assert source.config.subreddits == ("python", "rust")
    assert source.config.username is None and source.config.interval == 5.0
    assert orjson.loads(source.cursor()) == {"new": "t3_abc"}
    from_settings = Settings(reddit_client_secret=SecretStr("from-env"), reddit_password=SecretStr("pw"))
    args = _args(["--subreddit", "a", "--client-id", "i", "--username", "bot", "--interval", "2"])
    built = SPEC.build(from_settings, args, None)
    assert isinstance(built, RedditSource)
    assert (built.config.client_secret, built.config.password, built.config.interval) == (
        "from-env",
        "pw",
        2.0,
    )
    assert "/u/bot" in built.user_agent


def test_spec_refuses_missing_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit):
        SPEC.build(Settings(), _args(["--subreddit", "a"]), None)
