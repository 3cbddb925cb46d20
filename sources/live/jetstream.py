"""Bluesky Jetstream over WebSocket: ``groundswell source bluesky``.

Jetstream (https://github.com/bluesky-social/jetstream) serves the Bluesky firehose as JSON events
(``kind``: commit, identity, account), each stamped with ``time_us``, the instance's own clock in
unix microseconds. A client asks for what it wants with query parameters (``wantedCollections``,
``wantedDids``, both repeatable; ``cursor`` to replay from a ``time_us``; ``compress=true`` for
zstd frames with Jetstream's published dictionary; ``maxMessageSizeBytes``), or, when the filter
is too long for a URL, with ``requireHello=true`` and an ``options_update`` message.

This connector only speaks that protocol: it yields every frame as a ``RawEvent`` with the JSON
exactly as received (malformed frames too: the normalizer dead-letters them), reconnects with
``Backoff`` (rotating over several instances when a connection fails), and resumes from the last
event's ``time_us`` minus a rewind (Jetstream's advice: live events are only roughly ordered by
``time_us``, and instances' clocks differ). Redelivered events are dropped by ``run_source``'s
``Deduper`` with a key that does not depend on the instance (DID + commit rev/collection/rkey/
operation, or DID + kind + seq). A restart resumes from the durable cursor with the same rewind;
the deduper starts empty then, so those seconds are produced again (at-least-once; every later
stage is idempotent by event id).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import websockets
import zstandard
from websockets.asyncio.client import ClientConnection, connect

from activity.raw import RawEvent, RawFormat
from groundswell.settings import Settings
from sources.live.base import Backoff, SourceEvent, SourceMetrics
from sources.live.registry import SourceSpec

log = logging.getLogger(__name__)

NAME = "bluesky"
SOURCE = "bluesky.jetstream"
#: the public instances; the first is the default, the others are failovers
PUBLIC_URLS = (
    "wss://jetstream2.us-east.bsky.network/subscribe",
    "wss://jetstream1.us-east.bsky.network/subscribe",
    "wss://jetstream1.us-west.bsky.network/subscribe",
    "wss://jetstream2.us-west.bsky.network/subscribe",
)
DEFAULT_REWIND_S = 2.0
DEFAULT_IDLE_TIMEOUT_S = 60.0
MAX_COLLECTIONS = 100  # Jetstream's limits on one subscriber's filters
MAX_DIDS = 10_000
MAX_URL_CHARS = 8_000  # beyond this the filters go in an options_update message instead
MAX_FRAME_BYTES = 16 * 1024 * 1024  # larger than any record; too-large payloads are dead-lettered later


@dataclass(frozen=True)
class JetstreamConfig:
    urls: tuple[str, ...] = PUBLIC_URLS
    wanted_collections: tuple[str, ...] = ()  # NSIDs or prefixes ending in ".*"
    wanted_dids: tuple[str, ...] = ()
    rewind_s: float = DEFAULT_REWIND_S
    zstd_dictionary: bytes | None = None  # compress=true only with Jetstream's dictionary
    max_message_size: int = 0  # maxMessageSizeBytes; 0: not sent (every event comes, big ones are DLQ'd)
    #: reconnect after this long without a frame (a stalled instance answering pings); None: 60 s
    #: unless wantedDids narrows the stream (then silence is normal and it is off); 0: off
    idle_timeout: float | None = None
    open_timeout: float = 10.0
    ping_interval: float = 20.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("at least one Jetstream URL is needed")
        for url in self.urls:
            if not url.startswith(("wss://", "ws://")):
                raise ValueError(f"not a WebSocket URL (ws:// or wss://): {url!r}")
        if len(self.wanted_collections) > MAX_COLLECTIONS:
            raise ValueError(f"Jetstream accepts at most {MAX_COLLECTIONS} wanted collections")
        if len(self.wanted_dids) > MAX_DIDS:
            raise ValueError(f"Jetstream accepts at most {MAX_DIDS} wanted DIDs")
        if self.rewind_s < 0:
            raise ValueError("rewind must be >= 0 seconds")

    @property
    def effective_idle_timeout(self) -> float:
        if self.idle_timeout is not None:
            return self.idle_timeout
        return 0.0 if self.wanted_dids else DEFAULT_IDLE_TIMEOUT_S


# --- pure parts -------------------------------------------------------------------------------


def resume_cursor(last_time_us: int | None, rewind_s: float) -> int | None:
    """Where to replay from after ``last_time_us`` (None: live tail). Jetstream's cursor is
    inclusive, so with no rewind the next event is the first one after the last processed."""
    if last_time_us is None:
        return None
    return max(0, last_time_us + 1 - round(rewind_s * 1_000_000))


def parse_cursor(saved: str | None) -> int | None:
    """A saved cursor (``str(time_us)``) back to an int; anything unusable means live tail."""
    if saved is None:
        return None
    try:
        value = int(saved.strip())
    except ValueError:
        log.warning("ignoring unusable saved Jetstream cursor %r", saved)
        return None
    return value if value > 0 else None


def filter_options(config: JetstreamConfig) -> dict[str, Any]:
    return {
        "wantedCollections": list(config.wanted_collections),
        "wantedDids": list(config.wanted_dids),
        "maxMessageSizeBytes": config.max_message_size,
    }


def build_url(base: str, config: JetstreamConfig, cursor: int | None) -> tuple[str, bool]:
    """The subscribe URL for one connection, and whether the filters must be sent in an
    ``options_update`` message (``requireHello``) because they do not fit in a URL."""
    params: list[tuple[str, str]] = [("wantedCollections", c) for c in config.wanted_collections]
    params += [("wantedDids", d) for d in config.wanted_dids]
    tail: list[tuple[str, str]] = []
    if cursor is not None:
        tail.append(("cursor", str(cursor)))
    if config.zstd_dictionary is not None:
        tail.append(("compress", "true"))
    if config.max_message_size > 0:
        tail.append(("maxMessageSizeBytes", str(config.max_message_size)))
    sep = "&" if "?" in base else "?"
    url = base + sep + urlencode(params + tail) if params or tail else base
    if len(url) <= MAX_URL_CHARS:
        return url, False
    return base + sep + urlencode([*tail, ("requireHello", "true")]), True


def dedupe_key(payload: bytes, event: object) -> str:
    """Stable across redeliveries and instances: never includes ``time_us``."""
    if isinstance(event, dict):
        did, kind = event.get("did"), event.get("kind")
        body = event.get(kind) if isinstance(kind, str) else None
        if isinstance(did, str) and isinstance(body, dict):
            if kind == "commit":
                rev, coll, rkey, op = (body.get(k) for k in ("rev", "collection", "rkey", "operation"))
                if rev is not None and coll is not None and rkey is not None:
                    return f"{did}|commit|{rev}|{coll}|{rkey}|{op}"
            elif body.get("seq") is not None:  # identity, account
                return f"{did}|{kind}|{body['seq']}"
    return "sha256:" + hashlib.sha256(payload).hexdigest()


def to_source_event(payload: bytes, received_at: float) -> tuple[SourceEvent, int | None]:
    """One frame's JSON bytes as a ``SourceEvent``, and its ``time_us`` when it has one."""
    try:
        event: object = orjson.loads(payload)
    except orjson.JSONDecodeError:
        event = None
    time_us = event.get("time_us") if isinstance(event, dict) else None
    if not isinstance(time_us, int) or isinstance(time_us, bool) or time_us <= 0:
        time_us = None
    raw = RawEvent(RawFormat.JETSTREAM.value, SOURCE, received_at, payload)
    if time_us is None:
        return SourceEvent(raw, dedupe_key(payload, event)), None
    return SourceEvent(raw, dedupe_key(payload, event), time_us / 1e6, str(time_us)), time_us


def load_dictionary(path: Path) -> bytes:
    data = path.read_bytes()
    zstandard.ZstdCompressionDict(data)  # fail at start-up, not on the first frame
    return data


# --- the connector ------------------------------------------------------------------------------


@dataclass
class JetstreamSource:
    """A ``LiveSource``: Jetstream events forever, reconnecting and resuming by itself."""

    config: JetstreamConfig
    cursor: int | None = None  # time_us of the last event yielded (or the saved cursor)
    metrics: SourceMetrics | None = None  # reconnects are counted here when given (and in .reconnects)
    name: str = NAME
    reconnects: int = 0
    connections: int = 0
    frames: int = 0
    _stalled: bool = field(default=False, init=False)
    _stopping: bool = field(default=False, init=False)
    _stop_event: asyncio.Event | None = field(default=None, init=False)
    _ws: ClientConnection | None = field(default=None, init=False)
    _closing: set[asyncio.Task[None]] = field(default_factory=set, init=False)

    def stop(self) -> None:
        self._stopping = True
        if self._stop_event is not None:
            self._stop_event.set()
        ws = self._ws
        if ws is not None:  # wake a pending recv
            task = asyncio.get_running_loop().create_task(ws.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def events(self) -> AsyncIterator[SourceEvent]:
        self._stop_event = asyncio.Event()
        if self._stopping:
            return
        backoff = Backoff(self.config.backoff_initial, self.config.backoff_max)
        decompress = self._decompressor()
        url_index = 0
        first = True
        while not self._stopping:
            if not first:
                self._count_reconnect()
            first = False
            base = self.config.urls[url_index % len(self.config.urls)]
            delivered = 0
            try:
                async with aclosing(self._connection(base, decompress)) as frames:
                    async for ev in frames:
                        delivered += 1
                        yield ev
                        if self._stopping:
                            return
            except (OSError, TimeoutError, websockets.WebSocketException) as e:
                if self._stopping:
                    return
                log.warning("Jetstream %s: %s; reconnecting", base, e)
            except Exception:  # never seen; a source process must outlive it
                log.exception("Jetstream %s: unexpected error; reconnecting", base)
            if self._stopping:
                return
            if delivered:
                backoff.reset()
            if not delivered or self._stalled:
                url_index += 1  # nothing (more) from this instance: try the next one
            self._stalled = False
            await self._sleep(backoff.next_delay())

    async def _connection(
        self, base: str, decompress: Callable[[bytes], bytes] | None
    ) -> AsyncGenerator[SourceEvent, None]:
        url, hello = build_url(base, self.config, resume_cursor(self.cursor, self.config.rewind_s))
        log.info("connecting to %s", url if len(url) < 300 else url[:300] + "...")
        async with connect(
            url,
            compression=None if decompress is not None else "deflate",
            open_timeout=self.config.open_timeout,
            ping_interval=self.config.ping_interval,
            ping_timeout=self.config.ping_interval,
            close_timeout=2,
            max_size=MAX_FRAME_BYTES,
            max_queue=1024,
            user_agent_header="groundswell-jetstream/0.1 (+https://github.com/groundswell)",
        ) as ws:
            self._ws = ws
            self.connections += 1
            idle = self.config.effective_idle_timeout
            watchdog = asyncio.get_running_loop().create_task(self._watch(ws, idle)) if idle > 0 else None
            try:
                if hello:
                    options = {"type": "options_update", "payload": filter_options(self.config)}
                    await ws.send(orjson.dumps(options).decode())
                recv = ws.recv
                while not self._stopping:
                    frame = await recv(decode=False)
                    assert isinstance(frame, bytes)
                    self.frames += 1
                    payload = frame if decompress is None else decompress(frame)
                    ev, time_us = to_source_event(payload, time.time())
                    if time_us is not None:
                        self.cursor = time_us
                    yield ev
            except websockets.ConnectionClosedOK:
                if not self._stopping:
                    log.warning("Jetstream %s closed the connection; reconnecting", base)
            finally:
                self._ws = None
                if watchdog is not None:
                    watchdog.cancel()
                if self._stopping:
                    await _drain(ws)

    async def _watch(self, ws: ClientConnection, idle: float) -> None:
        """Close a connection that delivered no frame for ``idle`` seconds (checked every ``idle``)."""
        seen = -1
        while self.frames != seen:
            seen = self.frames
            await asyncio.sleep(idle)
        log.warning("Jetstream: no event for %.0f s; reconnecting", idle)
        self._stalled = True
        await ws.close(1001, "idle")

    def _decompressor(self) -> Callable[[bytes], bytes] | None:
        if self.config.zstd_dictionary is None:
            return None
        dctx = zstandard.ZstdDecompressor(
            dict_data=zstandard.ZstdCompressionDict(self.config.zstd_dictionary)
        )

        def decompress(frame: bytes) -> bytes:
            try:
                return dctx.decompress(frame, max_output_size=MAX_FRAME_BYTES)
            except zstandard.ZstdError:
                return frame  # passed through as received: dead-lettered by the normalizer

        return decompress

    def _count_reconnect(self) -> None:
        self.reconnects += 1
        if self.metrics is not None:
            self.metrics.reconnects.labels(self.name).inc()

    async def _sleep(self, seconds: float) -> None:
        assert self._stop_event is not None
        with suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), seconds)


async def _drain(ws: ClientConnection) -> None:
    """Read (and drop) what is queued so that the closing handshake started by ``stop()`` is seen:
    with the receive queue full, the connection stops reading and would wait for its timeout."""
    with suppress(websockets.ConnectionClosed, TimeoutError):
        async with asyncio.timeout(2.0):
            while True:
                await ws.recv(decode=False)


# --- CLI ----------------------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--url",
        dest="urls",
        action="append",
        metavar="WSS_URL",
        help=f"Jetstream subscribe endpoint; repeat for failover, tried in order (default: {PUBLIC_URLS[0]}"
        " then the other public instances)",
    )
    p.add_argument(
        "--collection",
        dest="collections",
        action="append",
        default=[],
        metavar="NSID",
        help="wantedCollections: e.g. app.bsky.feed.post or app.bsky.graph.* (repeatable; default all)",
    )
    p.add_argument(
        "--did", dest="dids", action="append", default=[], help="wantedDids (repeatable; default all)"
    )
    p.add_argument(
        "--dids-file", type=Path, default=None, help="more wantedDids, one per line (up to 10,000 in all)"
    )
    p.add_argument(
        "--rewind",
        type=float,
        default=DEFAULT_REWIND_S,
        metavar="SECONDS",
        help="on reconnect and restart replay this much before the last event (default 2)",
    )
    p.add_argument(
        "--cursor",
        type=int,
        default=None,
        metavar="TIME_US",
        help="start from this time_us instead of the saved cursor",
    )
    p.add_argument(
        "--zstd-dictionary",
        type=Path,
        default=None,
        metavar="PATH",
        help="Jetstream's zstd dictionary: asks for compress=true (without it frames come uncompressed)",
    )
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="reconnect after this long without an event (default 60, off with --did; 0: off)",
    )
    p.add_argument(
        "--max-message-size", type=int, default=0, help="maxMessageSizeBytes (default 0: no limit)"
    )


def config_from_args(args: argparse.Namespace) -> JetstreamConfig:
    dids: list[str] = list(getattr(args, "dids", None) or [])
    dids_file: Path | None = getattr(args, "dids_file", None)
    if dids_file is not None:
        dids += [line.strip() for line in dids_file.read_text().splitlines() if line.strip()]
    dictionary: Path | None = getattr(args, "zstd_dictionary", None)
    urls: Sequence[str] = getattr(args, "urls", None) or PUBLIC_URLS
    return JetstreamConfig(
        urls=tuple(urls),
        wanted_collections=tuple(getattr(args, "collections", None) or ()),
        wanted_dids=tuple(dict.fromkeys(dids)),
        rewind_s=getattr(args, "rewind", DEFAULT_REWIND_S),
        zstd_dictionary=load_dictionary(dictionary) if dictionary is not None else None,
        max_message_size=getattr(args, "max_message_size", 0),
        idle_timeout=getattr(args, "idle_timeout", None),
    )


def build(settings: Settings, args: argparse.Namespace, saved_cursor: str | None) -> JetstreamSource:
    explicit: int | None = getattr(args, "cursor", None)
    return JetstreamSource(config_from_args(args), cursor=explicit or parse_cursor(saved_cursor))


SPEC = SourceSpec(
    name=NAME,
    help="Bluesky Jetstream (WebSocket firehose as JSON), resuming from its time_us cursor",
    add_arguments=add_arguments,
    build=build,
)
