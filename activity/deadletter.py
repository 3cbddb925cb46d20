"""Bad input is data: a dead-letter record keeps the reason and the payload, nothing is lost."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from activity.raw import RawEvent


class DeadLetterReason(StrEnum):
    TOO_LARGE = "too_large"  # payload over the configured limit (default 1 MB)
    INVALID_UTF8 = "invalid_utf8"
    MALFORMED_JSON = "malformed_json"
    WRONG_TYPE = "wrong_type"  # valid JSON, but a field (or the whole payload) has the wrong type
    MISSING_FIELD = "missing_field"
    UNKNOWN_KIND = "unknown_kind"  # a collection / object kind this normalizer does not handle
    UNKNOWN_FORMAT = "unknown_format"  # the raw event's format tag names no normalizer
    SOURCE_ERROR = "source_error"  # the source itself delivered an error frame (e.g. X stream errors)
    EMPTY = "empty"  # a well-formed payload with nothing in it to normalize
    INVALID_VALUE = "invalid_value"  # a field with an impossible value (bad timestamp, bad id)


class NormalizationError(Exception):
    """Raised by a normalizer for input it cannot turn into activities."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


#: at most this many payload bytes are kept inline in a dead letter (the size and hash are always
#: kept), so that a dead letter always fits in a Kafka record, whatever it carries
MAX_KEPT_PAYLOAD = 256 * 1024


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: DeadLetterReason
    detail: str
    stage: str  # which stage rejected it: "normalize", "graph", ...
    source: str
    format: str
    received_at: float
    payload: bytes
    payload_size: int
    sha256: str

    @classmethod
    def of(cls, raw: RawEvent, reason: DeadLetterReason, detail: str, stage: str = "normalize") -> DeadLetter:
        return cls(
            reason=reason,
            detail=detail[:2000],
            stage=stage,
            source=raw.source,
            format=raw.format,
            received_at=raw.received_at,
            payload=raw.payload[:MAX_KEPT_PAYLOAD],
            payload_size=len(raw.payload),
            sha256=hashlib.sha256(raw.payload).hexdigest(),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason.value,
            "detail": self.detail,
            "stage": self.stage,
            "source": self.source,
            "format": self.format,
            "received_at": self.received_at,
            "payload_b64": base64.b64encode(self.payload).decode("ascii"),
            "payload_size": self.payload_size,
            "payload_truncated": len(self.payload) < self.payload_size,
            "sha256": self.sha256,
        }

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_bytes(cls, data: bytes) -> DeadLetter:
        d = orjson.loads(data)
        return cls(
            reason=DeadLetterReason(d["reason"]),
            detail=d["detail"],
            stage=d["stage"],
            source=d["source"],
            format=d["format"],
            received_at=d["received_at"],
            payload=base64.b64decode(d["payload_b64"]),
            payload_size=d["payload_size"],
            sha256=d["sha256"],
        )
