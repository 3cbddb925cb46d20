"""Helpers shared by the per-network normalizers: typed field access, times, profile event ids."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import orjson

from activity.deadletter import DeadLetter, DeadLetterReason, NormalizationError
from activity.raw import RawEvent
from activity.schema import AccountRef, Activity, Profile

T = TypeVar("T")

_TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object", list: "array"}


@dataclass
class Batch:
    """What one payload normalizes into, in order; profiles are de-duplicated by event id."""

    activities: list[Activity] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    def add(self, activity: Activity) -> None:
        if activity.event_id in self._seen:
            return
        self._seen.add(activity.event_id)
        self.activities.append(activity)


def fail(reason: DeadLetterReason, detail: str) -> NormalizationError:
    return NormalizationError(reason, detail)


def _check(value: Any, typ: type[T], where: str) -> T:
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail(DeadLetterReason.WRONG_TYPE, f"{where}: expected number, got {type(value).__name__}")
        return float(value)  # type: ignore[return-value]
    if (typ is int and isinstance(value, bool)) or not isinstance(value, typ):
        raise fail(
            DeadLetterReason.WRONG_TYPE,
            f"{where}: expected {_TYPE_NAMES.get(typ, typ.__name__)}, got {type(value).__name__}",
        )
    return value


def req(obj: dict[str, Any], key: str, typ: type[T], where: str = "") -> T:
    """A required field of the given type (MISSING_FIELD when absent or null, WRONG_TYPE otherwise)."""
    path = f"{where}.{key}" if where else key
    value = obj.get(key)
    if value is None:
        raise fail(DeadLetterReason.MISSING_FIELD, f"{path} is missing")
    return _check(value, typ, path)


def opt(obj: dict[str, Any], key: str, typ: type[T], where: str = "") -> T | None:
    """An optional field: None when absent or null, WRONG_TYPE when present with another type."""
    value = obj.get(key)
    if value is None:
        return None
    return _check(value, typ, f"{where}.{key}" if where else key)


def opt_list_of_dicts(obj: dict[str, Any], key: str, where: str = "") -> list[dict[str, Any]]:
    items = opt(obj, key, list, where) or []
    path = f"{where}.{key}" if where else key
    return [_check(item, dict, f"{path}[{i}]") for i, item in enumerate(items)]


def iso_time(value: str, where: str) -> float:
    """Epoch seconds from an ISO 8601 timestamp ("Z" accepted); INVALID_VALUE when unparseable."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError, OSError) as exc:
        raise fail(DeadLetterReason.INVALID_VALUE, f"{where}: bad timestamp {value[:64]!r}") from exc


def epoch(value: float, where: str) -> float:
    if value != value or not -1e11 < value < 1e11:  # NaN or absurd
        raise fail(DeadLetterReason.INVALID_VALUE, f"{where}: bad epoch {value!r}")
    return value


def short_hash(*parts: Any) -> str:
    return hashlib.sha256(orjson.dumps(parts)).hexdigest()[:16]


def profile_event_id(prefix: str, actor: AccountRef, profile: Profile | None) -> str:
    """``<prefix>:<account id>:<hash>``: changes exactly when the handle, name or profile content does."""
    fields: tuple[Any, ...] = ()
    if profile is not None:
        fields = (
            profile.display_name,
            profile.bio,
            profile.url,
            profile.location,
            profile.followers,
            profile.following,
            profile.posts,
            profile.created_at,
            profile.active,
        )
    native = actor.id.removeprefix(f"{actor.network.value}:")
    return f"{prefix}:{native}:{short_hash(actor.handle, actor.display_name, fields)}"


def dead(raw: RawEvent, exc: NormalizationError) -> DeadLetter:
    return DeadLetter.of(raw, exc.reason, exc.detail)
