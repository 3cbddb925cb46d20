"""CRM customers linked to their social accounts, on the simulated population with its namesakes.

``python -m benchmarks.identity_crm_links [--people 2000] [--seed 7]``

The demo's data (``groundswell up --simulate``): the simulator's people (made up; names drawn from
72 first and 58 last names, so namesakes are common) and the simulated company's CRM export of
~15 % of them (``sources._crm``). On a fresh embedded ArcadeDB, with the product's
``IdentityService`` (the model, the vector index and blocking keys, the trained matcher):

1. the CRM export is imported and its customers resolved, as ``import-customers --resolve-here``;
2. every simulated account's profile (display name, handle, bio, website; location only on X,
   the one network whose API carries it) is resolved, in a shuffled order, in batches of 64
   decided in one graph transaction each (``resolve_many``, the stream's quiet-mode path).

Then every customer-to-account link (a CRM record and a social account in one person) is checked
against the simulator's ground truth (``Simulator.crm_contacts``: the person each row is):
precision of those links, recall over the true (customer, account) pairs, and how many wrong links
join people with the same name.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from typing import Any

from benchmarks._machine import describe
from benchmarks._scratch_store import scratch_store
from embedding.encoder import load_model
from graph.store import GraphStore
from groundswell.metrics import Metrics
from groundswell.settings import Settings
from identity.crm_import import parse_file
from identity.records import ProfileRecord
from sources.simulate import Simulator
from streams.identity_agent import default_service

BATCH = 64


def social_records(sim: Simulator) -> dict[str, tuple[ProfileRecord, int]]:
    """account id -> (its profile record, the person it is)."""
    out: dict[str, tuple[ProfileRecord, int]] = {}
    for p in sim.people:
        for acc in p.accounts.values():
            out[acc.account_id] = (
                ProfileRecord(
                    record_id=acc.account_id,
                    source=acc.network,
                    display_name=acc.display_name,
                    handle=acc.handle,
                    websites=(acc.website,) if acc.website else (),
                    bio=acc.bio,
                    location=acc.location if acc.network == "x" else None,
                ),
                p.index,
            )
    return out


async def person_ids(store: GraphStore) -> dict[str, str]:
    rows = await store.read("MATCH (a:Account)-[:ACCOUNT_OF]->(p:Person) RETURN a.id AS a, p.id AS p")
    return {r["a"]: r["p"] for r in rows}


async def review_pairs(store: GraphStore) -> list[tuple[str, str]]:
    """The pairs the matcher sent to human review (neither merged nor kept apart)."""
    rows = await store.read("MATCH (r:ReviewItem) RETURN r.a AS a, r.b AS b")
    return [(r["a"], r["b"]) for r in rows]


async def run(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    sim = Simulator(seed=args.seed, n_people=args.people)
    contacts = sim.crm_contacts()
    accounts = social_records(sim)
    load_model()
    service = await default_service(settings, Metrics.create())
    await service.warm()
    started = time.monotonic()
    report = await service.import_customers(parse_file("crm.csv", sim.crm_export()), cause="bench")
    print(f"customers: {len(contacts)} imported, {report.resolved} resolved", flush=True)
    order = list(accounts.values())
    random.Random(args.seed).shuffle(order)
    last_line = 0.0
    for at in range(0, len(order), BATCH):
        await service.resolve_many([(rec, "bench") for rec, _ in order[at : at + BATCH]])
        if time.monotonic() - last_line >= 1.0 or at + BATCH >= len(order):
            print(f"accounts: {min(at + BATCH, len(order)):,}/{len(order):,}", flush=True)
            last_line = time.monotonic()
    elapsed = time.monotonic() - started
    person_of = await person_ids(service.store)
    reviews = await review_pairs(service.store)
    await service.store.close()
    return {
        "sim": sim,
        "contacts": contacts,
        "accounts": accounts,
        "person_of": person_of,
        "reviews": reviews,
        "s": elapsed,
    }


def evaluate(result: dict[str, Any]) -> None:
    sim, person_of = result["sim"], result["person_of"]
    accounts: dict[str, tuple[ProfileRecord, int]] = result["accounts"]
    members: dict[str, list[str]] = {}
    for account_id, pid in person_of.items():
        members.setdefault(pid, []).append(account_id)
    links = right = namesakes = true_pairs = 0
    for c in result["contacts"]:
        crm_id = f"crm:{c.row['Record ID']}"
        true_pairs += len(sim.people[c.person].accounts)
        linked = [a for a in members.get(person_of.get(crm_id, ""), []) if a in accounts]
        for a in linked:
            links += 1
            who = accounts[a][1]
            if who == c.person:
                right += 1
            elif sim.people[who].last == sim.people[c.person].last and sim.people[who].first.startswith(
                c.row["First Name"].rstrip(".")
            ):
                namesakes += 1
    print(f"\nmachine: {describe()}")
    print(
        f"{len(result['contacts'])} CRM customers of {len(sim.people):,} simulated people, "
        f"{len(accounts):,} social accounts, resolved in {result['s']:.0f} s"
    )
    print(f"  customer-account links: {links}, right {right}: precision {right / max(1, links):.3f}")
    recall = right / max(1, true_pairs)  # a right link is a true pair found
    print(f"  true (customer, account) pairs: {true_pairs}, linked {right}: recall {recall:.3f}")
    print(f"  wrong links between namesakes: {namesakes} of {links - right}")
    crm_reviews = sum(1 for a, b in result["reviews"] if a.startswith("crm:") or b.startswith("crm:"))
    print(f"  pairs sent to human review: {len(result['reviews'])}, {crm_reviews} of them with a customer")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, default=2000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--heap", default="2g")
    args = p.parse_args()
    with scratch_store(args.heap, "gs-crm-links-") as settings:
        evaluate(asyncio.run(run(settings, args)))


if __name__ == "__main__":
    main()
