"""The X source's pure parts: rule planning, frame splitting, reconnect intervals, frames, CLI."""

from __future__ import annotations

import argparse
import gzip
import itertools
from pathlib import Path

import pytest
from pydantic import SecretStr

from activity.normalize import normalize
from activity.raw import RawFormat
from groundswell.settings import Settings
from sources.live.x import (
    SOURCE,
    SPEC,
    ReconnectPolicy,
    Rule,
    XSource,
    frame_event,
    plan_rules,
    restart_backfill,
    split_frames,
)

CAPTURE = (
    Path(__file__).resolve().parents[1]
    / "data"
    / "sample"
    / "twitter_v2_streaming_output_with_error.jsonl.gz"
)


def test_plan_rules_deletes_the_unwanted_and_adds_the_missing() -> None:
    live = [
        {"id": "1", "value": "acme"},
        {"id": "2", "value": "old"},
        {"id": "3", "value": "acme support", "tag": "old-tag"},
        {"id": "4", "value": "acme"},  # a second copy of a wanted rule goes
    ]
    wanted = [Rule("acme"), Rule("acme support", "support"), Rule("@acme"), Rule("@acme")]
    plan = plan_rules(live, wanted)
    assert set(plan.delete_ids) == {"2", "3", "4"}
    assert plan.add == (Rule("acme support", "support"), Rule("@acme"))
    assert plan_rules([], []) == plan_rules([], [])
    assert plan_rules([{"id": "9", "value": "x"}], []).delete_ids == ("9",)
    assert plan_rules([{"id": "9", "value": "x", "tag": ""}], [Rule("x")]).delete_ids == ()


def test_split_frames_handles_keepalives_and_frames_across_chunks() -> None:
    buf = bytearray()
    assert list(split_frames(buf, b"\r\n")) == [b""]
    assert list(split_frames(buf, b'{"data": {"id": "1"')) == []
    assert list(split_frames(buf, b'}}\r\n\r\n{"da')) == [b'{"data": {"id": "1"}}', b""]
    assert bytes(buf) == b'{"da'
    assert list(split_frames(buf, b'ta": 2}\n')) == [b'{"data": 2}']
    assert buf == bytearray()


def test_reconnect_intervals_follow_x_guidelines() -> None:
    p = ReconnectPolicy()
    assert [p.network_error() for _ in range(3)] == [0.25, 0.5, 0.75]
    assert max(p.network_error() for _ in range(100)) == 16.0
    assert [p.http_error() for _ in range(8)] == [5, 10, 20, 40, 80, 160, 320, 320]
    assert [p.rate_limited() for _ in range(3)] == [60, 120, 240]
    p.reset()
    assert p.network_error(established=True) == 0.0  # a stream that delivered drops: at once
    assert p.network_error(established=True) == 0.25  # that failed too: linear from there
    assert ReconnectPolicy(scale=0.01).http_error() == pytest.approx(0.05)


def test_frames_keep_their_bytes_and_tweets_dedupe_by_id() -> None:
    lines = [ln for ln in gzip.decompress(CAPTURE.read_bytes()).split(b"\n") if ln]
    counter = itertools.count()
    ev = frame_event(lines[0], counter, 1700000000.5)
    assert ev.raw.payload == lines[0]
    assert ev.raw.format == RawFormat.TWITTER_V2 and ev.raw.source == SOURCE == "x.filtered_stream"
    assert ev.dedupe_key == "x:tweet:1377650090978992134"
    assert ev.source_time == pytest.approx(1617292351.0)
    assert ev.cursor == "1700000000.5"
    error = b'{"errors": [{"title": "operational-disconnect", "type": "about:blank"}]}'
    a, b = frame_event(error, counter, 1.0), frame_event(error, counter, 1.0)
    assert a.dedupe_key != b.dedupe_key  # two disconnects are two events
    assert frame_event(lines[-1], counter, 1.0).dedupe_key.startswith("x:frame:")  # the cut line


def test_error_frames_reach_the_dead_letters_as_source_errors() -> None:
    error = b'{"errors": [{"title": "operational-disconnect", "detail": "upstream", "type": "about:blank"}]}'
    batch = normalize(frame_event(error, itertools.count(), 1.0).raw)
    assert not batch.activities
    assert [d.reason.value for d in batch.dead_letters] == ["source_error"]


def test_restart_backfill_covers_the_gap_within_the_allowance() -> None:
    now = 10_000.0
    assert restart_backfill(repr(now - 30), 5, now) == 1
    assert restart_backfill(repr(now - 125), 5, now) == 3
    assert restart_backfill(repr(now - 125), 2, now) == 0  # gap longer than the allowance: nothing
    assert restart_backfill(repr(now - 30), 0, now) == 0
    assert restart_backfill(None, 5, now) == 0
    assert restart_backfill("junk", 5, now) == 0


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    SPEC.add_arguments(parser)
    return parser.parse_args(argv)


def test_spec_builds_from_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SPEC.name == "x"
    argv = [
        "--bearer-token",
        "t",
        "--rule",
        "acme lang:en",
        "--tagged-rule",
        "support",
        "@acme",
        "--backfill-minutes",
        "9",
    ]
    source = SPEC.build(Settings(), _args(argv), None)
    assert isinstance(source, XSource) and source.name == "x"
    assert source.config.rules == (Rule("acme lang:en"), Rule("@acme", "support"))
    assert source.config.backfill_minutes == 5 and not source.config.dry_run
    built = SPEC.build(Settings(x_bearer_token=SecretStr("env-token")), _args(["--dry-run"]), None)
    assert isinstance(built, XSource)
    assert built.config.bearer_token == "env-token" and built.config.dry_run and built.config.rules == ()
    with pytest.raises(SystemExit):
        SPEC.build(Settings(), _args([]), None)
