"""Turn a :class:`RawEvent` from any network into activities and dead letters. Never raises.

``normalize(raw)`` checks the envelope (size, UTF-8, JSON, object) and dispatches on
``raw.format`` to one module per network. A normalizer may return several activities (an X API
response holds many tweets and users) and dead letters for the parts it could not use.

Conventions every network follows (see each module's docstring for the details):

- ``event_id`` is a pure function of the payload: replaying a payload gives the same ids.
  PROFILE event ids end in a hash of the profile content (handle, name, profile fields), so they
  change exactly when the profile does.
- ``created_at`` comes from the payload; ``received_at`` and ``source`` from the RawEvent.
- For likes, reposts and follows ``post_id`` is the id of the record the activity itself
  creates where the network has one (Bluesky at-uris), so that a later DELETE can name it.
- ``Profile`` fields that are None mean "this event did not say", not "empty".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from activity.deadletter import DeadLetter, DeadLetterReason, NormalizationError
from activity.normalize import jetstream, mastodon, reddit, twitter
from activity.normalize._common import Batch
from activity.raw import RawEvent, RawFormat
from activity.schema import Activity

__all__ = ["DEFAULT_MAX_BYTES", "NormalizeResult", "normalize"]

DEFAULT_MAX_BYTES = 1_000_000

_NORMALIZERS: dict[str, Callable[[dict[str, Any], RawEvent, Batch], None]] = {
    RawFormat.JETSTREAM.value: jetstream.normalize_jetstream,
    RawFormat.MASTODON.value: mastodon.normalize_mastodon,
    RawFormat.REDDIT.value: reddit.normalize_reddit,
    RawFormat.TWITTER_V2.value: twitter.normalize_twitter,
}


@dataclass(frozen=True, slots=True)
class NormalizeResult:
    activities: tuple[Activity, ...]
    dead_letters: tuple[DeadLetter, ...]

    @property
    def ok(self) -> bool:
        return not self.dead_letters


def _only(raw: RawEvent, reason: DeadLetterReason, detail: str) -> NormalizeResult:
    return NormalizeResult((), (DeadLetter.of(raw, reason, detail),))


def normalize(raw: RawEvent, max_bytes: int = DEFAULT_MAX_BYTES) -> NormalizeResult:
    """Normalize one raw event. Bad input becomes dead letters; this function never raises."""
    try:
        return _normalize(raw, max_bytes)
    except Exception as exc:  # the promise is "never crash": even a bug is a dead letter
        try:
            return _only(
                raw, DeadLetterReason.INVALID_VALUE, f"normalizer error: {type(exc).__name__}: {exc}"
            )
        except Exception:  # a RawEvent with wrong field types: keep what can be kept
            return NormalizeResult((), (_fallback_dead_letter(raw, exc),))


def _normalize(raw: RawEvent, max_bytes: int) -> NormalizeResult:
    payload = raw.payload
    if not isinstance(payload, bytes | bytearray | memoryview):
        return _only(raw, DeadLetterReason.WRONG_TYPE, f"payload is {type(payload).__name__}, not bytes")
    if len(payload) > max_bytes:
        return _only(raw, DeadLetterReason.TOO_LARGE, f"payload is {len(payload)} bytes, limit {max_bytes}")
    fn = _NORMALIZERS.get(raw.format)
    if fn is None:
        return _only(raw, DeadLetterReason.UNKNOWN_FORMAT, f"no normalizer for format {raw.format!r}")
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError as exc:
        return _only(raw, DeadLetterReason.INVALID_UTF8, str(exc))
    if not text.strip():
        return _only(raw, DeadLetterReason.EMPTY, "empty payload")
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return _only(raw, DeadLetterReason.MALFORMED_JSON, str(exc))
    if not isinstance(obj, dict):
        return _only(
            raw, DeadLetterReason.WRONG_TYPE, f"payload is a JSON {type(obj).__name__}, not an object"
        )
    batch = Batch()
    try:
        fn(obj, raw, batch)
    except NormalizationError as exc:
        return _only(raw, exc.reason, exc.detail)
    except (TypeError, AttributeError, KeyError, IndexError) as exc:
        return _only(raw, DeadLetterReason.WRONG_TYPE, f"{type(exc).__name__}: {exc}")
    except (ValueError, OverflowError, RecursionError) as exc:
        return _only(raw, DeadLetterReason.INVALID_VALUE, f"{type(exc).__name__}: {exc}")
    if not batch.activities and not batch.dead_letters:
        return _only(raw, DeadLetterReason.EMPTY, "nothing to normalize in the payload")
    return NormalizeResult(tuple(batch.activities), tuple(batch.dead_letters))


def _fallback_dead_letter(raw: RawEvent, exc: Exception) -> DeadLetter:
    payload = raw.payload if isinstance(raw.payload, bytes) else repr(raw.payload).encode("utf-8", "replace")
    safe = RawEvent(
        format=str(raw.format),
        source=str(raw.source),
        received_at=raw.received_at if isinstance(raw.received_at, float) else 0.0,
        payload=payload,
    )
    return DeadLetter.of(safe, DeadLetterReason.WRONG_TYPE, f"bad raw event: {type(exc).__name__}: {exc}")
