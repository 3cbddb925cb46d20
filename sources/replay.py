"""Replay JSONL captures (plain or gzipped) as RawEvents, one per line, bytes untouched.

A line that is not valid JSON is still yielded: rejecting bad input is the normalizer's job (it
dead-letters it). Only blank lines are skipped. Pacing is a pure function of a passed-in clock
and sleep, so tests drive it with a fake clock.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, cast

import orjson

from activity.raw import RawEvent, RawFormat

_GZIP_MAGIC = b"\x1f\x8b"
#: how many leading lines ``detect_format`` looks at for one it can classify
PEEK_LINES = 20
_EPS = 1e-9


def _open(path: Path) -> IO[bytes]:
    with path.open("rb") as fh:
        magic = fh.read(2)
    if magic == _GZIP_MAGIC:
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def classify(obj: Any) -> RawFormat | None:
    """The format one decoded JSON object is in, judged by its shape; None when it fits none."""
    if not isinstance(obj, dict):
        return None
    if "did" in obj and "time_us" in obj and "kind" in obj:
        return RawFormat.JETSTREAM
    if "account" in obj and ("content" in obj or "reblog" in obj) and "uri" in obj:
        return RawFormat.MASTODON
    if isinstance(obj.get("kind"), str) and obj["kind"] in ("t1", "t3", "Listing") and "data" in obj:
        return RawFormat.REDDIT
    if "subreddit" in obj or ("body" in obj and "parent_id" in obj):
        return RawFormat.REDDIT
    if "data" in obj or "includes" in obj or "errors" in obj or "matching_rules" in obj or "__twarc" in obj:
        return RawFormat.TWITTER_V2
    if "author_id" in obj and "text" in obj:  # a bare (e.g. twarc-flattened) tweet
        return RawFormat.TWITTER_V2
    return None


def detect_payload(payload: bytes) -> RawFormat | None:
    """Classify one raw payload; None when it is not JSON or fits no known format."""
    try:
        return classify(orjson.loads(payload))
    except orjson.JSONDecodeError:
        return None


def detect_format(path: str | Path, fmt: str | RawFormat | None = None) -> RawFormat:
    """The format of a JSONL(.gz) file: ``fmt`` when given, else judged from its first JSON lines.

    Raises ``ValueError`` for an unknown explicit format or a file none of whose first
    ``PEEK_LINES`` non-blank lines is recognisable.
    """
    if fmt is not None:
        try:
            return RawFormat(fmt)
        except ValueError:
            raise ValueError(f"unknown format {fmt!r}; one of {[f.value for f in RawFormat]}") from None
    p = Path(path)
    seen = 0
    with _open(p) as fh:
        for line in fh:
            if not line.strip():
                continue
            found = detect_payload(line)
            if found is not None:
                return found
            seen += 1
            if seen >= PEEK_LINES:
                break
    raise ValueError(f"cannot tell the format of {p}: pass fmt= one of {[f.value for f in RawFormat]}")


def iter_file(
    path: str | Path,
    fmt: str | RawFormat | None = None,
    source: str | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> Iterator[RawEvent]:
    """One RawEvent per non-blank line, its bytes exactly as in the file (minus the line ending).

    ``source`` defaults to ``replay:<file name>``; ``received_at`` is ``clock()`` when the line is read.
    """
    p = Path(path)
    fmt_value = detect_format(p, fmt).value
    src = source if source is not None else f"replay:{p.name}"
    with _open(p) as fh:
        for line in fh:
            if line.endswith(b"\n"):
                line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
            if not line.strip():
                continue
            yield RawEvent(fmt_value, src, clock(), line)


def iter_files(
    paths: Iterable[str | Path],
    fmt: str | RawFormat | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> Iterator[RawEvent]:
    """The events of several files in turn, each file's format detected on its own (unless ``fmt``)."""
    for path in paths:
        yield from iter_file(path, fmt, clock=clock)


def iter_paced(
    events: Iterable[RawEvent],
    rate: float | None,
    *,
    burst: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[RawEvent]:
    """Pass events through at most ``rate`` per second (token bucket of ``burst`` tokens).

    ``rate=None`` passes them through unpaced. Time comes only from ``clock`` and ``sleep``.
    """
    if rate is None:
        yield from events
        return
    if rate <= 0 or burst < 1:
        raise ValueError("rate must be > 0 and burst >= 1")
    tokens = burst
    last = clock()
    for event in events:
        while True:
            now = clock()
            tokens = min(burst, tokens + (now - last) * rate)
            last = now
            if tokens >= 1.0 - _EPS:  # a sleep that lands a hair short still counts as on time
                break
            sleep((1.0 - tokens) / rate)
        tokens = max(0.0, tokens - 1.0)
        yield event
