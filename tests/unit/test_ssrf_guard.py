from __future__ import annotations

import asyncio
import ipaddress
import socket

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from alerts.metrics import AlertMetrics
from alerts.ssrf import AddressPolicy, ForbiddenAddress, GuardedResolver, check_url, is_public, refusal
from alerts.webhooks import RetryPolicy, WebhookSender

STRICT = AddressPolicy()

HOSTILE = [
    "http://127.0.0.1/hook",
    "http://127.0.0.1:8000/hook",
    "http://localhost/hook",
    "http://LOCALHOST./hook",
    "http://api.localhost/hook",
    "http://[::1]/hook",
    "http://[::]/hook",
    "http://0.0.0.0/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",  # shared address space (CGNAT)
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fe80::1]/hook",
    "http://[fc00::1]/hook",
    "http://224.0.0.1/hook",
    "http://[ff02::1]/hook",
    "http://240.0.0.1/hook",  # reserved
    "http://192.0.2.1/hook",  # documentation
    "http://2130706433/hook",  # decimal 127.0.0.1
    "http://0x7f000001/hook",  # hex
    "http://0177.0.0.1/hook",  # octal
    "http://127.1/hook",  # short form
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
    "http://[::ffff:a9fe:a9fe]/hook",  # mapped 169.254.169.254
    "http://[64:ff9b::7f00:1]/hook",  # NAT64 of 127.0.0.1
    "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
    "ftp://example.com/hook",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
    "http://user:secret@example.com/hook",
    "http:///hook",
    "http://example.com:99999/hook",
    "http://" + "a" * 3000 + ".com/",
]


@pytest.mark.parametrize("url", HOSTILE)
async def test_hostile_urls_are_refused(url: str) -> None:
    with pytest.raises(ForbiddenAddress):
        await check_url(url, STRICT)


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_public_addresses_pass(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))
    STRICT.check_ip(address)


async def test_public_literal_urls_pass_and_settings_can_open_the_guard() -> None:
    assert (await check_url("https://8.8.8.8/hook", STRICT)).port == 443
    assert (await check_url("http://127.0.0.1:9/x", AddressPolicy(allow_private=True))).host == "127.0.0.1"
    allow_one = AddressPolicy.of(False, ["10.1.2.3/32"])
    assert (await check_url("http://10.1.2.3/x", allow_one)).host == "10.1.2.3"
    with pytest.raises(ForbiddenAddress):
        await check_url("http://10.1.2.4/x", allow_one)
    assert allow_one.allows(ipaddress.ip_address("::ffff:10.1.2.3"))  # the same host, IPv4-mapped


async def test_the_connect_time_resolver_refuses_names_resolving_to_loopback() -> None:
    resolver = GuardedResolver(STRICT)
    try:
        with pytest.raises(ForbiddenAddress):
            await resolver.resolve("localhost", 80, socket.AF_INET)
    finally:
        await resolver.close()


class Receiver:
    """A real local HTTP server counting what reaches it."""

    def __init__(self, host: str, answer: web.Response | None = None) -> None:
        self.host, self.hits, self._answer = host, 0, answer
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        return self._answer or web.Response(text="ok")

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def sender(policy: AddressPolicy) -> WebhookSender:
    async def no_sleep(_: float) -> None:
        await asyncio.sleep(0)

    return WebhookSender(
        policy,
        RetryPolicy(max_attempts=3),
        AlertMetrics.for_registry(CollectorRegistry()),
        2.0,
        sleep=no_sleep,
    )


async def test_a_name_that_resolves_to_loopback_is_refused_at_connect_time_and_nothing_is_sent() -> None:
    async with Receiver("127.0.0.1") as target, sender(STRICT) as s:
        outcome = await s.deliver(f"http://localhost:{target.port}/hook", "k", "a1", b"{}")
        assert not outcome.delivered and outcome.reason == "refused" and outcome.attempts == 1
        # and through the HTTP client itself (no pre-check): the resolver refuses the connection
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(STRICT), use_dns_cache=False)
        async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
            with pytest.raises(aiohttp.ClientError) as caught:
                await session.get(f"http://localhost:{target.port}/")
        assert refusal(caught.value) is not None
        # legacy numeric forms are IP literals to some HTTP clients: refused before any connection
        for host in ("2130706433", "0x7f000001", "127.1"):
            outcome = await s.deliver(f"http://{host}:{target.port}/hook", "k", "a1", b"{}")
            assert outcome.reason == "refused", host
        assert target.hits == 0


async def test_redirects_to_private_addresses_are_not_followed() -> None:
    # the receiver on 127.0.0.1 is explicitly allowed; it redirects to 127.0.0.2, which is not
    async with Receiver("127.0.0.2") as inner:
        redirect = web.Response(status=302, headers={"Location": f"http://127.0.0.2:{inner.port}/steal"})
        async with (
            Receiver("127.0.0.1", redirect) as outer,
            sender(AddressPolicy.of(False, ["127.0.0.1/32"])) as s,
        ):
            outcome = await s.deliver(f"http://127.0.0.1:{outer.port}/hook", "k", "a1", b"{}")
            assert not outcome.delivered and outcome.last_status == 302 and outcome.reason == "rejected"
            assert outer.hits == 1 and inner.hits == 0
            # the redirect target itself is refused before any connection
            direct = await s.deliver(f"http://127.0.0.2:{inner.port}/steal", "k", "a2", b"{}")
            assert direct.reason == "refused" and inner.hits == 0
