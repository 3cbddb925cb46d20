"""Webhook subscriptions and the delivery log, in SQLite under ``settings.data_dir``.

A subscription is a URL, its signing secret, filters (rules, topics, a minimum priority) and an
active flag. The delivery log keeps, per (subscription, alert id), whether the alert was delivered
or dead-lettered, so a redelivered ``crm.alerts`` record is never sent twice to a webhook that
acknowledged it. The secret is stored as is (it must sign every request; it cannot be a hash), so
the database file is created readable by its owner only.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from alerts.schema import AlertHeader, AlertKind

DB_FILE = "alerts.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    rules TEXT NOT NULL DEFAULT '[]',
    topics TEXT NOT NULL DEFAULT '[]',
    min_priority REAL,
    active INTEGER NOT NULL DEFAULT 1,
    description TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    subscription_id TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    status TEXT NOT NULL,            -- delivered | dead | withheld (its account erased meanwhile)
    attempts INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (subscription_id, alert_id)
);
CREATE INDEX IF NOT EXISTS deliveries_by_time ON deliveries (updated_at);
"""


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Which alerts a subscriber wants: empty means any. Shared by webhooks and SSE streams."""

    rules: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    min_priority: float | None = None  # applies to post alerts; spikes carry no priority

    def matches(self, alert: AlertHeader) -> bool:
        if alert.kind == AlertKind.ERASURE:
            return True  # whoever got alerts may hold data about the erased accounts
        if self.rules and not set(self.rules).intersection(alert.matched_rules or (alert.rule,)):
            return False
        if self.topics and not set(self.topics).intersection(alert.topics):
            return False
        return not (
            self.min_priority is not None
            and alert.priority is not None
            and alert.priority < self.min_priority
        )


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    url: str
    secret: str
    filter: AlertFilter
    active: bool
    description: str
    created_at: float

    def public_dict(self) -> dict[str, Any]:
        """Everything but the secret (it is shown once, when the subscription is created)."""
        return {
            "id": self.id,
            "url": self.url,
            "rules": list(self.filter.rules),
            "topics": list(self.filter.topics),
            "min_priority": self.filter.min_priority,
            "active": self.active,
            "description": self.description,
            "created_at": self.created_at,
        }


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _clean(values: Iterable[str], lower: bool = False) -> tuple[str, ...]:
    out = {v.strip().lower() if lower else v.strip() for v in values if v and v.strip()}
    return tuple(sorted(out))


class SubscriptionStore:
    """Thread-safe (one connection, one lock); every call is a short transaction."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.touch(mode=0o600)
        os.chmod(path, 0o600)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._active: tuple[Subscription, ...] | None = None
        self._seen_version = -1

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> SubscriptionStore:
        return cls(data_dir / DB_FILE)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- subscriptions ---------------------------------------------------------------------------
    def create(
        self,
        url: str,
        rules: Sequence[str] = (),
        topics: Sequence[str] = (),
        min_priority: float | None = None,
        description: str = "",
        now: float | None = None,
    ) -> Subscription:
        sub = Subscription(
            id=uuid.uuid4().hex,
            url=url,
            secret=new_secret(),
            filter=AlertFilter(_clean(rules), _clean(topics, lower=True), min_priority),
            active=True,
            description=description,
            created_at=time.time() if now is None else now,
        )
        with self._lock:
            self._db.execute(
                "INSERT INTO subscriptions (id, url, secret, rules, topics, min_priority, active,"
                " description, created_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
                (
                    sub.id,
                    sub.url,
                    sub.secret,
                    orjson.dumps(list(sub.filter.rules)).decode(),
                    orjson.dumps(list(sub.filter.topics)).decode(),
                    sub.filter.min_priority,
                    sub.description,
                    sub.created_at,
                ),
            )
            self._active = None
        return sub

    def get(self, sub_id: str) -> Subscription | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM subscriptions WHERE id = ?", (sub_id,)).fetchone()
        return _row(row) if row else None

    def all(self) -> list[Subscription]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM subscriptions ORDER BY created_at, id").fetchall()
        return [_row(r) for r in rows]

    def update(
        self,
        sub_id: str,
        *,
        active: bool | None = None,
        rules: Sequence[str] | None = None,
        topics: Sequence[str] | None = None,
        min_priority: float | None = None,
        clear_min_priority: bool = False,
        description: str | None = None,
    ) -> Subscription | None:
        sets: list[str] = []
        args: list[Any] = []
        if active is not None:
            sets.append("active = ?")
            args.append(1 if active else 0)
        if rules is not None:
            sets.append("rules = ?")
            args.append(orjson.dumps(list(_clean(rules))).decode())
        if topics is not None:
            sets.append("topics = ?")
            args.append(orjson.dumps(list(_clean(topics, lower=True))).decode())
        if min_priority is not None or clear_min_priority:
            sets.append("min_priority = ?")
            args.append(min_priority)
        if description is not None:
            sets.append("description = ?")
            args.append(description)
        if sets:
            with self._lock:
                self._db.execute(f"UPDATE subscriptions SET {', '.join(sets)} WHERE id = ?", (*args, sub_id))
                self._active = None
        return self.get(sub_id)

    def rotate_secret(self, sub_id: str) -> Subscription | None:
        with self._lock:
            self._db.execute("UPDATE subscriptions SET secret = ? WHERE id = ?", (new_secret(), sub_id))
            self._active = None
        return self.get(sub_id)

    def delete(self, sub_id: str) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM subscriptions WHERE id = ?", (sub_id,))
            self._db.execute("DELETE FROM deliveries WHERE subscription_id = ?", (sub_id,))
            self._active = None
            return cur.rowcount > 0

    def active(self) -> tuple[Subscription, ...]:
        """Active subscriptions, cached until this or another process changes the database."""
        with self._lock:
            version = int(self._db.execute("PRAGMA data_version").fetchone()[0])
            if self._active is None or version != self._seen_version:
                rows = self._db.execute(
                    "SELECT * FROM subscriptions WHERE active = 1 ORDER BY created_at, id"
                ).fetchall()
                self._active = tuple(_row(r) for r in rows)
                self._seen_version = version
            return self._active

    def matching(self, alert: AlertHeader) -> list[Subscription]:
        return [s for s in self.active() if s.filter.matches(alert)]

    # -- delivery log ----------------------------------------------------------------------------
    def delivery_status(self, sub_id: str, alert_id: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT status FROM deliveries WHERE subscription_id = ? AND alert_id = ?", (sub_id, alert_id)
            ).fetchone()
        return str(row[0]) if row else None

    def record_delivery(
        self, sub_id: str, alert_id: str, status: str, attempts: int, now: float | None = None
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO deliveries (subscription_id, alert_id, status, attempts, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (subscription_id, alert_id) DO UPDATE SET"
                " status = excluded.status, attempts = excluded.attempts, updated_at = excluded.updated_at",
                (sub_id, alert_id, status, attempts, time.time() if now is None else now),
            )

    def deliveries(self, sub_id: str) -> list[tuple[str, str, int]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT alert_id, status, attempts FROM deliveries WHERE subscription_id = ?"
                " ORDER BY updated_at",
                (sub_id,),
            ).fetchall()
        return [(str(a), str(s), int(n)) for a, s, n in rows]

    def forget_deliveries_before(self, cutoff: float) -> int:
        """Bound the log: ids older than the broker keeps records cannot be redelivered."""
        with self._lock:
            return self._db.execute("DELETE FROM deliveries WHERE updated_at < ?", (cutoff,)).rowcount


def _row(row: tuple[Any, ...]) -> Subscription:
    sub_id, url, secret, rules, topics, min_priority, active, description, created_at = row
    return Subscription(
        id=sub_id,
        url=url,
        secret=secret,
        filter=AlertFilter(
            tuple(orjson.loads(rules)),
            tuple(orjson.loads(topics)),
            None if min_priority is None else float(min_priority),
        ),
        active=bool(active),
        description=description,
        created_at=float(created_at),
    )
