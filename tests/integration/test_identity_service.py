"""IdentityService on the real embedded graph with the real encoder, index and matcher: merges keep
the oldest id, replays change nothing, manual link/unlink and reviews are respected later, CRM
imports are idempotent, and erasure removes personal data from the graph, the index and the cache."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from activity.schema import AccountRef, Activity, ActivityKind, Network, Profile
from embedding.encoder import Encoder
from graph.scores import authors_of
from graph.store import GraphStore
from identity import persons as gp
from identity.ann import VectorIndex
from identity.audit import AuditAction, AuditEvent
from identity.candidates import CandidateSearch
from identity.crm_import import parse_file
from identity.erasure import erase_person, erase_record
from identity.import_cli import run_import
from identity.matcher import Matcher
from identity.profile_text import profile_text
from identity.records import ProfileRecord
from identity.service import IdentityError, IdentityService
from streams.broker import write_address
from streams.identity_agent import ResolverState
from streams.identity_commands import RESOLVER_KEY, TOPIC_IDENTITY_COMMANDS, Command
from tests.fixtures import graph as graph_fixtures
from tests.fixtures.broker import read_messages

pytestmark = pytest.mark.integration

CRM = Path(__file__).resolve().parents[1] / "data" / "crm"

JANE_BSKY = ProfileRecord(
    "bluesky:did:plc:janedoe1",
    "bluesky",
    display_name="Jane Doe",
    handle="janedoe.bsky.social",
    websites=("https://janedoe.dev",),
    bio="VP Engineering at Example Corp. Distributed systems, climbing.",
    location="San Francisco",
)
JANE_MASTO = ProfileRecord(
    "mastodon:https://hachyderm.io/users/janedoe",
    "mastodon",
    display_name="Jane Doe",
    handle="@janedoe@hachyderm.io",
    websites=("https://janedoe.dev",),
    links=("https://bsky.app/profile/janedoe.bsky.social",),
    bio="Engineering lead at Example Corp; distributed systems and climbing.",
    location="San Francisco, CA",
)
RAVI = ProfileRecord(
    "bluesky:did:plc:ravik",
    "bluesky",
    display_name="Ravi Kumar",
    handle="ravi.kumar.io",
    websites=("https://kumar.io",),
    bio="Founder of Kumar Labs. Tea, typography, tiny startups.",
    location="London",
)
TOM = ProfileRecord(
    "x:44001",
    "x",
    display_name="Tom Becker",
    handle="tbecker",
    bio="Maschinenbau in Berlin",
    location="Berlin",
)


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder()


class Sink:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    async def __call__(self, events: Any) -> None:
        self.events.extend(events)


async def new_service(graph_store: GraphStore, encoder: Encoder, clock: Any) -> IdentityService:
    svc = IdentityService(
        graph_store,
        Matcher(),
        CandidateSearch(encoder, VectorIndex(384)),
        encoder=encoder,
        audit=Sink(),
        clock=clock,
    )
    await svc.setup()
    return svc


@pytest.fixture
async def service(graph_store: GraphStore, encoder: Encoder) -> IdentityService:
    return await new_service(graph_store, encoder, Clock())


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def sink(svc: IdentityService) -> Sink:
    audit = svc.audit
    assert isinstance(audit, Sink)
    return audit


async def person_of(store: GraphStore, record_id: str) -> str | None:
    rows = await store.read(
        "MATCH (a:Account {id: $id})-[:ACCOUNT_OF]->(p:Person) RETURN p.id AS p", id=record_id
    )
    assert len(rows) <= 1, rows
    return rows[0]["p"] if rows else None


async def live_persons(store: GraphStore) -> int:
    rows = await store.read("MATCH (p:Person) WHERE p.merged_into IS NULL RETURN count(p) AS n")
    return int(rows[0]["n"])


async def test_merge_keeps_the_oldest_id_and_replay_changes_nothing(
    service: IdentityService, encoder: Encoder
) -> None:
    store = service.store
    first = await service.resolve(JANE_BSKY, "e1")
    assert first.person_id == gp.person_id_candidates(JANE_BSKY.record_id)[0]  # the historical id
    await service.resolve(RAVI, "e2")
    second = await service.resolve(JANE_MASTO, "e3")
    assert second.person_id == first.person_id, second.decisions
    assert await person_of(store, JANE_MASTO.record_id) == first.person_id
    assert await person_of(store, RAVI.record_id) != first.person_id
    assert await live_persons(store) == 2
    edge = await store.read(
        "MATCH (a:Account {id: $id})-[e:ACCOUNT_OF]->() RETURN e.decided_by AS by, e.probability AS p, "
        "e.evidence AS ev",
        id=JANE_MASTO.record_id,
    )
    assert edge[0]["by"] == "auto" and edge[0]["p"] >= 0.5 and "name" in edge[0]["ev"]
    actions = [e.action for e in sink(service).events]
    assert actions.count(AuditAction.LINK) == 3

    # the same records again (a replay, or a fresh owner after a restart): nothing changes
    before = await store.counts()
    n_events = len(sink(service).events)
    for r in (JANE_BSKY, RAVI, JANE_MASTO):
        assert not (await service.resolve(r, "again")).changed
    fresh = IdentityService(store, Matcher(), CandidateSearch(encoder, VectorIndex(384)))
    assert await fresh.warm() == 3
    for r in (JANE_MASTO, JANE_BSKY):
        assert not (await fresh.resolve(r, "restart")).changed
    assert await store.counts() == before and len(sink(service).events) == n_events


async def test_unlink_is_respected_and_link_merges_into_the_oldest(service: IdentityService) -> None:
    store = service.store
    a = (await service.resolve(JANE_BSKY, "e1")).person_id
    await service.resolve(JANE_MASTO, "e2")
    assert await person_of(store, JANE_MASTO.record_id) == a

    events = await service.unlink(JANE_MASTO.record_id, None, "alice")
    assert [e.action for e in events] == [AuditAction.SPLIT]
    split_to = await person_of(store, JANE_MASTO.record_id)
    assert split_to not in (None, a)
    # a later automatic decision (changed profile, so it is re-resolved) does not merge them back
    changed = ProfileRecord(JANE_MASTO.record_id, "mastodon", bio="Still Jane, new bio")
    again = await service.resolve(changed, "e3")
    assert not again.plan or not again.plan.merges
    assert await person_of(store, JANE_MASTO.record_id) == split_to
    with pytest.raises(IdentityError) as err:
        await service.link(JANE_MASTO.record_id, "bluesky:did:plc:nobody", "alice")
    assert err.value.status == 404

    # a manual link merges again; the older person survives and the other id becomes an alias
    await service.link(JANE_MASTO.record_id, JANE_BSKY.record_id, "bob")
    assert await person_of(store, JANE_MASTO.record_id) == a
    assert split_to is not None
    view = await service.person_accounts(split_to)
    assert view["person_id"] == a and view["alias"] is True
    assert sorted(x["id"] for x in view["accounts"]) == sorted([JANE_BSKY.record_id, JANE_MASTO.record_id])
    rules = await store.read("MATCH (m:ManualRule) RETURN m.kind AS k")
    assert [r["k"] for r in rules] == ["must_link"]  # the link replaced the cannot-link


async def test_review_accept_and_reject(service: IdentityService) -> None:
    store = service.store
    await service.resolve(RAVI, "e1")
    await service.resolve(TOM, "e2")

    async def plant(tx: Any) -> str | None:
        return await gp.upsert_review(tx, RAVI.record_id, TOM.record_id, 0.7, "[]", 1.0)

    rid = await store.write(plant)
    assert rid is not None
    queue = await service.review_queue()
    assert [q["id"] for q in queue] == [rid] and queue[0]["a"]["id"] in (RAVI.record_id, TOM.record_id)
    await service.decide_review(rid, accept=False, actor="carol")
    assert await service.review_queue() == []
    with pytest.raises(IdentityError):
        await service.decide_review(rid, accept=True, actor="carol")
    rules = await store.read("MATCH (m:ManualRule) RETURN m.kind AS k, m.actor AS actor")
    assert rules == [{"k": "cannot_link", "actor": "carol"}]
    # an accepted review links the pair (overriding the earlier rejection by a new human decision)
    await service.link(RAVI.record_id, TOM.record_id, "dave")
    assert await person_of(store, RAVI.record_id) == await person_of(store, TOM.record_id)


async def test_crm_import_is_idempotent_and_summarised_on_the_person(service: IdentityService) -> None:
    store = service.store
    parsed = parse_file("salesforce_contacts.csv", (CRM / "salesforce_contacts.csv").read_bytes())
    report = (await service.import_customers(parsed)).to_dict()
    assert report["written"] == {"created": 3, "updated": 0, "unchanged": 0}
    assert report["failed"] == 3 and report["resolved"] == 3
    jane = await store.read(
        "MATCH (c:Account {id: 'crm:0035e00000AbCdE1'})-[:ACCOUNT_OF]->(p:Person) "
        "RETURN c.network AS net, c.emails AS emails, p.is_customer AS cust, p.customer_value AS v, "
        "p.tier AS t"
    )
    assert jane == [
        {"net": "crm", "emails": ["jane.doe@example.com"], "cust": True, "v": 12450.0, "t": "Gold"}
    ]
    before = await store.counts()
    n_events = len(sink(service).events)
    again = (await service.import_customers(parsed)).to_dict()
    assert again["written"] == {"created": 0, "updated": 0, "unchanged": 3} and again["resolved"] == 0
    assert await store.counts() == before and len(sink(service).events) == n_events


async def test_erase_person_removes_personal_data_everywhere(
    service: IdentityService, encoder: Encoder
) -> None:
    store = service.store
    pid = (await service.resolve(JANE_BSKY, "e1")).person_id
    await service.resolve(JANE_MASTO, "e2")
    await service.resolve(RAVI, "e3")
    assert pid is not None

    async def posts(tx: Any) -> None:
        await gp.rows(
            tx,
            "MATCH (a:Account {id: $id}) CREATE (a)-[:AUTHORED]->(:Post {id: 'post:1', text: $t})",
            id=JANE_BSKY.record_id,
            t="my private thoughts about Example Corp",
        )

    await store.write(posts)
    texts = [profile_text(service.records[r.record_id]) for r in (JANE_BSKY, JANE_MASTO)]
    encoder.encode(["my private thoughts about Example Corp"])
    search = service._search
    assert isinstance(search, CandidateSearch)
    assert JANE_BSKY.record_id in search and len(search.index) == 3
    cached = len(encoder)
    jane_vector = encoder.encode([texts[0]])

    report = await erase_person(service, pid, actor="dpo")
    assert sorted(report.record_ids) == sorted([JANE_BSKY.record_id, JANE_MASTO.record_id])
    # graph: the person is a tombstone, the accounts keep only id/network, post texts are gone
    person = await store.read("MATCH (p:Person {id: $id}) RETURN properties(p) AS props", id=pid)
    assert set(person[0]["props"]) <= {"id", "erased", "erased_at"}
    for rid in report.record_ids:
        props = (await store.read("MATCH (a:Account {id: $id}) RETURN properties(a) AS p", id=rid))[0]["p"]
        assert set(props) <= {"id", "network", "erased", "erased_at"}, props
        assert await person_of(store, rid) is None
    post = await store.read("MATCH (p:Post {id: 'post:1'}) RETURN p.text AS t")
    assert post == [{"t": None}]
    dump = str(await store.read("MATCH (n) RETURN properties(n) AS p"))
    for secret in ("Jane", "janedoe.dev", "private thoughts", "Example Corp"):
        assert secret not in dump
    # index and caches
    assert JANE_BSKY.record_id not in search and len(search.index) == 1
    assert [hit for hit, _ in search.index.search(jane_vector, 5)[0]] == [RAVI.record_id]
    assert JANE_BSKY.record_id not in service.records
    assert len(encoder) < cached
    for text in [*texts, "my private thoughts about Example Corp"]:
        assert encoder.forget([text]) == 0  # already gone
    # audit without personal data, and a replayed profile is not resolved again
    erase_events = [e for e in sink(service).events if e.action is AuditAction.ERASE]
    assert len(erase_events) == 1 and "Jane" not in erase_events[0].to_bytes().decode()
    assert (await service.resolve(JANE_BSKY, "late")).person_id is None
    with pytest.raises(IdentityError):
        await service.person_accounts("person:unknown")


async def test_a_former_owners_resolver_drops_records_erased_while_another_worker_owned_it(
    graph_store: GraphStore, encoder: Encoder
) -> None:
    """Erasures made while another worker owns the resolver reach only that owner (identity.commands).
    A former owner keeps its resolver for a take-back: its erasure follower drops the erased records
    from it (profile, index vector, cached embedding), but not while its agent is applying commands."""
    svc = await new_service(graph_store, encoder, Clock())
    await svc.resolve(JANE_BSKY, "e1")
    await svc.resolve(RAVI, "e2")
    search = svc._search
    assert isinstance(search, CandidateSearch)
    jane_text = profile_text(svc.records[JANE_BSKY.record_id])

    async def this_service() -> IdentityService:
        return svc

    state = ResolverState(this_service, service=svc, needs_warm=False)
    state.busy = True  # applying commands: the erase command reaches it, the index is in use
    assert state.forget_erased([JANE_BSKY.record_id]) == 0 and JANE_BSKY.record_id in svc.records
    state.busy = False
    assert state.forget_erased([JANE_BSKY.record_id, "x:never-seen"]) == 1
    assert JANE_BSKY.record_id not in svc.records and JANE_BSKY.record_id not in search
    assert RAVI.record_id in svc.records and RAVI.record_id in search
    assert encoder.forget([jane_text]) == 0  # its cached embedding already gone
    assert ResolverState(this_service).forget_erased([RAVI.record_id]) == 0  # no resolver here yet


async def test_platform_delete_erases_one_account(service: IdentityService) -> None:
    store = service.store
    pid = (await service.resolve(JANE_BSKY, "e1")).person_id
    await service.resolve(JANE_MASTO, "e2")
    await erase_record(service, JANE_MASTO.record_id, reason="account deleted on mastodon", actor="platform")
    assert await person_of(store, JANE_BSKY.record_id) == pid
    props = (
        await store.read("MATCH (a:Account {id: $id}) RETURN properties(a) AS p", id=JANE_MASTO.record_id)
    )[0]["p"]
    assert props.get("erased") is True and "display_name" not in props and "profile_json" not in props
    # the person lives on with the remaining account; an erased account can be neither linked nor resolved
    with pytest.raises(IdentityError) as err:
        await service.link(JANE_MASTO.record_id, JANE_BSKY.record_id, "x")
    assert err.value.status == 409


async def test_cli_import_hands_new_customers_to_the_resolver(
    graph_store: GraphStore,
    graph_backend: graph_fixtures.GraphUnderTest,
    embedded_broker: Any,
    tmp_path: Path,
) -> None:
    """Without --resolve-here the CLI writes the customers and queues them for the one resolver."""
    settings = graph_backend.settings.model_copy(update={"data_dir": tmp_path})
    write_address(settings.broker_address_file, embedded_broker.bootstrap)
    prefix = f"cli{uuid.uuid4().hex[:8]}."
    data = (CRM / "hubspot_api.json").read_bytes()
    code, report = await run_import(settings, "hubspot_api.json", data, False, prefix)
    assert code == 1 and report["written"] == {"created": 2, "updated": 0, "unchanged": 0}
    assert report["queued"] == 2 and [e["row"] for e in report["errors"]] == [3, 4]
    msgs = read_messages(embedded_broker.bootstrap, prefix + TOPIC_IDENTITY_COMMANDS, expected=2)
    commands = [Command.from_bytes(m.value() or b"") for m in msgs]
    assert sorted(c.record.record_id for c in commands if c.record) == ["crm:201", "crm:202"]
    assert {m.key() for m in msgs} == {RESOLVER_KEY}
    code, again = await run_import(settings, "hubspot_api.json", data, False, prefix)
    assert again["written"] == {"created": 0, "updated": 0, "unchanged": 2}
    assert again["queued"] == 2  # not linked yet (no resolver ran): queued again, harmless (idempotent)
    code, bad = await run_import(settings, "x.json", b"[{", False, prefix)
    assert code == 2 and "not JSON" in str(bad["error"])


async def test_decisions_in_one_transaction_see_each_other(service: IdentityService) -> None:
    """resolve_many: Jane's second account, decided in the same transaction as her first, joins it."""
    store = service.store
    done = await service.resolve_many([(JANE_BSKY, "e1"), (RAVI, "e2"), (JANE_MASTO, "e3"), (TOM, "e4")])
    assert [r.record_id for r in done] == [r.record_id for r in (JANE_BSKY, RAVI, JANE_MASTO, TOM)]
    assert done[2].person_id == done[0].person_id == await person_of(store, JANE_MASTO.record_id)
    assert len({done[0].person_id, done[1].person_id, done[3].person_id}) == 3
    assert await live_persons(store) == 3
    assert [e.action for e in sink(service).events].count(AuditAction.LINK) == 4
    before, n_events = await store.counts(), len(sink(service).events)
    again = await service.resolve_many([(JANE_MASTO, "r1"), (TOM, "r2")])
    assert not any(r.changed for r in again)
    assert await store.counts() == before and len(sink(service).events) == n_events


async def test_a_failed_group_is_applied_one_command_at_a_time(service: IdentityService) -> None:
    """A group whose transaction fails is retried command by command: nothing lost, nothing twice."""
    from groundswell.metrics import Metrics
    from streams.identity_agent import apply_commands

    real = service.resolve_many
    groups: list[int] = []

    async def fails_on_groups(items: Any) -> Any:
        groups.append(len(items))
        if len(items) > 1:
            raise RuntimeError("a statement of the group failed")
        return await real(items)

    service.resolve_many = fails_on_groups  # type: ignore[method-assign]
    dead: list[Command] = []

    async def dead_letter(cmd: Command, _e: Exception) -> None:
        dead.append(cmd)

    cmds = [Command("resolve", f"e{i}", record=r) for i, r in enumerate((JANE_BSKY, RAVI, JANE_MASTO))]
    cmds.append(Command("erase_record", "e9", record_id=RAVI.record_id, reason="account deleted"))
    applied = await apply_commands(service, cmds, Metrics.create(), dead_letter, group=8, retry_s=0.0)
    assert applied == 4 and not dead
    assert groups == [3, 1, 1, 1]  # the group, then each of its commands alone
    assert await person_of(service.store, JANE_MASTO.record_id) == await person_of(
        service.store, JANE_BSKY.record_id
    )
    assert await person_of(service.store, RAVI.record_id) is None  # the erasure came after, in order


async def test_the_next_wave_is_embedded_while_this_one_is_decided(service: IdentityService) -> None:
    """apply_commands embeds wave k+1's profiles (streams.identity_agent.waves) while wave k's groups
    are decided and written: the look-ahead starts before the wave's first transaction, and each
    profile is embedded once (the decisions find the look-ahead's vectors in the cache)."""
    from dataclasses import replace

    from groundswell.metrics import Metrics
    from streams.identity_agent import PREFETCH_WAVE, apply_commands

    log: list[tuple[str, int]] = []
    real_prefetch, real_resolve = service.prefetch, service.resolve_many

    async def prefetch(records: Any) -> None:
        log.append(("embed", len(records)))
        await real_prefetch(records)

    async def resolve_many(items: Any) -> Any:
        log.append(("decide", len(items)))
        return await real_resolve(items)

    service.prefetch = prefetch  # type: ignore[method-assign]
    service.resolve_many = resolve_many  # type: ignore[method-assign]
    records = [
        replace(
            JANE_BSKY, record_id=f"bluesky:did:plc:wave{i}", handle=f"wave{i}.bsky.social", bio=f"Wave {i}"
        )
        for i in range(PREFETCH_WAVE * 2 + 4)
    ]
    encoder = service.encoder
    assert encoder is not None
    before = encoder.computed
    cmds = [Command("resolve", f"e{i}", record=r) for i, r in enumerate(records)]

    async def dead_letter(cmd: Command, e: Exception) -> None:
        raise AssertionError(f"{cmd.cause}: {e!r}")

    assert await apply_commands(service, cmds, Metrics.create(), dead_letter, group=8) == len(cmds)
    waves = [PREFETCH_WAVE, PREFETCH_WAVE, 4]
    assert log == [
        ("embed", waves[0]),
        ("embed", waves[1]),  # wave 2 embeds before wave 1's first transaction ...
        ("decide", 8),
        ("decide", 8),
        ("embed", waves[2]),
        ("decide", 8),
        ("decide", 8),
        ("decide", 4),
    ]
    assert encoder.computed - before == len(records)  # ... and nothing is embedded twice
    assert all([await person_of(service.store, r.record_id) for r in records])


async def test_an_outage_is_waited_out_and_a_failing_command_is_dead_lettered(
    service: IdentityService,
) -> None:
    """The store unreachable: the same group again, no attempt spent. A command that keeps failing
    (an erasure of no such person): three attempts, then a dead letter; the next one still runs."""
    from neo4j.exceptions import ServiceUnavailable

    from groundswell.metrics import Metrics
    from streams.identity_agent import apply_commands

    real = service.resolve_many
    calls: list[int] = []

    async def down_once(items: Any) -> Any:
        calls.append(len(items))
        if len(calls) == 1:
            raise ServiceUnavailable("store restarting")
        return await real(items)

    service.resolve_many = down_once  # type: ignore[method-assign]
    dead: list[tuple[Command, Exception]] = []

    async def dead_letter(cmd: Command, e: Exception) -> None:
        dead.append((cmd, e))

    cmds = [
        Command("resolve", "e1", record=JANE_BSKY),
        Command("resolve", "e2", record=JANE_MASTO),
        Command("erase_person", "e3", person_id="p:nobody", reason="request"),
        Command("resolve", "e4", record=RAVI),
    ]
    metrics = Metrics.create()
    applied = await apply_commands(service, cmds, metrics, dead_letter, group=8, retry_s=0.0)
    assert applied == 3 and calls == [2, 2, 1]  # the group twice (outage), then Ravi alone
    assert [c.cause for c, _ in dead] == ["e3"] and isinstance(dead[0][1], IdentityError)
    assert metrics.graph_write_failures.labels("identity")._value.get() == 3
    assert await person_of(service.store, JANE_MASTO.record_id) == await person_of(
        service.store, JANE_BSKY.record_id
    )
    assert await person_of(service.store, RAVI.record_id) is not None


async def test_one_transaction_for_a_batch_decides_as_one_transaction_each(
    graph_store: GraphStore, encoder: Encoder
) -> None:
    """resolve_many writes a batch with a few statements for all of it (identity.plan_writes
    .resolve_in_order) and re-reads a record whose neighbourhood the batch wrote to. Over synthetic
    people (two-account people with both accounts in the batch, namesakes, a record given twice with
    a changed bio, merges of two persons, review items) it reaches exactly the persons, person ids,
    links, review items and audit trail of one transaction each, on the same clock."""
    from dataclasses import replace

    from benchmarks.identity_resolve import people
    from tests.fixtures.graph import wipe

    records, _ = people(60, seed=5)  # this seed's namesakes give merges and reviews
    records.insert(20, replace(records[2], bio="Moved on: now sailing full time."))
    outcomes = []
    for grouped in (False, True):
        await wipe(graph_store)
        svc = await new_service(graph_store, encoder, lambda: 1_700_000_000.0)
        items = [(r, f"e{i}") for i, r in enumerate(records)]
        if grouped:
            await svc.resolve_many(items)
        else:
            for record, cause in items:
                await svc.resolve(record, cause)
        links = await graph_store.read(
            "MATCH (a:Account)-[e:ACCOUNT_OF]->(p:Person) RETURN a.id AS a, p.id AS p, e.decided_by AS by"
        )
        persons = await graph_store.read("MATCH (p:Person) RETURN p.id AS id, p.merged_into AS merged_into")
        persons.sort(key=lambda row: row["id"])
        reviews = await graph_store.read("MATCH (r:ReviewItem) RETURN r.id AS id")
        reviews.sort(key=lambda row: row["id"])
        trail = [(e.action, e.person_id, e.record_ids, e.other_person_id) for e in sink(svc).events]
        outcomes.append((sorted((r["a"], r["p"], r["by"]) for r in links), persons, reviews, trail))
    one_each, one_for_all = outcomes
    assert one_for_all[0] == one_each[0]  # every record in the same person, decided the same way
    assert one_for_all[1] == one_each[1]  # the same person ids, merged into the same persons
    assert one_for_all[2:] == one_each[2:]
    accounts_per_person = Counter(p for _, p, _ in one_each[0])
    assert sum(1 for n in accounts_per_person.values() if n >= 2) >= 40  # links within the batch
    actions = Counter(action for action, *_ in one_each[3])
    assert actions[AuditAction.MERGE] >= 1 and actions[AuditAction.REVIEW] >= 1, actions


async def test_later_and_replayed_events_leave_an_erased_account_erased(service: IdentityService) -> None:
    """The graph write path keeps an erased account's tombstone: the stream brings back neither its
    profile fields nor the texts of its posts, old (a replay) or new; the interactions are kept."""
    store = service.store
    gone = AccountRef(
        "bluesky:did:plc:gone1", Network.BLUESKY, handle="gone.bsky.social", display_name="Gone Person"
    )
    other = AccountRef("bluesky:did:plc:other1", Network.BLUESKY, handle="other.bsky.social")

    def post(eid: str, actor: AccountRef, pid: str, text: str, **kw: Any) -> Activity:
        return Activity(
            eid, ActivityKind.POST, Network.BLUESKY, actor, 1.0, 2.0, "test", post_id=pid, text=text, **kw
        )

    profile = Activity(
        "ev-gone-profile",
        ActivityKind.PROFILE,
        Network.BLUESKY,
        gone,
        1.0,
        2.0,
        "test",
        profile=Profile(display_name="Gone Person", bio="Lives in Oslo", followers=10),
    )
    before = [profile, post("ev-gone-1", gone, "at://gone/1", "my secret opinion")]
    await store.apply(before)
    report = await erase_record(service, gone.id, reason="account deleted on bluesky", actor="platform")
    assert report.record_ids == (gone.id,)

    later = [
        post("ev-gone-2", gone, "at://gone/2", "another secret opinion", mentions=(other,)),
        post("ev-other-1", other, "at://other/1", "hi @gone.bsky.social", mentions=(gone,)),
    ]
    result = await store.apply(before + later)  # a replay of what came before, and new events
    assert result.applied_events == 2 and result.skipped_duplicates == 2

    props = (await store.read("MATCH (a:Account {id: $id}) RETURN properties(a) AS p", id=gone.id))[0]["p"]
    assert set(props) <= {"id", "network", "erased", "erased_at"}, props
    posts = await store.read(
        "MATCH (a:Account {id: $id})-[:AUTHORED]->(p:Post) "
        "RETURN p.id AS id, p.text AS text, p.erased AS erased ORDER BY id",
        id=gone.id,
    )
    assert posts == [
        {"id": "at://gone/1", "text": None, "erased": True},
        {"id": "at://gone/2", "text": None, "erased": True},
    ]
    dump = str(await store.read("MATCH (n) RETURN properties(n) AS p"))
    for secret in ("secret opinion", "Oslo", "Gone Person"):
        assert secret not in dump, dump
    assert "hi @gone.bsky.social" in dump  # another person's post is theirs, mention and all
    # the interactions stay, as erasure keeps them
    mentions = await store.read(
        "MATCH (s:Account)-[r:MENTIONED]->(t:Account) WHERE s.id IN $ids "
        "RETURN s.id AS s, t.id AS t ORDER BY s",
        ids=[gone.id, other.id],
    )
    assert mentions == [{"s": gone.id, "t": other.id}, {"s": other.id, "t": gone.id}]
    # the priority stage reads who is erased with the authors (and withholds their mentions)
    authors = await authors_of(store, [gone.id, other.id, "bluesky:did:plc:nobody"])
    assert {a: s.erased for a, s in authors.items()} == {gone.id: True, other.id: False}
