"""Mastodon live source: the streaming API of several instances at once, one ``events()`` iterator.

Per instance: ``GET /api/v1/streaming/{public,public/local,hashtag?tag=,user}`` (Server-Sent
Events, ``Authorization: Bearer``; the streaming host is discovered from ``/api/v1/instance``).
``update`` and ``status.update`` frames carry one Status JSON, produced exactly as received;
``delete`` frames (a bare id) have no Status to produce and are only counted; comments
(``:thump``) are heartbeats. After a disconnect (or a restart, from the cursor) the stream is
reopened first and the gap is closed with the REST timeline (``min_id`` pages of 40, oldest first)
while the new stream waits, so no status falls between the two. Statuses are de-duplicated across
instances by ``uri`` (``uri@edited_at`` for edits). The cursor is ``{"<instance>": "<last id>"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote, urlsplit

import aiohttp
import orjson
from yarl import URL

from activity.raw import RawEvent, RawFormat
from groundswell.settings import Settings
from sources.live.base import Backoff, LiveSource, SourceEvent, SourceMetrics, json_cursor
from sources.live.mastodon_wire import (
    SseFrame,
    SseParser,
    id_key,
    iso_epoch,
    retry_delay,
    split_json_array,
    status_id_of,
)
from sources.live.registry import SourceSpec

__all__ = ["SPEC", "MastodonSource", "SseFrame", "SseParser", "id_key", "retry_delay", "split_json_array"]

log = logging.getLogger(__name__)

PAGE_LIMIT = 40  # the REST timelines' maximum page size


class HttpStatusError(Exception):
    def __init__(self, status: int, url: str, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status} from {url}")
        self.status, self.retry_after = status, retry_after


# --- streams and instances ------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamKind:
    """A streaming channel and the REST timeline that holds the same statuses (for backfill)."""

    stream_path: str
    stream_params: dict[str, str]
    rest_path: str
    rest_params: dict[str, str]

    @classmethod
    def parse(cls, spec: str) -> StreamKind:
        kind, _, tag = spec.partition(":")
        if spec == "public":
            return cls("/api/v1/streaming/public", {}, "/api/v1/timelines/public", {})
        if spec in ("public:local", "local"):
            return cls("/api/v1/streaming/public/local", {}, "/api/v1/timelines/public", {"local": "true"})
        if kind == "hashtag" and tag:
            return cls(
                "/api/v1/streaming/hashtag", {"tag": tag}, f"/api/v1/timelines/tag/{quote(tag, safe='')}", {}
            )
        if spec == "user":
            return cls("/api/v1/streaming/user", {}, "/api/v1/timelines/home", {})
        raise ValueError(f"unknown stream {spec!r}: public, public:local, hashtag:TAG or user")


@dataclass
class Instance:
    url: str  # https://mastodon.social (no trailing slash): the cursor key
    token: str | None
    last_id: str | None = None  # the newest status id handed to the queue from this instance
    streaming_base: str | None = None  # discovered from /api/v1/instance
    reconnects: int = 0
    backfilled: int = 0
    deletes: int = 0
    delivered: bool = False

    @property
    def source(self) -> str:
        return f"mastodon:{urlsplit(self.url).netloc}"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


@dataclass(frozen=True, slots=True)
class _Item:
    instance: str
    status_id: str | None
    event: SourceEvent


def _normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    return url if "://" in url else f"https://{url}"


def parse_cursor(cursor: str | None) -> dict[str, str]:
    """The saved cursor, ``{instance: last status id}``."""
    return {k: str(v) for k, v in json_cursor(cursor, "mastodon").items()}


# --- the source -----------------------------------------------------------------------------------


class MastodonSource:
    name = "mastodon"

    def __init__(
        self,
        instances: Iterable[tuple[str, str | None]],
        stream: str = "public",
        cursor: str | None = None,
        read_timeout: float = 90.0,  # Mastodon sends a heartbeat comment every ~15 s
        max_backfill_pages: int = 50,
        backoff_initial: float = 0.5,
        backoff_max: float = 60.0,
        metrics: SourceMetrics | None = None,
        queue_size: int = 2000,
    ) -> None:
        self.stream = StreamKind.parse(stream)
        self._committed = parse_cursor(cursor)  # only ids of events already yielded
        self.instances = [Instance(_normalize_url(u), t) for u, t in instances]
        if not self.instances:
            raise ValueError("at least one instance")
        for inst in self.instances:
            inst.last_id = self._committed.get(inst.url)
        self._read_timeout = read_timeout
        self._max_pages = max_backfill_pages
        self._backoff = (backoff_initial, backoff_max)
        self.metrics = metrics
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=queue_size)
        self._stopping = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None

    def stop(self) -> None:
        self._stopping.set()

    @property
    def reconnects(self) -> int:
        return sum(i.reconnects for i in self.instances)

    async def events(self) -> AsyncIterator[SourceEvent]:
        self._session = aiohttp.ClientSession(headers={"User-Agent": "groundswell-mastodon/0.1"})
        tasks = [asyncio.create_task(self._run_instance(i), name=i.url) for i in self.instances]
        stopped = asyncio.create_task(self._stopping.wait())
        try:
            while not self._stopping.is_set():
                if self._queue.empty():
                    get = asyncio.create_task(self._queue.get())
                    await asyncio.wait({get, stopped}, return_when=asyncio.FIRST_COMPLETED)
                    if not get.done():
                        get.cancel()
                        break
                    item = get.result()
                else:
                    item = self._queue.get_nowait()
                yield replace(item.event, cursor=self._commit(item))
        finally:
            for t in (*tasks, stopped):
                t.cancel()
            await asyncio.gather(*tasks, stopped, return_exceptions=True)
            await self._session.close()

    def _commit(self, item: _Item) -> str:
        old = self._committed.get(item.instance)
        if item.status_id is not None and (old is None or id_key(item.status_id) > id_key(old)):
            self._committed[item.instance] = item.status_id
        return orjson.dumps(self._committed, option=orjson.OPT_SORT_KEYS).decode()

    # --- one instance ---------------------------------------------------------------------------

    async def _run_instance(self, inst: Instance) -> None:
        backoff = Backoff(*self._backoff)
        first = True
        while not self._stopping.is_set():
            if not first:
                inst.reconnects += 1
                if self.metrics is not None:
                    self.metrics.reconnects.labels(self.name).inc()
            first = False
            inst.delivered = False
            delay: float | None = None
            try:
                await self._connect_and_stream(inst)
                log.info("%s: stream ended by the server", inst.url)
            except HttpStatusError as e:
                log.warning("%s: %s", inst.url, e)
                if e.status == 429:
                    delay = e.retry_after if e.retry_after is not None else 60.0
                elif e.retry_after is not None:
                    delay = e.retry_after
            except (aiohttp.ClientError, TimeoutError, ValueError) as e:
                log.warning("%s: connection lost: %r", inst.url, e)
            if inst.delivered:
                backoff.reset()
            else:
                inst.streaming_base = None  # ask /api/v1/instance again: the streaming host may have moved
            await self._sleep(delay if delay is not None else backoff.next_delay())

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    def _session_or_fail(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("events() not started")
        return self._session

    async def _discover(self, inst: Instance) -> str:
        if inst.streaming_base is not None:
            return inst.streaming_base
        base = inst.url
        try:
            async with self._session_or_fail().get(
                f"{inst.url}/api/v1/instance",
                headers=inst.headers(),
                timeout=aiohttp.ClientTimeout(total=20),
            ) as resp:
                if resp.status == 200:
                    info = orjson.loads(await resp.read())
                    found = (info.get("urls") or {}).get("streaming_api") if isinstance(info, dict) else None
                    if isinstance(found, str) and found:
                        base = re.sub(r"^ws(s?)://", r"http\1://", found).rstrip("/")
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as e:
            log.info("%s: no instance info (%r); streaming on the instance itself", inst.url, e)
        inst.streaming_base = base
        return base

    async def _connect_and_stream(self, inst: Instance) -> None:
        session = self._session_or_fail()
        url = (await self._discover(inst)) + self.stream.stream_path
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=self._read_timeout)
        headers = {**inst.headers(), "Accept": "text/event-stream", "Cache-Control": "no-cache"}
        params: dict[str, str] | None = self.stream.stream_params
        for _ in range(4):  # follow redirects ourselves: aiohttp drops Authorization across hosts
            resp = await session.get(
                url, params=params, headers=headers, timeout=timeout, allow_redirects=False
            )
            if resp.status not in (301, 302, 303, 307, 308) or "Location" not in resp.headers:
                break
            url, params = str(resp.url.join(URL(resp.headers["Location"]))), None  # Location keeps the query
            resp.release()
        try:
            if resp.status != 200:
                raise HttpStatusError(resp.status, str(resp.url), retry_delay(resp.headers))
            if resp.content_type != "text/event-stream":
                raise ValueError(f"{resp.url} answered {resp.content_type!r}, not an event stream")
            log.info("%s: streaming %s", inst.url, resp.url)
            if inst.last_id is not None:
                await self._backfill(inst)  # the stream is open: what arrives meanwhile waits in it
            parser = SseParser()
            async for chunk in resp.content.iter_any():
                for frame in parser.feed(chunk):
                    await self._on_frame(inst, frame)
                if self._stopping.is_set():
                    return
        finally:
            resp.release()

    async def _on_frame(self, inst: Instance, frame: SseFrame) -> None:
        if frame.event in ("update", "status.update"):
            await self._emit(inst, frame.data, edit=frame.event == "status.update")
        elif frame.event == "delete":
            inst.deletes += 1  # a bare id: RawFormat.MASTODON carries Status entities only
            log.debug("%s: delete %s", inst.url, frame.data[:40])

    async def _emit(self, inst: Instance, payload: bytes, edit: bool = False) -> None:
        try:
            st = orjson.loads(payload)
        except orjson.JSONDecodeError:
            st = None
        if not isinstance(st, dict):  # produced anyway: the normalizer dead-letters it with a reason
            st = {}
        sid = st.get("id") if isinstance(st.get("id"), str) else None
        uri, edited = st.get("uri"), st.get("edited_at")
        key = str(uri) if uri else f"{inst.url}#{sid or hashlib.sha1(payload).hexdigest()}"
        if edited:
            key = f"{key}@{edited}"
        when = iso_epoch(edited if edit and edited else st.get("created_at"))
        raw = RawEvent.now(RawFormat.MASTODON.value, inst.source, payload)
        inst.delivered = True
        await self._queue.put(_Item(inst.url, sid, SourceEvent(raw=raw, dedupe_key=key, source_time=when)))
        if sid is not None and (inst.last_id is None or id_key(sid) > id_key(inst.last_id)):
            inst.last_id = sid

    async def _backfill(self, inst: Instance) -> None:
        session = self._session_or_fail()
        for _ in range(self._max_pages):
            if self._stopping.is_set() or inst.last_id is None:
                return
            params = {**self.stream.rest_params, "min_id": inst.last_id, "limit": str(PAGE_LIMIT)}
            async with session.get(
                inst.url + self.stream.rest_path,
                params=params,
                headers=inst.headers(),
                timeout=aiohttp.ClientTimeout(total=60),
            ) as resp:
                if resp.status != 200:
                    raise HttpStatusError(resp.status, str(resp.url), retry_delay(resp.headers))
                body = await resp.read()
                exhausted = resp.headers.get("X-RateLimit-Remaining") == "0"
                pause = retry_delay({"X-RateLimit-Reset": resp.headers.get("X-RateLimit-Reset")})
            items = split_json_array(body)
            if not items:  # caught up (a short page is not the end: servers filter pages after paging)
                return
            pairs = [(status_id_of(raw), raw) for raw in items]
            pairs.sort(key=lambda p: id_key(p[0] or ""))  # oldest first: the cursor only moves forward
            for _sid, raw in pairs:
                await self._emit(inst, raw)
            inst.backfilled += len(items)
            if exhausted and pause:
                log.warning("%s: rate limit reached during backfill; waiting %.0f s", inst.url, pause)
                await self._sleep(pause)
        log.warning(
            "%s: backfill stopped after %d pages; the rest of the gap is skipped", inst.url, self._max_pages
        )


# --- CLI ------------------------------------------------------------------------------------------


def read_tokens_file(path: Path) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{path}:{n}: expected 'INSTANCE TOKEN'")
        out.append((_normalize_url(parts[0]), parts[1]))
    return out


def instances_from_args(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    urls = [_normalize_url(u) for u in args.instance or []]
    tokens: list[str] = args.token or []
    if tokens and len(tokens) != len(urls):
        raise SystemExit(
            "--token must be given once per --instance, in the same order (or use --tokens-file)"
        )
    pairs: dict[str, str | None] = {u: (tokens[i] if tokens else None) for i, u in enumerate(urls)}
    if args.tokens_file is not None:
        from_file = dict(read_tokens_file(args.tokens_file))
        for url in pairs:
            pairs[url] = pairs[url] or from_file.get(url)
        if not urls:
            pairs = dict(from_file)
    if not pairs:
        raise SystemExit("give at least one --instance (or a --tokens-file)")
    for url, token in pairs.items():
        if not token:
            log.warning("%s: no token; most instances require one for streaming", url)
    return list(pairs.items())


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--instance", action="append", help="instance URL, repeatable (https://mastodon.social)")
    p.add_argument("--token", action="append", help="access token for the --instance at the same position")
    p.add_argument("--tokens-file", type=Path, default=None, help="lines 'INSTANCE TOKEN' (# comments)")
    p.add_argument("--stream", default="public", help="public | public:local | hashtag:TAG | user")
    p.add_argument("--max-backfill-pages", type=int, default=50, help="REST pages of 40 after a gap")
    p.add_argument("--read-timeout", type=float, default=90.0, help="reconnect after this long silent")


def build(settings: Settings, args: argparse.Namespace, cursor: str | None) -> LiveSource:
    return MastodonSource(
        instances_from_args(args),
        stream=args.stream,
        cursor=cursor,
        read_timeout=args.read_timeout,
        max_backfill_pages=args.max_backfill_pages,
    )


SPEC = SourceSpec(
    name="mastodon",
    help="Mastodon streaming API of one or more instances (SSE), gaps closed by REST backfill",
    add_arguments=add_arguments,
    build=build,
)
