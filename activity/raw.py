"""What a source hands the pipeline: the payload exactly as received, plus where it came from."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum


class RawFormat(StrEnum):
    JETSTREAM = "jetstream"  # Bluesky Jetstream v1 JSON event
    MASTODON = "mastodon"  # Mastodon Status entity (payload of a streaming `update`)
    REDDIT = "reddit"  # Reddit comment (`t1`) or submission (`t3`) data object
    TWITTER_V2 = "twitter_v2"  # X API v2 response or filtered-stream frame


#: Kafka header names carrying a raw event's metadata; the record value is the payload itself.
HEADER_FORMAT = "gs-format"
HEADER_SOURCE = "gs-source"
HEADER_RECEIVED_AT = "gs-received-at"


@dataclass(frozen=True, slots=True)
class RawEvent:
    format: str  # a RawFormat value; kept as str so an unknown format is data, not a crash
    source: str  # e.g. "replay:jetstream_capture_2026-07-04.jsonl", "sim", "bluesky.jetstream"
    received_at: float
    payload: bytes

    @classmethod
    def now(cls, fmt: str, source: str, payload: bytes) -> RawEvent:
        return cls(format=fmt, source=source, received_at=time.time(), payload=payload)

    def headers(self) -> dict[str, bytes]:
        return {
            HEADER_FORMAT: self.format.encode(),
            HEADER_SOURCE: self.source.encode(),
            HEADER_RECEIVED_AT: repr(self.received_at).encode(),
        }

    @classmethod
    def from_headers(cls, headers: dict[str, bytes] | None, payload: bytes | None) -> RawEvent:
        """Rebuild from Kafka headers; missing headers become empty strings (and dead letters later)."""
        h = headers or {}
        try:
            received_at = float(h.get(HEADER_RECEIVED_AT, b"0").decode("ascii", "replace"))
        except ValueError:
            received_at = 0.0
        return cls(
            format=h.get(HEADER_FORMAT, b"").decode("utf-8", "replace"),
            source=h.get(HEADER_SOURCE, b"").decode("utf-8", "replace"),
            received_at=received_at,
            payload=payload or b"",
        )
