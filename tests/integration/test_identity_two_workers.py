"""Two identity workers at once on the real embedded broker and graph: the accounts of one person
arrive at BOTH workers concurrently (each account in a partition the other worker does not own),
and still exactly one person exists per identity, because every decision goes through the one
resolver that owns the single command partition (streams/identity_agent.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import confluent_kafka
import orjson
import pytest

from activity.schema import AccountRef, Activity, ActivityKind, Network, Profile
from graph.store import GraphStore
from groundswell.settings import TOPIC_ACTIVITY, TOPIC_IDENTITY
from streams.broker import write_address
from tests.fixtures.broker import BrokerUnderTest, read_values
from tests.fixtures.graph import GraphUnderTest, wipe

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
T0 = 1_783_000_000.0

#: identity -> accounts (network, id, handle, display name, profile url, bio, location)
IDENTITIES: dict[str, list[tuple[Network, str, str, str, str, str, str]]] = {
    "jane": [
        (Network.BLUESKY, "bluesky:did:plc:jane2w", "janedoe.bsky.social", "Jane Doe", "https://janedoe.dev",
         "VP Engineering at Example Corp. Distributed systems, climbing.", "San Francisco"),
        (Network.MASTODON, "mastodon:https://hachyderm.io/users/janedoe", "janedoe@hachyderm.io", "Jane Doe",
         "https://janedoe.dev", "Engineering lead at Example Corp; distributed systems and climbing.",
         "San Francisco, CA"),
        (Network.X, "x:9001001", "janedoe", "Jane Doe", "https://janedoe.dev",
         "Engineering @ Example Corp. Climber.", "SF"),
    ],
    "ravi": [
        (Network.BLUESKY, "bluesky:did:plc:ravi2w", "ravikumar.bsky.social", "Ravi Kumar", "https://kumar.io",
         "Founder of Kumar Labs. Tea, typography, tiny startups.", "London"),
        (Network.MASTODON, "mastodon:https://fosstodon.org/users/ravikumar", "ravikumar@fosstodon.org",
         "Ravi Kumar", "https://kumar.io", "Founder, Kumar Labs. Typography and tea.", "London, UK"),
    ],
    "marta": [
        (Network.X, "x:9002002", "martanowak", "Marta Nowak", "https://martanowak.pl",
         "Data journalist in Warsaw. Maps and charts.", "Warsaw"),
        (Network.MASTODON, "mastodon:https://mastodon.social/users/martanowak", "martanowak@mastodon.social",
         "Marta Nowak", "https://martanowak.pl", "Data journalism, maps, charts. Warszawa.",
         "Warsaw, Poland"),
    ],
    "amara": [
        (Network.BLUESKY, "bluesky:did:plc:amara2w", "amaraokafor.com", "Amara Okafor", "https://amaraokafor.com",
         "Product designer in Lagos. Accessibility nerd.", "Lagos"),
        (Network.X, "x:9003003", "amaraokafor", "Amara Okafor", "https://amaraokafor.com",
         "Product designer. Accessibility. Lagos.", "Lagos, Nigeria"),
    ],
    "tom": [
        (Network.X, "x:9004004", "tbecker", "Tom Becker", "https://becker.de", "Maschinenbau in Berlin.",
         "Berlin"),
    ],
    "lucia": [
        (Network.BLUESKY, "bluesky:did:plc:lucia2w", "luciaromano.bsky.social", "Lucia Romano",
         "https://luciaromano.it", "Chef and food writer in Naples.", "Naples"),
    ],
    "pierre": [
        (Network.MASTODON, "mastodon:https://piaille.fr/users/pdubois", "pdubois@piaille.fr", "Pierre Dubois",
         "https://pdubois.fr", "Professeur de physique à Lyon.", "Lyon"),
    ],
}  # fmt: skip


def activities(identity: str, i: int) -> list[Activity]:
    """A profile snapshot, then a post, of one account."""
    net, aid, handle, name, url, bio, loc = IDENTITIES[identity][i]
    actor = AccountRef(aid, net, handle=handle, display_name=name)
    profile = Profile(display_name=name, bio=bio, url=url, location=loc)
    return [
        Activity(f"2w:{aid}:profile", ActivityKind.PROFILE, net, actor, T0, T0, "test", profile=profile),
        Activity(
            f"2w:{aid}:post", ActivityKind.POST, net, actor, T0 + 1, T0 + 1, "test",
            post_id=f"{aid}/post/1", text=f"hello from {name.split()[0]}",
        ),
    ]  # fmt: skip


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]
    out_dir: Path

    @property
    def log(self) -> Path:
        return self.out_dir / f"{self.name}.log"

    def snapshot(self) -> dict[str, Any]:
        path = self.out_dir / f"{self.name}.json"
        data: dict[str, Any] = orjson.loads(path.read_bytes()) if path.exists() else {}
        return data

    def alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(
                f"{self.name} exited {self.proc.returncode}:\n{self.log.read_text()[-5000:]}"
            )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def workers(
    embedded_broker: BrokerUnderTest, embedded_graph: GraphUnderTest, tmp_path: Path
) -> Iterator[tuple[list[Worker], str, Any]]:
    prefix = f"t2w{uuid.uuid4().hex[:8]}."
    settings = embedded_graph.settings.model_copy(
        update={"data_dir": tmp_path, "app_id": prefix + "identity"}
    )
    write_address(settings.broker_address_file, embedded_broker.bootstrap)

    async def clear() -> None:
        async with await GraphStore.connect(settings) as store:
            await store.setup()
            await wipe(store)

    asyncio.run(clear())
    env = {**os.environ, **settings.to_env()}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    started: list[Worker] = []
    try:
        for name in ("w1", "w2"):
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.fixtures.identity_worker", str(tmp_path), name, prefix],
                cwd=REPO,
                stdout=(tmp_path / f"{name}.log").open("ab"),
                stderr=subprocess.STDOUT,
                env=env,
            )
            started.append(Worker(name, proc, tmp_path))
        yield started, prefix, settings
    finally:
        for w in started:  # both at once: each takes a few seconds to leave the group
            if w.proc.poll() is None:
                w.proc.terminate()
        for w in started:
            w.stop()


def wait_for(what: str, check: Any, ws: list[Worker], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for w in ws:
            w.alive()
        result = check()
        if result:
            return result
        time.sleep(0.3)
    logs = "\n".join(f"--- {w.name}\n{w.log.read_text()[-3000:]}" for w in ws)
    raise AssertionError(f"timed out waiting for {what}; snapshots {[w.snapshot() for w in ws]}\n{logs}")


def produce(bootstrap: str, topic: str, first: list[int], second: list[int]) -> dict[str, str]:
    """Every account's activities, all at once; an identity's accounts alternate between the two
    workers' partitions. -> account id -> identity."""
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "log_level": 3})
    expected_accounts: dict[str, str] = {}
    for n, (identity, accounts) in enumerate(IDENTITIES.items()):
        for i in range(len(accounts)):
            owner = first if (i + n) % 2 == 0 else second
            partition = owner[(i + n) // 2 % len(owner)]
            for act in activities(identity, i):
                producer.produce(
                    topic, orjson.dumps(act.to_dict()), act.actor.id.encode(), partition=partition
                )
            expected_accounts[accounts[i][1]] = identity
    assert producer.flush(10) == 0
    return expected_accounts


def test_two_workers_create_one_person_per_identity(
    workers: tuple[list[Worker], str, Any], embedded_broker: BrokerUnderTest
) -> None:
    ws, prefix, settings = workers
    activity_topic = prefix + TOPIC_ACTIVITY

    def split_assignment() -> tuple[list[int], list[int]] | None:
        parts = [sorted(w.snapshot().get("assigned", {}).get(activity_topic, [])) for w in ws]
        if all(parts) and sorted(parts[0] + parts[1]) == list(range(settings.partitions)):
            return parts[0], parts[1]
        return None

    first, second = wait_for("both workers to hold activity partitions", split_assignment, ws, 120)
    time.sleep(1.0)  # the assignment settled (no member still joining)
    assert split_assignment() == (first, second)

    expected_accounts = produce(embedded_broker.bootstrap, activity_topic, first, second)

    async def linked() -> dict[str, str]:
        async with await GraphStore.connect(settings) as store:
            rows = await store.read(
                "UNWIND $ids AS id MATCH (a:Account {id: id})-[:ACCOUNT_OF]->(p:Person) "
                "RETURN a.id AS a, p.id AS p",
                ids=list(expected_accounts),
            )
        return {r["a"]: r["p"] for r in rows}

    def all_linked() -> dict[str, str] | None:
        found = asyncio.run(linked())
        return found if len(found) == len(expected_accounts) else None

    person_of = wait_for("every account to be resolved", all_linked, ws, 180)
    time.sleep(1.5)  # anything still in flight would show now
    person_of = asyncio.run(linked())

    # one person per identity, a different one for each identity
    persons_by_identity: dict[str, set[str]] = {}
    for account, identity in expected_accounts.items():
        persons_by_identity.setdefault(identity, set()).add(person_of[account])
    assert all(len(p) == 1 for p in persons_by_identity.values()), persons_by_identity
    assert len({next(iter(p)) for p in persons_by_identity.values()}) == len(IDENTITIES)

    async def person_count() -> int:
        async with await GraphStore.connect(settings) as store:
            rows = await store.read("MATCH (p:Person) RETURN count(p) AS n")
        return int(rows[0]["n"])

    # not even a transient second person: no person was created and merged away
    assert asyncio.run(person_count()) == len(IDENTITIES)

    snaps = [w.snapshot() for w in ws]
    # both workers read activities of the same persons; exactly one resolved (the command partition owner)
    assert all(s["intake_events"] > 0 for s in snaps), snaps
    assert sorted(s["applied"] > 0 for s in snaps) == [False, True], snaps
    assert sum(s["applied"] for s in snaps) == len(expected_accounts)  # posts alone resolve nothing
    assert not any(s["errors"] for s in snaps)

    def linked_ids(values: list[bytes]) -> list[str]:
        events = [orjson.loads(v) for v in values]
        return sorted(r for e in events if e["action"] == "link" for r in e["record_ids"])

    # the link events lie in several partitions, which can reach a reader seconds apart
    values = read_values(
        embedded_broker.bootstrap,
        prefix + TOPIC_IDENTITY,
        timeout=60.0,
        until=lambda vs: set(linked_ids(vs)) >= set(expected_accounts),
    )
    links = [orjson.loads(v) for v in values]
    linked_records = linked_ids(values)
    assert linked_records == sorted(expected_accounts)
    assert all(e["type"] == "identity.audit" for e in links)
