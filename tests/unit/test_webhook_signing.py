from __future__ import annotations

import hashlib
import hmac
import random

from hypothesis import given
from hypothesis import strategies as st

from alerts.webhooks import (
    ALERT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    RetryPolicy,
    WebhookDeadLetter,
    sign,
    signed_headers,
    verify_signature,
)

SECRET = "whsec_test"
BODY = b'{"alert_id":"abc","schema_version":2}'
NOW = 1_750_000_000.0


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1750000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1_750_000_000, BODY) == f"sha256={expected}"
    headers = signed_headers(SECRET, BODY, "abc", attempt=2, now=NOW + 0.7)
    assert headers[TIMESTAMP_HEADER] == "1750000000" and headers[ALERT_ID_HEADER] == "abc"
    assert headers[SIGNATURE_HEADER] == f"sha256={expected}"


def test_verify_accepts_the_real_signature_and_rejects_tampering_staleness_and_garbage() -> None:
    header = sign(SECRET, 1_750_000_000, BODY)
    assert verify_signature(SECRET, "1750000000", BODY, header, tolerance_s=300, now=NOW + 299)
    assert not verify_signature(SECRET, "1750000000", BODY, header, tolerance_s=300, now=NOW + 301)
    assert not verify_signature(SECRET, "1750000000", BODY, header, tolerance_s=300, now=NOW - 301)
    assert not verify_signature(SECRET, "1750000000", BODY + b" ", header, now=NOW)
    assert not verify_signature("other", "1750000000", BODY, header, now=NOW)
    assert not verify_signature(SECRET, "1750000001", BODY, header, now=NOW)  # the timestamp is signed
    assert not verify_signature(SECRET, "soon", BODY, header, now=NOW)
    assert not verify_signature(SECRET, "1750000000", BODY, "", now=NOW)
    assert not verify_signature(SECRET, "1750000000", BODY, header.replace("sha256=", "sha1="), now=NOW)
    # during a rotation the header may carry signatures with the old and the new secret
    both = f"{sign('old', 1_750_000_000, BODY)}, {header}"
    assert verify_signature(SECRET, 1_750_000_000, BODY, both, now=NOW)


@given(st.binary(max_size=300), st.text(min_size=1, max_size=40), st.integers(0, 2**33))
def test_sign_then_verify_round_trips(body: bytes, secret: str, ts: int) -> None:
    assert verify_signature(secret, ts, body, sign(secret, ts, body), tolerance_s=1, now=float(ts))
    assert not verify_signature(secret, ts, body + b"x", sign(secret, ts, body), tolerance_s=1, now=float(ts))


def test_backoff_grows_exponentially_with_bounded_jitter_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_attempts=6, base_s=0.5, max_s=4.0)
    rng = random.Random(1)
    for failures, full in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0)):
        delays = [policy.delay(failures, rng) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full / 4  # jittered, not fixed
    assert policy.delay(1, rng, retry_after=3.0) == 3.0
    assert policy.delay(1, rng, retry_after=3600.0) == 4.0  # capped


def test_dead_letter_record_keeps_the_alert_as_json() -> None:
    dl = WebhookDeadLetter(
        "abc", "sub1", "https://crm.example/hook", "exhausted", 5, 503, "HTTP 503", NOW, BODY
    )
    d = dl.to_dict()
    assert d["alert"] == {"alert_id": "abc", "schema_version": 2} and d["attempts"] == 5
    assert (
        WebhookDeadLetter("a", "s", "u", "rejected", 1, 400, "", NOW, b"\xff").to_dict()["alert"] == "\ufffd"
    )
