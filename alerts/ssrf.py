"""The SSRF guard for webhook URLs: a subscriber must not make this service call into its own
network (cloud metadata at 169.254.169.254, the broker, admin ports on loopback ...).

Checked three times: when a subscription is created (the URL is parsed and its host resolved),
before each delivery attempt (IP literals, which an HTTP client does not resolve), and at connect
time by :class:`GuardedResolver` (the addresses the client connects to are the ones checked, so a
DNS answer that changes between check and use - DNS rebinding - is caught). Redirects are never
followed. Refused: every address that is not globally routable (private, loopback, link-local,
multicast, reserved, unspecified, shared/CGNAT, documentation ...), IPv4 and IPv6, with IPv4 inside
IPv6 (mapped, NAT64, 6to4, Teredo) unwrapped first; names ``localhost`` and ``*.localhost``; URLs
with credentials or a scheme other than http(s). ``allow_private_webhooks`` turns the address
check off (local development, tests); ``webhook_allowed_networks`` allows chosen private ranges.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2048
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LEGACY_IPV4 = re.compile(r"[0-9a-fA-FxX.]+")


class ForbiddenAddress(OSError):
    """A webhook URL or address the guard refuses (an OSError so HTTP clients pass it through as a
    connection error)."""


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    url: str
    scheme: str
    host: str
    port: int


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address carried inside an IPv6 one (mapped, NAT64, 6to4, Teredo), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def is_public(ip: IPAddress) -> bool:
    inner = embedded_ipv4(ip)
    if inner is not None and not is_public(inner):
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return True  # judged by its IPv4 address above
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def of(cls, allow_private: bool, allowed_networks: Iterable[str] = ()) -> AddressPolicy:
        return cls(allow_private, tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks))

    @classmethod
    def from_settings(cls, settings: Any) -> AddressPolicy:
        return cls.of(settings.allow_private_webhooks, settings.webhook_allowed_networks)

    def allows(self, ip: IPAddress) -> bool:
        if self.allow_private or is_public(ip):
            return True
        candidates = [ip] + ([e] if (e := embedded_ipv4(ip)) is not None else [])
        return any(c in net for c in candidates for net in self.allowed_networks if c.version == net.version)

    def check_ip(self, address: str) -> IPAddress:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not self.allows(ip):
            raise ForbiddenAddress(f"address {ip} is not publicly routable")
        return ip


def parse_target(url: str) -> WebhookTarget:
    """The URL's parts, or ForbiddenAddress with the reason it is refused."""
    if len(url) > MAX_URL_LENGTH:
        raise ForbiddenAddress(f"URL longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as e:
        raise ForbiddenAddress(f"not a URL: {e}") from e
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ForbiddenAddress(f"scheme {parts.scheme!r} is not http or https")
    if parts.username is not None or parts.password is not None:
        raise ForbiddenAddress("credentials in the URL are not allowed (use the signing secret)")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise ForbiddenAddress("URL has no host")
    return WebhookTarget(url.strip(), scheme, host, port or (443 if scheme == "https" else 80))


def _literal(host: str) -> IPAddress | None:
    """An IP address written in the host, including the legacy IPv4 forms that C resolvers (and
    some HTTP clients) accept: decimal ``2130706433``, hex ``0x7f000001``, octal, ``127.1``."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


async def check_url(url: str, policy: AddressPolicy, resolve: bool = True) -> WebhookTarget:
    """Parse ``url`` and check the addresses its host resolves to now (all must be allowed)."""
    target = parse_target(url)
    if policy.allow_private:
        return target
    if target.host == "localhost" or target.host.endswith(".localhost"):
        raise ForbiddenAddress(f"host {target.host!r} is loopback")
    literal = _literal(target.host)
    if literal is not None:
        policy.check_ip(str(literal))
        return target
    if not resolve:
        return target
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM
        )
    except OSError as e:
        raise ForbiddenAddress(f"cannot resolve {target.host!r}: {e}") from e
    if not infos:
        raise ForbiddenAddress(f"{target.host!r} resolves to nothing")
    for info in infos:
        policy.check_ip(str(info[4][0]))
    return target


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that refuses forbidden addresses at connect time (DNS rebinding)."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for r in results:
            self._policy.check_ip(r["host"])
        return results

    async def close(self) -> None:
        await self._inner.close()


def refusal(error: BaseException) -> ForbiddenAddress | None:
    """The guard's refusal somewhere in an exception's chain (HTTP clients wrap it)."""
    seen: set[int] = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:
        if isinstance(e, ForbiddenAddress):
            return e
        seen.add(id(e))
        inner = getattr(e, "os_error", None)
        e = inner if isinstance(inner, BaseException) else (e.__cause__ or e.__context__)
    return None
