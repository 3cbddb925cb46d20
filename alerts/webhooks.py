"""Webhook delivery: signed POSTs of the alert JSON, retries with backoff, a dead letter at the end.

Each request carries (docs/alerts.md "Webhooks"):

* ``X-Groundswell-Timestamp``: unix seconds when this attempt was signed;
* ``X-Groundswell-Signature: sha256=<hex>``: HMAC-SHA256 with the subscription's secret over
  ``"<timestamp>." + body`` (the exact body bytes), so a receiver can check origin and freshness
  with :func:`verify_signature`;
* ``X-Groundswell-Alert-Id`` (receivers de-duplicate on it: delivery is at least once) and
  ``X-Groundswell-Attempt``.

A 2xx answer is success. Timeouts, connection errors, 408, 429 and 5xx are retried with
exponential backoff and jitter (``Retry-After`` honoured up to the cap); other answers (4xx, 3xx:
redirects are never followed) and SSRF refusals are permanent. After ``max_attempts`` or a
permanent failure the delivery becomes a :class:`WebhookDeadLetter` on ``crm.alerts.deadletter``.
A delivery whose ``withhold`` says so before an attempt ends unsent and is not dead-lettered (the
dispatcher's: the alert's account was erased meanwhile).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from alerts.metrics import AlertMetrics
from alerts.ssrf import AddressPolicy, ForbiddenAddress, GuardedResolver, check_url, refusal

TOPIC_ALERTS_DEADLETTER = "crm.alerts.deadletter"
DEADLETTER_SCHEMA_VERSION = 1

SIGNATURE_HEADER = "X-Groundswell-Signature"
TIMESTAMP_HEADER = "X-Groundswell-Timestamp"
ALERT_ID_HEADER = "X-Groundswell-Alert-Id"
ATTEMPT_HEADER = "X-Groundswell-Attempt"
USER_AGENT = "Groundswell-Webhooks/1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: bytes,
    header: str,
    tolerance_s: float = 300.0,
    now: float | None = None,
) -> bool:
    """For receivers: is ``header`` a valid signature of ``body`` at ``timestamp``, made no more
    than ``tolerance_s`` away from ``now``? Constant-time; the header may list several
    comma-separated ``sha256=`` values (during a secret rotation any one may match)."""
    try:
        ts = int(str(timestamp).strip())
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        return False
    expected = sign(secret, ts, body)
    return any(hmac.compare_digest(expected, part.strip()) for part in header.split(","))


def signed_headers(secret: str, body: bytes, alert_id: str, attempt: int, now: float) -> dict[str, str]:
    ts = int(now)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(secret, ts, body),
        ALERT_ID_HEADER: alert_id,
        ATTEMPT_HEADER: str(attempt),
    }


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    base_s: float = 0.5
    max_s: float = 30.0

    def delay(self, failures: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Wait before the next attempt after ``failures`` failures: base * 2^(failures-1), capped,
        with "equal jitter" (half fixed, half random) so retries of many alerts spread out."""
        backoff = min(self.max_s, self.base_s * float(2 ** max(failures - 1, 0)))
        wait = backoff / 2 + rng.uniform(0, backoff / 2)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_s))
        return wait


@dataclass(frozen=True, slots=True)
class Attempt:
    ok: bool
    retryable: bool
    result: str  # metrics label: ok, http_4xx, http_5xx, redirect, error, refused
    status: int | None = None
    error: str = ""
    retry_after: float | None = None


#: a delivery's outcome when it was stopped before an attempt (``WebhookSender.deliver``'s ``withhold``)
WITHHELD = "withheld"


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    delivered: bool
    attempts: int
    last_status: int | None
    last_error: str
    reason: str  # "delivered", WITHHELD, or why it was dead-lettered


@dataclass(frozen=True, slots=True)
class WebhookDeadLetter:
    """A delivery given up: enough to inspect and to replay it by hand."""

    alert_id: str
    subscription_id: str
    url: str
    reason: str  # "exhausted" (max attempts), "rejected" (permanent HTTP answer), "refused" (SSRF)
    attempts: int
    last_status: int | None
    last_error: str
    failed_at: float
    alert: bytes  # the alert record as delivered

    def to_dict(self) -> dict[str, Any]:
        try:
            alert: Any = orjson.loads(self.alert)
        except orjson.JSONDecodeError:
            alert = self.alert.decode("utf-8", "replace")
        return {
            "schema_version": DEADLETTER_SCHEMA_VERSION,
            "alert_id": self.alert_id,
            "subscription_id": self.subscription_id,
            "url": self.url,
            "reason": self.reason,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "last_error": self.last_error[:2000],
            "failed_at": self.failed_at,
            "alert": alert,
        }

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_dict())


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: ignored, the backoff applies


class WebhookSender:
    """Sends signed alert bodies with an aiohttp session whose resolver is the SSRF guard."""

    def __init__(
        self,
        policy: AddressPolicy,
        retry: RetryPolicy,
        metrics: AlertMetrics,
        timeout_s: float = 5.0,
        concurrency: int = 32,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._policy = policy
        self.retry = retry
        self._m = metrics
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._limit = concurrency
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> WebhookSender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self._policy),
                limit=self._limit,
                ttl_dns_cache=None,
                use_dns_cache=False,
            )
            # trust_env=False: an HTTP(S)_PROXY from the environment would bypass the address check
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout, trust_env=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def attempt(self, url: str, secret: str, alert_id: str, body: bytes, number: int) -> Attempt:
        started = time.perf_counter()
        try:
            await check_url(url, self._policy, resolve=False)  # literals; names are checked at connect
            headers = signed_headers(secret, body, alert_id, number, self._clock())
            async with self._client().post(url, data=body, headers=headers, allow_redirects=False) as resp:
                await resp.content.read(64 * 1024)  # drain a little so the connection can be reused
                status = resp.status
                retry_after = _retry_after(resp.headers.get("Retry-After"))
        except Exception as e:
            refused = refusal(e)
            if refused is not None:
                self._m.ssrf_refusals.labels("connect").inc()
                return Attempt(False, False, "refused", error=str(refused))
            if isinstance(e, asyncio.CancelledError):
                raise
            return Attempt(False, True, "error", error=f"{e.__class__.__name__}: {e}"[:500])
        finally:
            self._m.webhook_seconds.observe(time.perf_counter() - started)
        if 200 <= status < 300:
            return Attempt(True, False, "ok", status)
        if 300 <= status < 400:
            return Attempt(False, False, "redirect", status, "redirects are not followed")
        if status in (408, 429) or status >= 500:
            label = "http_5xx" if status >= 500 else "http_4xx"
            return Attempt(False, True, label, status, f"HTTP {status}", retry_after)
        return Attempt(False, False, "http_4xx", status, f"HTTP {status}")

    async def deliver(
        self, url: str, secret: str, alert_id: str, body: bytes, withhold: Callable[[], bool] | None = None
    ) -> DeliveryOutcome:
        """Attempts until success, a permanent failure or ``max_attempts``; ``withhold``, asked before
        each attempt, ends the delivery unsent (reason ``WITHHELD``: the alert's account was erased
        while it waited or between retries)."""
        self._m.webhook_inflight.inc()
        try:
            last = Attempt(False, False, "error", error="no attempt")
            for number in range(1, self.retry.max_attempts + 1):
                if withhold is not None and withhold():
                    return DeliveryOutcome(False, number - 1, last.status, last.error, WITHHELD)
                last = await self.attempt(url, secret, alert_id, body, number)
                self._m.webhook_attempts.labels(last.result).inc()
                if last.ok:
                    return DeliveryOutcome(True, number, last.status, "", "delivered")
                if not last.retryable:
                    reason = "refused" if last.result == "refused" else "rejected"
                    return DeliveryOutcome(False, number, last.status, last.error, reason)
                if number < self.retry.max_attempts:
                    await self._sleep(self.retry.delay(number, self._rng, last.retry_after))
            return DeliveryOutcome(False, self.retry.max_attempts, last.status, last.error, "exhausted")
        finally:
            self._m.webhook_inflight.dec()


__all__ = [
    "ALERT_ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOPIC_ALERTS_DEADLETTER",
    "WITHHELD",
    "Attempt",
    "DeliveryOutcome",
    "ForbiddenAddress",
    "RetryPolicy",
    "WebhookDeadLetter",
    "WebhookSender",
    "sign",
    "verify_signature",
]
