"""Every scoring worker's erasure follower reads the erase events of all partitions of
identity.links, on the real embedded broker (``streams.erasure_follower``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import confluent_kafka
import pytest

from groundswell.metrics import Metrics
from groundswell.settings import TOPIC_IDENTITY
from identity.audit import AuditAction, AuditEvent
from streams.erasure_follower import ErasureFollower
from tests.fixtures.broker import BrokerUnderTest

pytestmark = pytest.mark.integration


def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_two_followers_each_read_every_erase_event_and_nothing_else(embedded_broker: BrokerUnderTest) -> None:
    run = uuid.uuid4().hex[:8]
    producer = confluent_kafka.Producer({"bootstrap.servers": embedded_broker.bootstrap, "log_level": 3})

    def send(event: AuditEvent | bytes, key: str) -> None:
        value = event if isinstance(event, bytes) else event.to_bytes()
        producer.produce(TOPIC_IDENTITY, key=key.encode(), value=value)
        producer.flush(10)

    def erase(*accounts: str) -> AuditEvent:
        return AuditEvent(AuditAction.ERASE, time.time(), "platform", record_ids=accounts, cause=run)

    # written while the workers were starting: within the records read back at start
    early = f"bluesky:did:plc:early-{run}"
    send(erase(early), early)

    metrics = [Metrics.create(), Metrics.create()]
    seen: list[list[str]] = [[], []]
    followers = [
        ErasureFollower(embedded_broker.bootstrap, f"it-follow-{run}", seen[i].extend, metrics[i]).start()
        for i in range(2)
    ]
    try:
        for follower in followers:
            assert follower.ready.wait(30), "assigned to identity.links"
        # keys spread over the partitions: one worker's group share would miss some of them
        erased = [f"mastodon:{run}-{i}@example.social" for i in range(8)]
        for account in erased:
            send(erase(account), account)
        kept = f"reddit:t2_kept{run}"
        send(AuditEvent(AuditAction.LINK, time.time(), "auto", person_id="p", record_ids=(kept,)), kept)
        send(b'{"action": "erase", "record_ids": not json', "bad")  # malformed: skipped
        both = [erase(f"x:{run}-a", f"x:{run}-b")]
        send(both[0], "x")
        wanted = {early, *erased, f"x:{run}-a", f"x:{run}-b"}
        for got, m in zip(seen, metrics, strict=True):

            def saw_all(got: list[str] = got) -> bool:
                return wanted <= set(got)

            until(saw_all, 30, "a follower saw every erased account")
            assert kept not in got
            assert sorted(a for a in got if run in a) == sorted(wanted)  # each once: none read twice
            # counted: the events written since the start (the early one is read back, acted on, not counted)
            assert m.erasures_followed._value.get() == len(erased) + 1
    finally:
        stopped = [follower.close() for follower in followers]
    assert stopped == [True, True]
