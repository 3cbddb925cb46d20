"""Mastodon's wire formats, without I/O: Server-Sent Events framing, REST JSON arrays split into the
exact bytes of each Status, id order and rate-limit waits."""

from __future__ import annotations

import email.utils
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

MAX_RETRY_WAIT = 900.0  # never sleep longer than this on a Retry-After / X-RateLimit-Reset
_MAX_LINE = 16 * 1024 * 1024


# --- Server-Sent Events ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SseFrame:
    event: str
    data: bytes


class SseParser:
    """Incremental ``text/event-stream`` parser (WHATWG rules for LF / CRLF lines): ``data`` lines
    are joined with LF, ``:`` lines are comments (heartbeats), a blank line dispatches."""

    def __init__(self) -> None:
        self._buf = b""
        self._event = ""
        self._data: list[bytes] = []
        self.comments = 0

    def feed(self, chunk: bytes) -> list[SseFrame]:
        self._buf += chunk
        if b"\n" not in self._buf:
            if len(self._buf) > _MAX_LINE:
                raise ValueError("event-stream line longer than 16 MiB")
            return []
        *lines, self._buf = self._buf.split(b"\n")
        frames: list[SseFrame] = []
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data:
                    frames.append(SseFrame(self._event or "message", b"\n".join(self._data)))
                self._event, self._data = "", []
            elif line.startswith(b":"):
                self.comments += 1
            else:
                name, _, value = line.partition(b":")
                if value.startswith(b" "):
                    value = value[1:]
                if name == b"event":
                    self._event = value.decode("utf-8", "replace")
                elif name == b"data":
                    self._data.append(value)
        return frames


# --- REST helpers ---------------------------------------------------------------------------------

_JSON_TOKEN = re.compile(rb'\\.|["{}\[\],]', re.DOTALL)


def split_json_array(body: bytes) -> list[bytes]:
    """The elements of a top-level JSON array as the exact bytes received (whitespace trimmed)."""
    start = len(body) - len(body.lstrip())
    if body[start : start + 1] != b"[":
        raise ValueError("not a JSON array")
    items: list[bytes] = []
    depth, in_string, begin = 0, False, start + 1
    for m in _JSON_TOKEN.finditer(body, start):
        tok = m.group()
        if tok == b'"':
            in_string = not in_string
        elif in_string or len(tok) == 2:
            continue
        elif tok in (b"[", b"{"):
            depth += 1
        elif tok in (b"]", b"}"):
            depth -= 1
            if depth == 0:
                last = body[begin : m.start()].strip()
                if last:
                    items.append(last)
                return items
        elif depth == 1:  # a comma between elements
            items.append(body[begin : m.start()].strip())
            begin = m.end()
    raise ValueError("unterminated JSON array")


def id_key(status_id: str) -> tuple[int, str]:
    """Mastodon ids are numeric strings (snowflakes): compare by length, then text."""
    return (len(status_id), status_id)


def retry_delay(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or ``X-RateLimit-Reset`` (ISO)."""
    now = time.time() if now is None else now
    value = headers.get("Retry-After")
    if value:
        try:
            wait = float(value)
        except ValueError:
            try:
                wait = email.utils.parsedate_to_datetime(value).timestamp() - now
            except ValueError:
                return None
        return min(MAX_RETRY_WAIT, max(0.0, wait))
    reset = iso_epoch(headers.get("X-RateLimit-Reset"))
    return None if reset is None else min(MAX_RETRY_WAIT, max(0.0, reset - now))


def status_id_of(payload: bytes) -> str | None:
    try:
        st = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    sid = st.get("id") if isinstance(st, dict) else None
    return sid if isinstance(sid, str) else None


def iso_epoch(iso: Any) -> float | None:
    try:
        return (
            datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() if isinstance(iso, str) else None
        )
    except ValueError:
        return None
