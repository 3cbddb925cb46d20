"""sources.replay and sources.samples on the bundled real captures."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from activity.raw import RawEvent, RawFormat
from sources.replay import classify, detect_format, detect_payload, iter_file, iter_files, iter_paced
from sources.samples import DEMO_DIR, demo_files, iter_demo

EXPECTED = {
    "bluesky_jetstream_capture_2026-07-04.jsonl.gz": (RawFormat.JETSTREAM, 152),
    "bluesky_jetstream_golden_2026-05-25.jsonl.gz": (RawFormat.JETSTREAM, 10),
    "mastodon_statuses_sample.jsonl.gz": (RawFormat.MASTODON, 80),
    "reddit_comments_sample.jsonl.gz": (RawFormat.REDDIT, 500),
    "twitter_v2_flat.jsonl.gz": (RawFormat.TWITTER_V2, 100),
}


def _lines(path: Path) -> list[bytes]:
    return gzip.decompress(path.read_bytes()).splitlines()


def _plain_copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name.removesuffix(".gz")
    dst.write_bytes(gzip.decompress(src.read_bytes()))
    return dst


def test_demo_files_are_bundled_with_provenance() -> None:
    assert [p.name for p in demo_files()] == sorted(EXPECTED)
    readme = (DEMO_DIR / "README.md").read_text()
    notice = (Path(__file__).resolve().parents[2] / "NOTICE").read_text()
    for name in EXPECTED:
        assert name in readme
        assert name in notice


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_detects_each_real_format_gz_and_plain(name: str, tmp_path: Path) -> None:
    gz = DEMO_DIR / name
    fmt, _ = EXPECTED[name]
    assert detect_format(gz) is fmt
    assert detect_format(_plain_copy(gz, tmp_path)) is fmt


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_line_yielded_with_its_exact_bytes(name: str, tmp_path: Path) -> None:
    gz = DEMO_DIR / name
    fmt, count = EXPECTED[name]
    want = _lines(gz)
    for path in (gz, _plain_copy(gz, tmp_path)):
        events = list(iter_file(path, clock=lambda: 1234.5))
        assert len(events) == count
        assert [e.payload for e in events] == want
        assert {e.format for e in events} == {fmt.value}
        assert {e.source for e in events} == {f"replay:{path.name}"}
        assert {e.received_at for e in events} == {1234.5}


def test_every_real_payload_classifies_as_its_file_format() -> None:
    for path in demo_files():
        fmt, _ = EXPECTED[path.name]
        assert {detect_payload(line) for line in _lines(path)} == {fmt}


def test_broken_and_crlf_lines_are_yielded_blank_lines_skipped(tmp_path: Path) -> None:
    good = b'{"did":"did:plc:abc","time_us":1,"kind":"identity","identity":{"did":"did:plc:abc"}}'
    broken = b'{"did":"did:plc:abc","time_us":2,"kind":"comm'
    junk = b"\xff\xfenot json at all"
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(good + b"\r\n" + broken + b"\n\n   \n" + junk)  # no final newline
    events = list(iter_file(path, source="test"))
    assert [e.payload for e in events] == [good, broken, junk]
    assert all(e.format == "jetstream" and e.source == "test" for e in events)
    assert all(isinstance(e, RawEvent) for e in events)


def test_broken_first_line_does_not_hide_the_format(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"data": {"id": "1", "te\n{"data": {"id": "1", "text": "hi"}}\n'))
    assert detect_format(path) is RawFormat.TWITTER_V2
    assert len(list(iter_file(path))) == 2


def test_explicit_and_unknown_formats(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b'{"hello": "world"}\nnot json\n')
    with pytest.raises(ValueError, match="cannot tell"):
        detect_format(path)
    assert detect_format(path, "reddit") is RawFormat.REDDIT
    assert [e.format for e in iter_file(path, fmt=RawFormat.MASTODON)] == ["mastodon", "mastodon"]
    with pytest.raises(ValueError, match="unknown format"):
        detect_format(path, "myspace")


def test_classify_shapes() -> None:
    assert classify([1, 2]) is None
    assert classify({"kind": "t1", "data": {"body": "x"}}) is RawFormat.REDDIT
    assert classify({"data": [], "includes": {"users": []}}) is RawFormat.TWITTER_V2
    assert classify({"errors": [{"title": "operational-disconnect"}]}) is RawFormat.TWITTER_V2
    assert classify({"id": "1", "uri": "u", "content": "<p>x</p>", "account": {}}) is RawFormat.MASTODON
    assert detect_payload(b"{not json") is None


def test_iter_files_and_demo_chain_in_order() -> None:
    events = list(iter_demo())
    assert len(events) == sum(n for _, n in EXPECTED.values())
    assert [e.payload for e in iter_files(demo_files())] == [e.payload for e in events]
    assert all(orjson.loads(e.payload) for e in events)  # the bundled real data is all valid JSON


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0
        self.sleeps = 0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps += 1
        self.t += seconds


def _raw(i: int) -> RawEvent:
    return RawEvent("jetstream", "test", 0.0, str(i).encode())


@pytest.mark.parametrize(("rate", "burst"), [(200.0, 1.0), (37.5, 1.0), (5000.0, 10.0)])
def test_pacing_gives_the_requested_rate(rate: float, burst: float) -> None:
    clock = FakeClock()
    n = 2000
    times: list[float] = []
    for ev in iter_paced((_raw(i) for i in range(n)), rate, burst=burst, clock=clock, sleep=clock.sleep):
        times.append(clock.t)
        assert ev.payload == str(len(times) - 1).encode()
    assert len(times) == n
    measured = (n - burst) / (times[-1] - 100.0)
    assert measured == pytest.approx(rate, rel=0.01)
    # steady state: consecutive events are 1/rate apart
    gaps = [b - a for a, b in zip(times[int(burst) + 1 :], times[int(burst) + 2 :], strict=False)]
    assert max(gaps) == pytest.approx(1 / rate, rel=0.01)


def test_pacing_does_not_sleep_when_the_source_is_slower_than_the_rate() -> None:
    clock = FakeClock()

    def slow_source() -> Iterator[RawEvent]:
        for i in range(50):
            clock.t += 0.1  # the source itself takes 100 ms per event
            yield _raw(i)

    assert len(list(iter_paced(slow_source(), 100.0, clock=clock, sleep=clock.sleep))) == 50
    assert clock.sleeps == 0


def test_unpaced_and_invalid_rates() -> None:
    clock = FakeClock()
    assert len(list(iter_paced((_raw(i) for i in range(10)), None, clock=clock, sleep=clock.sleep))) == 10
    assert clock.sleeps == 0
    with pytest.raises(ValueError, match="rate"):
        list(iter_paced([_raw(0)], 0.0))
