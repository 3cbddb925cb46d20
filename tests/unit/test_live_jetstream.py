"""The pure parts of the Jetstream source: URLs, dedupe keys, cursor and rewind arithmetic."""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from activity.raw import RawFormat
from groundswell.settings import Settings
from sources.live import registry
from sources.live.jetstream import (
    MAX_URL_CHARS,
    PUBLIC_URLS,
    SPEC,
    JetstreamConfig,
    build_url,
    dedupe_key,
    parse_cursor,
    resume_cursor,
    to_source_event,
)
from tests.fixtures.jetstream_server import read_capture

BASE = "wss://jetstream2.us-east.bsky.network/subscribe"
LINES = read_capture()


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_plain_url_has_no_query() -> None:
    assert build_url(BASE, JetstreamConfig(), None) == (BASE, False)


def test_url_carries_repeated_filters_cursor_and_options() -> None:
    config = JetstreamConfig(
        wanted_collections=("app.bsky.feed.post", "app.bsky.graph.*"),
        wanted_dids=("did:plc:a", "did:web:example.com"),
        zstd_dictionary=b"dict",
        max_message_size=65536,
    )
    url, hello = build_url(BASE, config, 1783175888085434)
    assert not hello
    assert url.startswith(BASE + "?")
    q = query(url)
    assert q["wantedCollections"] == ["app.bsky.feed.post", "app.bsky.graph.*"]
    assert q["wantedDids"] == ["did:plc:a", "did:web:example.com"]
    assert q["cursor"] == ["1783175888085434"]
    assert q["compress"] == ["true"]
    assert q["maxMessageSizeBytes"] == ["65536"]


def test_no_compression_without_a_dictionary() -> None:
    url, _ = build_url(BASE, JetstreamConfig(wanted_collections=("app.bsky.feed.like",)), 5)
    assert "compress" not in query(url)


def test_too_many_dids_for_a_url_go_in_an_options_update() -> None:
    dids = tuple(f"did:plc:{i:024d}" for i in range(1000))
    url, hello = build_url(BASE, JetstreamConfig(wanted_dids=dids), 42)
    assert hello
    assert len(url) < MAX_URL_CHARS
    assert query(url) == {"cursor": ["42"], "requireHello": ["true"]}


def test_config_limits() -> None:
    with pytest.raises(ValueError, match="collections"):
        JetstreamConfig(wanted_collections=tuple(f"a.b.c{i}" for i in range(101)))
    with pytest.raises(ValueError, match="DIDs"):
        JetstreamConfig(wanted_dids=tuple(f"did:plc:{i}" for i in range(10_001)))
    with pytest.raises(ValueError, match="URL"):
        JetstreamConfig(urls=())
    with pytest.raises(ValueError, match="ws"):
        JetstreamConfig(urls=("https://jetstream2.us-east.bsky.network/subscribe",))


def test_idle_timeout_defaults_off_only_for_a_did_filter() -> None:
    assert JetstreamConfig().effective_idle_timeout == 60.0
    assert JetstreamConfig(wanted_collections=("app.bsky.feed.post",)).effective_idle_timeout == 60.0
    assert JetstreamConfig(wanted_dids=("did:plc:a",)).effective_idle_timeout == 0.0
    assert JetstreamConfig(wanted_dids=("did:plc:a",), idle_timeout=30).effective_idle_timeout == 30


def test_resume_cursor_rewinds_from_just_after_the_last_event() -> None:
    assert resume_cursor(None, 2.0) is None  # nothing seen: live tail
    assert resume_cursor(1_783_175_888_085_434, 0.0) == 1_783_175_888_085_435  # inclusive cursor
    assert resume_cursor(1_783_175_888_085_434, 2.0) == 1_783_175_886_085_435
    assert resume_cursor(1_783_175_888_085_434, 0.25) == 1_783_175_887_835_435
    assert resume_cursor(1_000, 2.0) == 0  # never negative


def test_parse_cursor() -> None:
    assert parse_cursor(None) is None
    assert parse_cursor("1783175888085434\n") == 1783175888085434
    assert parse_cursor("garbage") is None
    assert parse_cursor("0") is None


def test_dedupe_keys_of_real_events_are_unique_and_ignore_time_us() -> None:
    keys = [dedupe_key(line, orjson.loads(line)) for line in LINES]
    assert len(set(keys)) == len(LINES)
    first = orjson.loads(LINES[0])
    assert keys[0] == (
        f"{first['did']}|commit|{first['commit']['rev']}|{first['commit']['collection']}"
        f"|{first['commit']['rkey']}|create"
    )
    # the same event from another instance (its own time_us) has the same key
    other = {**first, "time_us": first["time_us"] + 123_456}
    assert dedupe_key(orjson.dumps(other), other) == keys[0]
    identity = next(orjson.loads(line) for line in LINES if b'"kind":"identity"' in line)
    assert dedupe_key(b"", identity) == f"{identity['did']}|identity|{identity['identity']['seq']}"


def test_malformed_and_unknown_frames_are_keyed_by_their_hash() -> None:
    a = dedupe_key(b"not json", None)
    assert a.startswith("sha256:")
    assert a == dedupe_key(b"not json", None) != dedupe_key(b"not json!", None)
    odd = {"did": "did:plc:x", "kind": "commit", "commit": {"operation": "create"}}
    assert dedupe_key(b"x", odd).startswith("sha256:")


def test_to_source_event_keeps_the_bytes_and_sets_time_and_cursor() -> None:
    ev, time_us = to_source_event(LINES[0], 1234.5)
    first = orjson.loads(LINES[0])
    assert time_us == first["time_us"]
    assert ev.cursor == str(first["time_us"])
    assert ev.source_time == pytest.approx(first["time_us"] / 1e6)
    assert ev.raw.payload is LINES[0]
    assert (ev.raw.format, ev.raw.source, ev.raw.received_at) == (
        RawFormat.JETSTREAM.value,
        "bluesky.jetstream",
        1234.5,
    )

    bad, bad_time = to_source_event(b'{"time_us":', 1.0)
    assert bad_time is None and bad.cursor is None and bad.source_time is None
    assert bad.raw.payload == b'{"time_us":'
    weird, weird_time = to_source_event(b'{"time_us":true}', 1.0)
    assert weird_time is None and weird.cursor is None


def test_spec_is_registered_and_builds_from_cli_arguments(tmp_path: Path) -> None:
    assert registry.specs()["bluesky"] is SPEC
    parser = argparse.ArgumentParser()
    SPEC.add_arguments(parser)
    dids = tmp_path / "dids.txt"
    dids.write_text("did:plc:b\n\ndid:plc:a\n")
    args = parser.parse_args(
        [
            "--collection",
            "app.bsky.feed.post",
            "--did",
            "did:plc:a",
            "--dids-file",
            str(dids),
            "--rewind",
            "5",
        ]
    )
    source = SPEC.build(Settings(), args, "1783175888085434")
    config = source.config  # type: ignore[attr-defined]
    assert config.urls == PUBLIC_URLS
    assert config.wanted_collections == ("app.bsky.feed.post",)
    assert config.wanted_dids == ("did:plc:a", "did:plc:b")
    assert config.rewind_s == 5.0
    assert source.cursor == 1783175888085434  # type: ignore[attr-defined]
    explicit = parser.parse_args(["--url", "ws://127.0.0.1:1/subscribe", "--cursor", "99"])
    other = SPEC.build(Settings(), explicit, "1783175888085434")
    assert other.cursor == 99  # type: ignore[attr-defined]
    assert other.config.urls == ("ws://127.0.0.1:1/subscribe",)  # type: ignore[attr-defined]
