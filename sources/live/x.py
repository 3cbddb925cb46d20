"""X (Twitter) API v2 filtered stream: rules kept equal to the wanted set, then one long-lived stream.

- Rules: ``GET /2/tweets/search/stream/rules`` lists the live rules; those not wanted (by value and
  tag) are deleted and the missing ones added with ``POST`` (``dry_run=true`` validates without
  changing anything). With no ``--rule`` the account's rules are left as they are.
- Stream: ``GET /2/tweets/search/stream`` with the expansions and fields the normalizer reads,
  bearer token auth. Frames are ``\\r\\n``-terminated JSON; a bare ``\\r\\n`` is the keep-alive
  X sends every 20 s. With nothing at all for ``stall_timeout`` (21 s: the heartbeat often comes a
  little after 20 s) the connection is dropped and reopened.
- Reconnects follow X's guidelines: at once after an established stream drops, then linearly
  +250 ms up to 16 s for network errors, exponentially from 5 s (to 320 s) for HTTP errors and from
  60 s for 429. ``backfill_minutes`` (1-5, accounts that have it) is asked on every reconnect, and
  on a restart within five minutes of the saved cursor (the receive time of the last frame).
- Every frame becomes a RawEvent (format ``twitter_v2``, source ``x.filtered_stream``) whose
  payload is the frame's bytes as received, error frames included (the normalizer dead-letters
  them as ``source_error``); tweets de-duplicate by id (backfill redelivers), other frames never.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import math
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import orjson

from activity.raw import RawEvent, RawFormat
from groundswell.settings import Settings
from sources.live.base import SourceEvent, SourceMetrics
from sources.live.registry import SourceSpec

log = logging.getLogger(__name__)

API_BASE = "https://api.x.com"
SOURCE = "x.filtered_stream"
EXPANSIONS = (
    "author_id,referenced_tweets.id,referenced_tweets.id.author_id,"
    "entities.mentions.username,in_reply_to_user_id"
)
TWEET_FIELDS = (
    "author_id,conversation_id,created_at,entities,in_reply_to_user_id,lang,public_metrics,"
    "referenced_tweets,edit_history_tweet_ids"
)
USER_FIELDS = "created_at,description,location,name,public_metrics,url,username,verified"
MAX_BUFFER = 16 * 1024 * 1024  # a frame longer than this is cut (and dead-lettered as bad JSON)


@dataclass(frozen=True)
class Rule:
    value: str
    tag: str | None = None


@dataclass(frozen=True)
class RulePlan:
    delete_ids: tuple[str, ...]
    add: tuple[Rule, ...]


def plan_rules(live: list[dict[str, Any]], wanted: list[Rule]) -> RulePlan:
    """What to delete and add so the live rules equal ``wanted`` (a rule is its value and tag)."""
    want = list(dict.fromkeys(wanted))
    have: dict[Rule, str] = {}
    delete: list[str] = []
    for r in live:
        rule = Rule(str(r.get("value", "")), r.get("tag") or None)
        if rule in want and rule not in have:
            have[rule] = str(r["id"])
        else:
            delete.append(str(r["id"]))
    return RulePlan(tuple(delete), tuple(r for r in want if r not in have))


class ReconnectPolicy:
    """X's reconnect guidelines, as delays in seconds (no jitter: the intervals are X's)."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale  # tests shrink time
        self._network = 0
        self._http = 0
        self._rate = 0
        self._immediate = False

    def reset(self) -> None:
        self._network = self._http = self._rate = 0
        self._immediate = False

    def network_error(self, established: bool = False) -> float:
        if established and not self._immediate:
            self._immediate = True  # reconnect at once after a stream that delivered, back off after that
            return 0.0
        self._network += 1
        return self.scale * min(16.0, 0.25 * self._network)

    def http_error(self) -> float:
        self._http += 1
        return self.scale * min(320.0, 5.0 * 2.0 ** (self._http - 1))

    def rate_limited(self) -> float:
        self._rate += 1
        return self.scale * min(960.0, 60.0 * 2.0 ** (self._rate - 1))


def split_frames(buffer: bytearray, chunk: bytes) -> Iterator[bytes]:
    """Append ``chunk`` and yield each complete line (without ``\\r\\n``), keep-alives as ``b""``."""
    buffer.extend(chunk)
    while True:
        end = buffer.find(b"\n")
        if end < 0:
            return
        line = bytes(buffer[:end])
        del buffer[: end + 1]
        yield line.removesuffix(b"\r")


def frame_event(frame: bytes, counter: Iterator[int], received_at: float) -> SourceEvent:
    tweet_id: str | None = None
    source_time: float | None = None
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError:
        obj = None
    data = obj.get("data") if isinstance(obj, dict) else None
    if isinstance(data, dict) and isinstance(data.get("id"), str):
        tweet_id = data["id"]
        created = data.get("created_at")
        if isinstance(created, str):
            try:
                source_time = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
            except ValueError:
                source_time = None
    key = f"x:tweet:{tweet_id}" if tweet_id else f"x:frame:{received_at!r}:{next(counter)}"
    raw = RawEvent(format=RawFormat.TWITTER_V2, source=SOURCE, received_at=received_at, payload=frame)
    return SourceEvent(raw, dedupe_key=key, source_time=source_time, cursor=repr(received_at))


def restart_backfill(cursor: str | None, minutes: int, now: float) -> int:
    """Backfill to ask on the first connect: the minutes since the cursor, if within the allowance."""
    try:
        last = float(cursor) if cursor else None
    except ValueError:
        return 0
    if last is None or minutes <= 0 or now - last > minutes * 60:
        return 0
    return max(1, min(minutes, math.ceil((now - last) / 60)))


@dataclass(frozen=True)
class XConfig:
    bearer_token: str
    rules: tuple[Rule, ...] = ()
    backfill_minutes: int = 0  # 1-5 where the account has it; 0: not asked
    dry_run: bool = False  # validate the rules and stop without streaming
    api_base: str = API_BASE
    stall_timeout: float = 21.0
    connect_timeout: float = 30.0


class XRulesError(Exception):
    pass


class XSource:
    name = "x"

    def __init__(
        self, config: XConfig, cursor: str | None = None, policy: ReconnectPolicy | None = None
    ) -> None:
        self.config = config
        self._cursor = cursor
        self.policy = policy or ReconnectPolicy()
        self._stopped = asyncio.Event()
        self._response: aiohttp.ClientResponse | None = None
        self._counter = itertools.count()
        self.connects = 0
        self.rule_changes: list[RulePlan] = []
        self.metrics: SourceMetrics | None = None  # reconnects are counted here when given

    def stop(self) -> None:
        self._stopped.set()
        if self._response is not None:
            self._response.close()  # a pending read fails at once

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.bearer_token}", "User-Agent": "groundswell/0.1.0"}

    async def sync_rules(self, session: aiohttp.ClientSession) -> RulePlan:
        url = f"{self.config.api_base}/2/tweets/search/stream/rules"
        body = await self._rules_request(session, "GET", url, {}, None)
        live = body.get("data") or []
        plan = plan_rules(live, list(self.config.rules))
        params = {"dry_run": "true"} if self.config.dry_run else {}
        if plan.delete_ids:
            await self._rules_request(
                session, "POST", url, params, {"delete": {"ids": list(plan.delete_ids)}}
            )
        if plan.add:
            add = [{"value": r.value, **({"tag": r.tag} if r.tag else {})} for r in plan.add]
            body = await self._rules_request(session, "POST", url, params, {"add": add})
            # a dry run deletes nothing, so a rule re-added with a new tag is reported as a duplicate
            deleted = {str(r.get("value")) for r in live if str(r.get("id")) in plan.delete_ids}
            errors = [e for e in body.get("errors") or [] if not (params and e.get("value") in deleted)]
            if errors:
                raise XRulesError(f"adding rules: {errors}")
        log.info(
            "x rules: %d deleted, %d added (dry run: %s)", len(plan.delete_ids), len(plan.add), bool(params)
        )
        self.rule_changes.append(plan)
        return plan

    async def _rules_request(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        params: dict[str, str],
        payload: dict[str, Any] | None,
    ) -> dict[str, Any]:
        async with session.request(method, url, params=params, json=payload, headers=self._headers()) as resp:
            status, raw = resp.status, await resp.read()
        if status == 429 or status >= 500:
            raise _HttpStatusError(status, raw[:500])  # retried
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        if status not in (200, 201) or not isinstance(body, dict):
            raise XRulesError(f"{method} rules: HTTP {status}: {raw[:500]!r}")
        if payload and "delete" in payload and body.get("errors"):
            raise XRulesError(f"deleting rules: {body['errors']}")
        return body

    def _stream_params(self, reconnect: bool) -> dict[str, str]:
        params = {"expansions": EXPANSIONS, "tweet.fields": TWEET_FIELDS, "user.fields": USER_FIELDS}
        minutes = self.config.backfill_minutes
        if reconnect and minutes > 0:
            params["backfill_minutes"] = str(min(5, minutes))
        elif not reconnect and (n := restart_backfill(self._cursor, min(5, minutes), time.time())):
            params["backfill_minutes"] = str(n)
        return params

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), seconds)

    async def events(self) -> AsyncIterator[SourceEvent]:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.config.connect_timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while self.config.rules and not self._stopped.is_set():
                try:
                    await self.sync_rules(session)
                    break
                except (aiohttp.ClientError, TimeoutError, OSError, _HttpStatusError) as exc:
                    if isinstance(exc, _HttpStatusError):
                        delay = self.policy.rate_limited() if exc.status == 429 else self.policy.http_error()
                    else:
                        delay = self.policy.network_error()
                    log.warning("x rules: %r; retrying in %.2fs", exc, delay)
                    await self._sleep(delay)
            if self.config.dry_run:
                return
            while not self._stopped.is_set():
                delivered = False
                try:
                    async for ev in self._connect(session):
                        delivered = True
                        yield ev
                    delay = self.policy.network_error(established=True)  # the server ended the stream
                except _HttpStatusError as exc:
                    delay = self.policy.rate_limited() if exc.status == 429 else self.policy.http_error()
                    log.warning("x stream: HTTP %d %s; reconnecting in %.2fs", exc.status, exc.body, delay)
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    delay = self.policy.network_error(established=delivered)
                    if not self._stopped.is_set():
                        log.warning("x stream: %r; reconnecting in %.2fs", exc, delay)
                await self._sleep(delay)

    async def _connect(self, session: aiohttp.ClientSession) -> AsyncIterator[SourceEvent]:
        url = f"{self.config.api_base}/2/tweets/search/stream"
        params = self._stream_params(reconnect=self.connects > 0)
        self.connects += 1
        if self.connects > 1 and self.metrics is not None:
            self.metrics.reconnects.labels(self.name).inc()
        async with session.get(url, params=params, headers=self._headers()) as resp:
            if resp.status != 200:
                raise _HttpStatusError(resp.status, (await resp.read())[:500])
            self._response = resp
            buffer = bytearray()
            try:
                while not self._stopped.is_set():
                    chunk = await asyncio.wait_for(resp.content.readany(), self.config.stall_timeout)
                    if not chunk:
                        return  # the server closed the stream (a partial last line is dropped)
                    for frame in split_frames(buffer, chunk):
                        if frame.strip():
                            self.policy.reset()
                            yield frame_event(frame, self._counter, time.time())
                    if len(buffer) > MAX_BUFFER:
                        yield frame_event(bytes(buffer), self._counter, time.time())
                        buffer.clear()
            finally:
                self._response = None
                if buffer.strip():
                    log.warning("x stream: dropped %d bytes of an unfinished frame", len(buffer))


class _HttpStatusError(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.body = status, body


def _parse_rule(text: str) -> Rule:
    return Rule(text.strip())


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bearer-token", help="an app's bearer token (or setting GROUNDSWELL_X_BEARER_TOKEN)")
    p.add_argument("--rule", action="append", type=_parse_rule, default=[], help="a filter rule (repeat)")
    p.add_argument(
        "--tagged-rule",
        action="append",
        nargs=2,
        metavar=("TAG", "VALUE"),
        default=[],
        help="a rule with a tag",
    )
    p.add_argument("--backfill-minutes", type=int, default=0, help="1-5: recover missed posts on reconnect")
    p.add_argument(
        "--dry-run", action="store_true", help="validate the rule changes, change and stream nothing"
    )


def _build(settings: Settings, args: argparse.Namespace, cursor: str | None) -> XSource:
    bearer_token = args.bearer_token or settings.x_bearer_token.get_secret_value()
    if not bearer_token:
        raise SystemExit("x: --bearer-token (or GROUNDSWELL_X_BEARER_TOKEN) is required")
    rules = tuple(args.rule) + tuple(Rule(value, tag) for tag, value in args.tagged_rule)
    config = XConfig(
        bearer_token=bearer_token,
        rules=rules,
        backfill_minutes=max(0, min(5, args.backfill_minutes)),
        dry_run=args.dry_run,
    )
    return XSource(config, cursor)


SPEC = SourceSpec(
    name="x",
    help="X API v2 filtered stream (rules synced from --rule)",
    add_arguments=_add_arguments,
    build=_build,
)
