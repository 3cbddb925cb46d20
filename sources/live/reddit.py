"""Reddit: poll the OAuth API's ``/r/{subs}/comments`` and ``/r/{subs}/new`` listings.

- Auth: ``POST /api/v1/access_token`` (HTTP basic with the app's id and secret), the password grant
  when a username is given, else client credentials; the token is renewed before it expires and
  after any 401.
- Each poll reads a listing newest first and pages back with ``after`` until it reaches what it
  already has (fullnames are base-36 sequence numbers, so "already have" is an id at or below the
  listing's cursor, even when that item was since removed) or the listing's window ends (Reddit
  lists about 1,000 items). The whole first page is always read, so an item that shows up late in
  it is still taken; fullnames emitted in this process are remembered so nothing is yielded twice.
- Items are yielded oldest first; each carries the cursor ``{"comments": fullname, "new": fullname}``
  (JSON, the newest fullname taken per listing), so a restart resumes exactly after the last
  produced item.
- Rate limits: ``X-Ratelimit-Remaining`` / ``X-Ratelimit-Reset`` / ``X-Ratelimit-Used`` are read
  after every response; when the budget is spent the source sleeps until the window resets (a 429
  sleeps the reset too, at least ``Backoff``'s delay). Network and 5xx errors back off and retry.
- Payload: the item's ``data`` object re-serialized with orjson (``raw_json=1``, so text is not
  HTML-escaped), format ``reddit``, source ``reddit``, source time ``created_utc``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from activity.raw import RawEvent, RawFormat
from groundswell.settings import Settings
from sources.live.base import Backoff, SourceEvent, SourceMetrics, json_cursor
from sources.live.registry import SourceSpec

log = logging.getLogger(__name__)

AUTH_BASE = "https://www.reddit.com"
API_BASE = "https://oauth.reddit.com"
LISTINGS = ("comments", "new")
VERSION = "0.1.0"


def fullname_id(name: str) -> int:
    """The sequence number in a fullname (``t1_c366h34`` -> int('c366h34', 36)); -1 if malformed."""
    _, _, local = name.partition("_")
    try:
        return int(local, 36)
    except ValueError:
        return -1


def parse_cursor(cursor: str | None) -> dict[str, str]:
    """The saved cursor (JSON ``{listing: fullname}``); anything unreadable means "no cursor"."""
    obj = json_cursor(cursor, "reddit")
    return {k: v for k, v in obj.items() if k in LISTINGS and isinstance(v, str) and fullname_id(v) >= 0}


def rate_limit_delay(headers: Mapping[str, str], reserve: float = 0.0) -> float:
    """Seconds to sleep before the next request: the reset time once ``remaining`` is spent."""
    try:
        remaining = float(headers["X-Ratelimit-Remaining"])
        reset = float(headers["X-Ratelimit-Reset"])
    except (KeyError, ValueError):
        return 0.0
    if remaining >= 1 + reserve:  # Reddit reports fractions: below one whole request left is spent
        return 0.0
    return max(0.0, reset)


def token_refresh_at(obtained: float, expires_in: float) -> float:
    """When to renew a token: a minute early, or halfway for tokens shorter than two minutes."""
    return obtained + expires_in - min(60.0, expires_in / 2)


def default_user_agent(username: str | None) -> str:
    return f"python:groundswell:{VERSION} (by /u/{username or 'groundswell'})"


@dataclass(frozen=True)
class RedditConfig:
    subreddits: tuple[str, ...]
    client_id: str
    client_secret: str
    username: str | None = None
    password: str | None = None
    user_agent: str | None = None
    interval: float = 5.0  # seconds between polls
    limit: int = 100
    max_pages: int = 10  # 10 x 100: Reddit's listing window
    auth_base: str = AUTH_BASE
    api_base: str = API_BASE
    timeout: float = 30.0
    rate_reserve: float = 0.0  # requests kept in reserve before sleeping to the reset


class HttpError(Exception):
    def __init__(self, status: int, retry_after: float = 0.0) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.retry_after = status, retry_after


@dataclass
class _Listing:
    name: str
    floor: int  # ids at or below were produced before (the saved cursor)
    newest: str | None  # the cursor for this listing
    emitted: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def remember(self, fullname: str, capacity: int = 5000) -> None:
        self.emitted[fullname] = None
        if len(self.emitted) > capacity:
            self.emitted.popitem(last=False)

    def is_new(self, fullname: str) -> bool:
        return fullname_id(fullname) > self.floor and fullname not in self.emitted


class RedditSource:
    name = "reddit"

    def __init__(
        self, config: RedditConfig, cursor: str | None = None, backoff: Backoff | None = None
    ) -> None:
        if not config.subreddits:
            raise ValueError("reddit: at least one subreddit is required")
        self.config = config
        saved = parse_cursor(cursor)
        self._listings = {
            name: _Listing(name, fullname_id(saved[name]) if name in saved else -1, saved.get(name))
            for name in LISTINGS
        }
        self._backoff = backoff or Backoff(initial=1.0, maximum=120.0)
        self.metrics: SourceMetrics | None = None  # failed polls (re-connections) counted here when given
        self._stopped = asyncio.Event()
        self._token: str | None = None
        self._token_refresh_at = 0.0
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0
        self.rate_limited_s = 0.0  # time slept on rate-limit headers (tests, logs)

    def stop(self) -> None:
        self._stopped.set()
        if self._session is not None and not self._session.closed:
            with contextlib.suppress(RuntimeError):  # no running loop: the poll ends on its own
                asyncio.get_running_loop().create_task(self._session.close())

    @property
    def user_agent(self) -> str:
        return self.config.user_agent or default_user_agent(self.config.username)

    def cursor(self) -> str:
        return orjson.dumps({n: lst.newest for n, lst in self._listings.items() if lst.newest}).decode()

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), seconds)

    async def events(self) -> AsyncIterator[SourceEvent]:
        timeout = aiohttp.ClientTimeout(total=self.config.timeout)
        async with aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": self.user_agent}) as session:
            self._session = session
            while not self._stopped.is_set():
                started = time.monotonic()
                for listing in self._listings.values():
                    try:
                        items = await self._poll(session, listing)
                    except (aiohttp.ClientError, TimeoutError, HttpError, orjson.JSONDecodeError) as exc:
                        if self._stopped.is_set():
                            return
                        delay = self._backoff.next_delay()
                        if self.metrics is not None:
                            self.metrics.reconnects.labels(self.name).inc()
                        if isinstance(exc, HttpError):
                            delay = max(delay, exc.retry_after)
                        log.warning("reddit %s: %s; retrying in %.1fs", listing.name, exc, delay)
                        await self._sleep(delay)
                        break
                    except RuntimeError:
                        if self._stopped.is_set():
                            return  # stop() closed the session under a request
                        raise
                    self._backoff.reset()
                    for ev in self._to_events(listing, items):
                        yield ev
                    if self._stopped.is_set():
                        return
                await self._sleep(self.config.interval - (time.monotonic() - started))

    def _to_events(self, listing: _Listing, items: list[dict[str, Any]]) -> list[SourceEvent]:
        out = []
        for data in sorted(items, key=lambda d: fullname_id(d["name"])):
            name: str = data["name"]
            listing.remember(name)
            if listing.newest is None or fullname_id(name) > fullname_id(listing.newest):
                listing.newest = name
            created = data.get("created_utc")
            raw = RawEvent.now(RawFormat.REDDIT, "reddit", orjson.dumps(data))
            source_time = float(created) if isinstance(created, int | float) else None
            out.append(SourceEvent(raw, dedupe_key=name, source_time=source_time, cursor=self.cursor()))
        return out

    async def _poll(self, session: aiohttp.ClientSession, listing: _Listing) -> list[dict[str, Any]]:
        """New items of one listing, walking back with ``after`` until it meets what it has."""
        subs = "+".join(self.config.subreddits)
        url = f"{self.config.api_base}/r/{subs}/{listing.name}"
        found: dict[str, dict[str, Any]] = {}
        after: str | None = None
        for page in range(self.config.max_pages):
            params = {"limit": str(self.config.limit), "raw_json": "1"}
            if after:
                params["after"] = after
                params["count"] = str(page * self.config.limit)
            body = await self._get(session, url, params)
            children = _children(body)
            reached_known = False
            for data in children:
                name = data["name"]
                if listing.is_new(name):
                    found.setdefault(name, data)
                else:
                    reached_known = True
            after = _after(body)
            if reached_known or not after or not children or (listing.floor < 0 and not listing.emitted):
                break  # a first start takes one page: the present, not the whole window
        else:
            log.warning(
                "reddit %s: the gap is longer than the listing window; older items are lost", listing.name
            )
        return list(found.values())

    async def _get(self, session: aiohttp.ClientSession, url: str, params: dict[str, str]) -> Any:
        for attempt in range(2):
            token = await self._ensure_token(session)
            self.requests += 1
            async with session.get(url, params=params, headers={"Authorization": f"bearer {token}"}) as resp:
                status, headers = resp.status, resp.headers.copy()
                body = await resp.read()
            await self._obey_rate_limit(headers, status)
            if status == 401 and attempt == 0:
                self._token = None  # expired or revoked: renew once
                continue
            if status != 200:
                raise HttpError(status)
            return orjson.loads(body)
        raise HttpError(401)

    async def _obey_rate_limit(self, headers: Mapping[str, str], status: int) -> None:
        delay = rate_limit_delay(headers, self.config.rate_reserve)
        if status == 429:
            delay = max(delay, 1.0)
        if delay > 0:
            log.info("reddit: rate limit (used %s), sleeping %.1fs", headers.get("X-Ratelimit-Used"), delay)
            self.rate_limited_s += delay
            await self._sleep(delay)

    async def _ensure_token(self, session: aiohttp.ClientSession) -> str:
        if self._token is not None and time.time() < self._token_refresh_at:
            return self._token
        cfg = self.config
        form = (
            {"grant_type": "password", "username": cfg.username, "password": cfg.password or ""}
            if cfg.username
            else {"grant_type": "client_credentials"}
        )
        obtained = time.time()
        async with session.post(
            f"{cfg.auth_base}/api/v1/access_token",
            data=form,
            auth=aiohttp.BasicAuth(cfg.client_id, cfg.client_secret),
        ) as resp:
            if resp.status != 200:
                raise HttpError(resp.status, float(resp.headers.get("Retry-After", "0") or 0))
            body = await resp.json(loads=orjson.loads, content_type=None)
        if not isinstance(body, dict) or "access_token" not in body:
            raise HttpError(401)  # Reddit answers bad credentials with 200 {"error": "invalid_grant"}
        self._token = str(body["access_token"])
        self._token_refresh_at = token_refresh_at(obtained, float(body.get("expires_in", 3600)))
        log.info("reddit: token obtained (%s grant)", form["grant_type"])
        return self._token


def _children(body: Any) -> list[dict[str, Any]]:
    data = body.get("data") if isinstance(body, dict) else None
    children = data.get("children") if isinstance(data, dict) else None
    if not isinstance(children, list):
        return []
    out = []
    for child in children:
        item = child.get("data") if isinstance(child, dict) else None
        if isinstance(item, dict) and isinstance(item.get("name"), str) and fullname_id(item["name"]) >= 0:
            out.append(item)
    return out


def _after(body: Any) -> str | None:
    data = body.get("data") if isinstance(body, dict) else None
    after = data.get("after") if isinstance(data, dict) else None
    return after if isinstance(after, str) and after else None


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--subreddit", action="append", required=True, help="a subreddit (repeat for more)")
    p.add_argument("--client-id", help="app id (or setting GROUNDSWELL_REDDIT_CLIENT_ID)")
    p.add_argument("--client-secret", help="app secret (or setting GROUNDSWELL_REDDIT_CLIENT_SECRET)")
    p.add_argument("--username", help="password grant (script apps); else client credentials")
    p.add_argument("--password", help="or setting GROUNDSWELL_REDDIT_PASSWORD")
    p.add_argument("--user-agent", help="default: python:groundswell:VERSION (by /u/USERNAME)")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between polls (default 5)")


def _build(settings: Settings, args: argparse.Namespace, cursor: str | None) -> RedditSource:
    subs = tuple(s.strip().removeprefix("r/") for s in args.subreddit if s.strip())
    client_id = args.client_id or settings.reddit_client_id
    client_secret = args.client_secret or settings.reddit_client_secret.get_secret_value()
    password = args.password or settings.reddit_password.get_secret_value() or None
    if not client_id or not client_secret:
        raise SystemExit(
            "reddit: --client-id and --client-secret (or their environment variables) are required"
        )
    if args.username and not password:
        raise SystemExit("reddit: --username needs --password (or GROUNDSWELL_REDDIT_PASSWORD)")
    config = RedditConfig(
        subreddits=subs,
        client_id=client_id,
        client_secret=client_secret,
        username=args.username,
        password=password,
        user_agent=args.user_agent,
        interval=args.interval,
    )
    return RedditSource(config, cursor)


SPEC = SourceSpec(
    name="reddit",
    help="Reddit comments and submissions of subreddits (OAuth API polling)",
    add_arguments=_add_arguments,
    build=_build,
)

__all__ = ["SPEC", "RedditConfig", "RedditSource", "fullname_id"]
