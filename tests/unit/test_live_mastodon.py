"""The Mastodon source's pure parts: SSE framing, exact-bytes JSON array splitting, rate-limit
headers, stream kinds, cursors and the command line."""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import orjson
import pytest

from groundswell.settings import Settings
from sources.live.mastodon import (
    SPEC,
    MastodonSource,
    SseFrame,
    SseParser,
    StreamKind,
    id_key,
    instances_from_args,
    parse_cursor,
    retry_delay,
    split_json_array,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sources/data/demo/mastodon_statuses_sample.jsonl.gz"


def real_payloads(n: int = 5) -> list[bytes]:
    with gzip.open(SAMPLE, "rb") as f:
        return [line.rstrip(b"\n") for line in f][:n]


def parse_all(stream: bytes, chunk: int) -> tuple[list[SseFrame], int]:
    parser = SseParser()
    frames: list[SseFrame] = []
    for i in range(0, len(stream), chunk):
        frames.extend(parser.feed(stream[i : i + chunk]))
    return frames, parser.comments


@pytest.mark.parametrize("chunk", [1, 7, 64, 1_000_000])
def test_sse_frames_survive_any_chunking_and_keep_the_status_bytes(chunk: int) -> None:
    payloads = real_payloads(3)
    stream = b":)\n" + b"".join(b"event: update\ndata: " + p + b"\n\n:thump\n" for p in payloads)
    frames, comments = parse_all(stream, chunk)
    assert frames == [SseFrame("update", p) for p in payloads]
    assert comments == 4  # the greeting and three heartbeats


def test_sse_multiline_data_crlf_comments_and_defaults() -> None:
    stream = (
        b": comment between fields\r\n"
        b"event: status.update\r\n"
        b'data: {"a":\r\n'
        b": a comment inside a frame does not end it\r\n"
        b"data:1}\r\n"
        b"id: 7\r\n"
        b"\r\n"
        b"data: no event field\n\n"
        b"event: delete\ndata: 1234\n\n"
        b"event: ignored-without-data\n\n"
        b"data:\n\n"
        b"unknown-field: x\nretry: 10\n\n"
    )
    frames, comments = parse_all(stream, 5)
    assert frames == [
        SseFrame("status.update", b'{"a":\n1}'),
        SseFrame("message", b"no event field"),
        SseFrame("delete", b"1234"),
        SseFrame("message", b""),
    ]
    assert orjson.loads(frames[0].data) == {"a": 1}
    assert comments == 2


def test_sse_incomplete_frame_waits_for_the_blank_line() -> None:
    parser = SseParser()
    assert parser.feed(b"event: update\ndata: {}\n") == []
    assert parser.feed(b"\n") == [SseFrame("update", b"{}")]


def test_split_json_array_returns_each_element_exactly_as_received() -> None:
    payloads = real_payloads(5)
    tricky = b'{"s": "a ] } [ { , \\" \\\\", "n": [1, {"x": []}]}'
    body = b"[\n  " + b",\n  ".join([*payloads, tricky]) + b"\n]"
    assert split_json_array(body) == [*payloads, tricky]
    assert split_json_array(b"[]") == []
    assert split_json_array(b" [ ] ") == []
    with pytest.raises(ValueError, match="not a JSON array"):
        split_json_array(b'{"error": ["x"]}')
    with pytest.raises(ValueError, match="unterminated"):
        split_json_array(b"[{}, {")


def test_ids_compare_numerically() -> None:
    assert id_key("999") < id_key("1000") < id_key("1001")
    assert max(["114630717761810973", "99999999999999999"], key=id_key) == "114630717761810973"


def test_retry_delay_headers() -> None:
    assert retry_delay({"Retry-After": "3"}) == 3.0
    assert retry_delay({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10.0
    assert retry_delay({"X-RateLimit-Reset": "2026-01-01T00:00:30.000Z"}, now=1767225600.0) == 30.0
    assert retry_delay({"X-RateLimit-Reset": "2020-01-01T00:00:00Z"}, now=1767225600.0) == 0.0
    assert retry_delay({"Retry-After": "100000"}) == 900.0  # capped
    assert retry_delay({}) is None
    assert retry_delay({"X-RateLimit-Reset": "garbage"}) is None
    assert retry_delay({"Retry-After": "soon"}) is None


def test_stream_kinds_and_their_backfill_timelines() -> None:
    assert StreamKind.parse("public").rest_path == "/api/v1/timelines/public"
    local = StreamKind.parse("public:local")
    assert (local.stream_path, local.rest_params) == ("/api/v1/streaming/public/local", {"local": "true"})
    tag = StreamKind.parse("hashtag:python")
    assert (tag.stream_params, tag.rest_path) == ({"tag": "python"}, "/api/v1/timelines/tag/python")
    assert StreamKind.parse("user").rest_path == "/api/v1/timelines/home"
    with pytest.raises(ValueError, match="unknown stream"):
        StreamKind.parse("hashtag:")


def test_cursor_round_trip_seeds_each_instance() -> None:
    src = MastodonSource(
        [("https://a.example/", "t"), ("b.example", None)], cursor='{"https://a.example": "42"}'
    )
    assert [(i.url, i.last_id) for i in src.instances] == [
        ("https://a.example", "42"),
        ("https://b.example", None),
    ]
    assert src.instances[0].source == "mastodon:a.example"
    assert src.instances[0].headers() == {"Authorization": "Bearer t"}
    assert src.instances[1].headers() == {}
    assert parse_cursor("not json") == {}
    assert parse_cursor("[1]") == {}
    assert parse_cursor(None) == {}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    SPEC.add_arguments(p)
    return p.parse_args(argv)


def test_instances_and_tokens_from_args_and_file(tmp_path: Path) -> None:
    args = parse_args(["--instance", "https://a.example", "--token", "ta", "--instance", "b.example"])
    with pytest.raises(SystemExit):
        instances_from_args(args)  # two instances, one token
    tokens = tmp_path / "tokens"
    tokens.write_text("# instance token\nhttps://b.example tb\nhttps://c.example/ tc\n\n")
    args = parse_args(
        ["--instance", "a.example", "--instance", "https://b.example", "--tokens-file", str(tokens)]
    )
    assert instances_from_args(args) == [("https://a.example", None), ("https://b.example", "tb")]
    args = parse_args(["--tokens-file", str(tokens), "--stream", "hashtag:acme"])
    assert instances_from_args(args) == [("https://b.example", "tb"), ("https://c.example", "tc")]
    assert SPEC.name == "mastodon"
    with pytest.raises(SystemExit):
        instances_from_args(parse_args([]))
    tokens.write_text("https://b.example\n")
    with pytest.raises(ValueError, match="INSTANCE TOKEN"):
        instances_from_args(parse_args(["--tokens-file", str(tokens)]))


def test_spec_builds_a_source_resuming_from_the_cursor() -> None:
    args = parse_args(["--instance", "https://a.example", "--token", "t", "--stream", "public:local"])
    source = SPEC.build(Settings(), args, '{"https://a.example": "110"}')
    assert isinstance(source, MastodonSource)
    assert source.name == "mastodon"
    assert source.instances[0].last_id == "110"
    assert source.stream == StreamKind.parse("public:local")
