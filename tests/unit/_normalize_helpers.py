"""Helpers for the normalize tests: bundled samples and a run over many raw lines."""

from __future__ import annotations

import gzip
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from activity.normalize import normalize
from activity.raw import RawEvent
from activity.schema import Activity, ActivityKind

SAMPLE_DIR = Path(__file__).parents[1] / "data" / "sample"


def sample_lines(name: str) -> list[bytes]:
    return gzip.decompress((SAMPLE_DIR / name).read_bytes()).splitlines()


def raw(fmt: str, payload: bytes | dict[str, object], source: str = "test") -> RawEvent:
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return RawEvent(format=fmt, source=source, received_at=1_800_000_000.0, payload=data)


def find(fmt: str, lines: list[bytes], needle: bytes) -> RawEvent:
    return raw(fmt, next(line for line in lines if needle in line))


@dataclass
class RunStats:
    lines: int = 0
    with_activity: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    by_id: dict[str, Activity] = field(default_factory=dict)
    conflicting_ids: list[str] = field(default_factory=list)
    unaccounted: list[str] = field(default_factory=list)


def _comparable(a: Activity) -> tuple[object, ...]:
    """What must agree when the data itself repeats an event. A repeat may carry more or less context
    (an X response that includes the quoted tweet names its author, one that does not cannot), so
    handles and the target account are left out, and so are the receive facts; X replaces the text
    of tweets by a media-policy notice in some responses (media_policy_violation_on.jsonl), so the
    text is left out too: the tweet, its author, time and target must agree."""
    created = None if a.kind is ActivityKind.PROFILE else a.created_at
    return (a.kind, a.network, a.actor.id, created, a.post_id, a.target_post_id, a.profile)


def run_lines(stats: RunStats, fmt: str, label: str, lines: list[bytes]) -> None:
    for i, line in enumerate(lines):
        result = normalize(raw(fmt, line, source=label))
        stats.lines += 1
        if not result.activities and not result.dead_letters:
            stats.unaccounted.append(f"{label}:{i}")
        stats.with_activity += bool(result.activities)
        for d in result.dead_letters:
            stats.reasons[d.reason.value] += 1
        for a in result.activities:
            stats.kinds[f"{a.network.value}/{a.kind.value}"] += 1
            seen = stats.by_id.setdefault(a.event_id, a)
            if seen is not a and _comparable(seen) != _comparable(a):
                stats.conflicting_ids.append(f"{label}:{i}: {a.event_id}")


def table(counter: Counter[str]) -> str:
    width = max((len(k) for k in counter), default=10)
    return "\n".join(f"  {k:<{width}}  {v:>6}" for k, v in sorted(counter.items()))
