"""Realistic identifiers per network, all drawn from a passed-in ``random.Random`` (deterministic)."""

from __future__ import annotations

import base64
import random

_B32 = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648 lower-case: DIDs and CIDs
_B32_SORT = "234567abcdefghijklmnopqrstuvwxyz"  # atproto's sortable base32: TIDs
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_CID_PREFIX = bytes([0x01, 0x71, 0x12, 0x20])  # CIDv1, dag-cbor, sha2-256, 32 bytes
_RAW_CID_PREFIX = bytes([0x01, 0x55, 0x12, 0x20])  # CIDv1, raw (blobs)
TWITTER_EPOCH_MS = 1288834974657


def did_plc(rng: random.Random) -> str:
    """``did:plc:`` + 24 base32 characters, as PLC DIDs are."""
    return "did:plc:" + "".join(rng.choices(_B32, k=24))


def tid(time_us: int, clock_id: int) -> str:
    """A TID (record key / repo rev): 53 bits of microseconds and 10 bits of clock id, sortable base32."""
    n = ((time_us & ((1 << 53) - 1)) << 10) | (clock_id & 0x3FF)
    out = []
    for _ in range(13):
        out.append(_B32_SORT[n & 31])
        n >>= 5
    return "".join(reversed(out))


def cid(rng: random.Random, *, blob: bool = False) -> str:
    """A CIDv1 string (``bafyrei...`` for records, ``bafkrei...`` for blobs) over a random digest."""
    prefix = _RAW_CID_PREFIX if blob else _CID_PREFIX
    return "b" + base64.b32encode(prefix + rng.randbytes(32)).decode("ascii").lower().rstrip("=")


def snowflake(ms: float, rng: random.Random) -> str:
    """An X/Twitter snowflake id for a moment (epoch milliseconds)."""
    return str(((int(ms) - TWITTER_EPOCH_MS) << 22) | (rng.getrandbits(10) << 12) | rng.getrandbits(12))


def mastodon_id(ms: float, rng: random.Random) -> str:
    """A Mastodon snowflake id (milliseconds << 16 | a sequence)."""
    return str((int(ms) << 16) | rng.getrandbits(16))


def base36(n: int) -> str:
    if n == 0:
        return "0"
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(_B36[r])
    return "".join(reversed(out))


def reddit_id(rng: random.Random, length: int = 7) -> str:
    """A Reddit base36 id of ``length`` characters (comments today have 7)."""
    lo = 36 ** (length - 1)
    return base36(rng.randrange(lo, lo * 36))
