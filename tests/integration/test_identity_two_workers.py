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
from collections.abc import Iterable, Iterator
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
from tests.fixtures.waiting import eventually

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
T0 = 1_783_000_000.0

#: an account: network, id, handle, display name, profile url, bio, location
Account = tuple[Network, str, str, str, str, str, str]

#: identity -> accounts
IDENTITIES: dict[str, list[Account]] = {
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


def activities(account: Account) -> list[Activity]:
    """A profile snapshot, then a post, of one account."""
    net, aid, handle, name, url, bio, loc = account
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


def wait_for(what: str, check: Any, ws: list[Worker], timeout: float, every: float = 0.3) -> Any:
    """``eventually``, with the workers alive and their snapshots and logs in the failure."""

    def alive() -> None:
        for w in ws:
            w.alive()

    def detail() -> str:
        logs = "\n".join(f"--- {w.name}\n{w.log.read_text()[-3000:]}" for w in ws)
        return f"; snapshots {[w.snapshot() for w in ws]}\n{logs}"

    return eventually(what, check, timeout, alive=alive, every=every, detail=detail)


def produce(bootstrap: str, topic: str, placed: Iterable[tuple[Account, int]]) -> None:
    """Each account's activities into the partition given with it, all at once."""
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "log_level": 3})
    for account, partition in placed:
        for act in activities(account):
            producer.produce(topic, orjson.dumps(act.to_dict()), act.actor.id.encode(), partition=partition)
    assert producer.flush(10) == 0


def alternating(first: list[int], second: list[int]) -> list[tuple[Account, int]]:
    """Every account of IDENTITIES with its partition: an identity's accounts alternate between the
    two workers' partitions."""
    placed: list[tuple[Account, int]] = []
    for n, accounts in enumerate(IDENTITIES.values()):
        for i, account in enumerate(accounts):
            owner = first if (i + n) % 2 == 0 else second
            placed.append((account, owner[(i + n) // 2 % len(owner)]))
    return placed


def settled_split(ws: list[Worker], topic: str, partitions: int) -> tuple[list[int], list[int]]:
    """The partitions of ``topic`` each of the two workers holds, once all are held and stay so."""

    def split() -> tuple[list[int], list[int]] | None:
        parts = [sorted(w.snapshot().get("assigned", {}).get(topic, [])) for w in ws]
        if all(parts) and sorted(parts[0] + parts[1]) == list(range(partitions)):
            return parts[0], parts[1]
        return None

    found: tuple[list[int], list[int]] = wait_for("both workers to hold partitions", split, ws, 120)
    time.sleep(1.0)  # the assignment settled (no member still joining)
    assert split() == found
    return found


def person_of(settings: Any, account_ids: Iterable[str]) -> dict[str, str]:
    """account id -> the id of its person, for the given accounts that have one."""

    async def read() -> dict[str, str]:
        async with await GraphStore.connect(settings) as store:
            rows = await store.read(
                "UNWIND $ids AS id MATCH (a:Account {id: id})-[:ACCOUNT_OF]->(p:Person) "
                "RETURN a.id AS a, p.id AS p",
                ids=list(account_ids),
            )
        return {r["a"]: r["p"] for r in rows}

    return asyncio.run(read())


def person_count(settings: Any) -> int:
    async def read() -> int:
        async with await GraphStore.connect(settings) as store:
            rows = await store.read("MATCH (p:Person) RETURN count(p) AS n")
        return int(rows[0]["n"])

    return asyncio.run(read())


def assert_one_person_per_identity(persons: dict[str, str], identity_of: dict[str, str]) -> None:
    """Every account of ``identity_of`` (account id -> identity) has the person of its identity's
    other accounts, and no two identities share a person."""
    persons_by_identity: dict[str, set[str]] = {}
    for account, identity in identity_of.items():
        persons_by_identity.setdefault(identity, set()).add(persons[account])
    assert all(len(p) == 1 for p in persons_by_identity.values()), persons_by_identity
    assert len({next(iter(p)) for p in persons_by_identity.values()}) == len(persons_by_identity)


def test_two_workers_create_one_person_per_identity(
    workers: tuple[list[Worker], str, Any], embedded_broker: BrokerUnderTest
) -> None:
    ws, prefix, settings = workers
    activity_topic = prefix + TOPIC_ACTIVITY
    first, second = settled_split(ws, activity_topic, settings.partitions)

    produce(embedded_broker.bootstrap, activity_topic, alternating(first, second))
    expected_accounts = {a[1]: identity for identity, accounts in IDENTITIES.items() for a in accounts}

    def all_linked() -> dict[str, str] | None:
        found = person_of(settings, expected_accounts)
        return found if len(found) == len(expected_accounts) else None

    wait_for("every account to be resolved", all_linked, ws, 180)
    time.sleep(1.5)  # anything still in flight would show now
    persons = person_of(settings, expected_accounts)

    assert_one_person_per_identity(persons, expected_accounts)
    # not even a transient second person: no person was created and merged away
    assert person_count(settings) == len(IDENTITIES)

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


#: made-up people for the take-over test: names from syllables, no two people with one first name
SYLLABLES = ("ka", "lo", "mi", "ra", "ten", "vor", "sil", "dun", "pe", "zar", "bel", "qui", "no", "tas")
ROLES = (
    "Data engineer",
    "Pastry chef",
    "Marine biologist",
    "Civil architect",
    "Jazz pianist",
    "Tax lawyer",
    "Wildlife photographer",
    "Pediatric nurse",
    "Game designer",
    "Beekeeper",
)
CITIES = (
    ("Oslo", "Norway"),
    ("Porto", "Portugal"),
    ("Quito", "Ecuador"),
    ("Hanoi", "Vietnam"),
    ("Perth", "Australia"),
    ("Tartu", "Estonia"),
    ("Cusco", "Peru"),
    ("Ghent", "Belgium"),
)
HOBBIES = ("chess", "kayaking", "origami", "birding", "pottery", "running", "sourdough", "film")


def made_up_people(n: int) -> dict[str, list[Account]]:
    """``n`` people with a Bluesky, a Mastodon and an X account each, worded a little differently on
    each network, the way one person's profiles are."""
    people: dict[str, list[Account]] = {}
    for i in range(n):
        s = SYLLABLES
        first = (s[i % 14] + s[(i // 14 + 3) % 14] + "a").capitalize()
        last = (s[(i * 5 + 1) % 14] + s[(i // 7 + 9) % 14] + s[i % 3 + 4]).capitalize()
        slug = (first + last).lower()
        role, (city, country) = ROLES[i % len(ROLES)], CITIES[i % len(CITIES)]
        h1, h2 = HOBBIES[i % 8], HOBBIES[(i + 1 + i // 8 % 7) % 8]  # never the same
        url = f"https://{slug}.net"
        people[slug] = [
            (Network.BLUESKY, f"bluesky:did:plc:{slug}", f"{slug}.bsky.social", f"{first} {last}", url,
             f"{role} in {city}. {h1.capitalize()} and {h2}.", city),
            (Network.MASTODON, f"mastodon:https://mastodon.social/users/{slug}", f"{slug}@mastodon.social",
             f"{first} {last}", url, f"{role}, {city}; into {h1} and {h2}.", f"{city}, {country}"),
            (Network.X, f"x:77{i:05d}", slug[:15], f"{first} {last[0]}.", url, f"{role}. {h1.capitalize()}.",
             city),
        ]  # fmt: skip
    assert len(people) == n
    return people


@pytest.mark.parametrize("stop", ["kill", "terminate"])
def test_when_the_resolving_worker_stops_mid_batch_the_other_takes_over_without_a_second_person(
    workers: tuple[list[Worker], str, Any], embedded_broker: BrokerUnderTest, stop: str
) -> None:
    """The owner of the command partition stops while it works through a backlog, with decisions of
    an unfinished batch already in the graph.

    - ``kill`` (SIGKILL, a crash): its batch's offsets are not committed. The other worker takes the
      partition over, learns the owner's decisions from the graph, applies the redelivered commands
      again (idempotently) and the rest.
    - ``terminate`` (SIGTERM, a rolling restart): the owner finishes the commands in hand and commits
      them before it leaves the group, so the other worker applies each remaining command once and
      none again (``ResolverState.redelivered``: without it, 4 runs of 10 applied some twice).

    Either way: every account resolved, still exactly one person per identity."""
    ws, prefix, settings = workers
    activity_topic = prefix + TOPIC_ACTIVITY
    first, second = settled_split(ws, activity_topic, settings.partitions)
    people = made_up_people(80)
    identity_of = {a[1]: who for who, accounts in people.items() for a in accounts}
    # wave 1, the people's Bluesky accounts, resolved by the owner
    partitions = first + second
    wave1 = [(accounts[0], partitions[n % len(partitions)]) for n, accounts in enumerate(people.values())]
    produce(embedded_broker.bootstrap, activity_topic, wave1)
    wait_for("the first wave", lambda: sum(w.snapshot()["applied"] for w in ws) >= len(wave1), ws, 120)
    # the owner: the worker that holds the one partition the commands go to
    owner, survivor = sorted(ws, key=lambda w: -w.snapshot()["applied"])
    assert survivor.snapshot()["applied"] == 0
    assert len(person_of(settings, identity_of)) == len(wave1)

    # wave 2, their Mastodon and X accounts. The owner is stopped once the graph holds decisions of a
    # batch it has not finished (commands whose offsets are not committed yet)
    wave2 = [
        (account, partitions[(n + k) % len(partitions)])
        for n, accounts in enumerate(people.values())
        for k, account in enumerate(accounts[1:], 1)
    ]
    produce(embedded_broker.bootstrap, activity_topic, wave2)

    def mid_batch() -> bool:
        resolved = len(person_of(settings, identity_of))
        return resolved > max(len(wave1), owner.snapshot()["applied"])

    wait_for("decisions of an unfinished batch", mid_batch, ws, 120, every=0.02)
    if stop == "kill":
        owner.proc.kill()
    else:
        owner.proc.terminate()
    assert owner.proc.wait(60) == (-9 if stop == "kill" else 0), owner.log.read_text()[-5000:]
    resolved_at_stop = len(person_of(settings, identity_of))
    assert resolved_at_stop < len(identity_of), "the stop landed after the whole backlog"

    def all_linked() -> dict[str, str] | None:
        found = person_of(settings, identity_of)
        return found if len(found) == len(identity_of) else None

    wait_for("the other worker to resolve the rest", all_linked, [survivor], 180)
    time.sleep(1.5)  # anything still in flight would show now
    assert_one_person_per_identity(person_of(settings, identity_of), identity_of)
    assert person_count(settings) == len(people)

    snap = survivor.snapshot()
    assert not snap["errors"]
    if stop == "kill":
        # it applied what the owner had not, and again those of the unfinished batch's commands that
        # the owner had decided (two runs: 10 and 2 of them)
        assert snap["applied"] >= len(identity_of) - resolved_at_stop, (snap, resolved_at_stop)
    else:
        last = owner.snapshot()
        assert last.get("stopped") and not last["errors"], last
        # one command an account (the intakes sent each once): what the owner applied before it left,
        # the other applied, none twice (not even the first commands Faust hands the new owner twice)
        assert last["sent"] + snap["sent"] == len(identity_of), (last, snap)
        assert last["applied"] + snap["applied"] == len(identity_of), (last, snap, resolved_at_stop)
        assert snap["applied"] == len(identity_of) - resolved_at_stop, (snap, resolved_at_stop)
        assert "Traceback" not in owner.log.read_text()
