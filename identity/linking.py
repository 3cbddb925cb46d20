"""What one resolution changes, decided purely from the matcher's decisions and the graph's state.

Input: the record being resolved, the matcher's decisions against its candidates, and a
``Neighbourhood`` (read from the graph in the same transaction that will apply the plan): which
live person each record belongs to, each such person's members and age, and the manual rules and
human review outcomes that touch them. Output: a ``LinkPlan``.

Rules, in order:
- a manual must-link to a record of another person merges that person (a human said so);
- every MERGE decision merges the candidate's person into the record's group, unless a manual
  cannot-link joins any member of the group grown so far with any member of that person: a human
  said no, so the matcher does not get to say yes (the decision is reported as blocked);
- the survivor of a merge is the OLDEST person (created_at, then id): person ids stay stable, the
  younger ones become aliases of it;
- no person at all: a new one (the caller supplies its deterministic id);
- REVIEW decisions whose pair is not already together, not ruled on by a human and not
  cannot-linked become review items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from identity.records import MatchDecision, MatchOutcome


def pair(a: str, b: str) -> frozenset[str]:
    return frozenset((a, b))


@dataclass(frozen=True, slots=True)
class PersonState:
    id: str
    created_at: float
    members: frozenset[str]


@dataclass(frozen=True, slots=True)
class Neighbourhood:
    record_id: str
    person_of: Mapping[str, str] = field(default_factory=dict)  # record id -> live person id
    persons: Mapping[str, PersonState] = field(default_factory=dict)
    cannot_link: frozenset[frozenset[str]] = frozenset()  # record-id pairs
    must_link: frozenset[frozenset[str]] = frozenset()
    reviewed: frozenset[frozenset[str]] = frozenset()  # pairs a human accepted or rejected

    def members(self, person_id: str | None) -> frozenset[str]:
        state = self.persons.get(person_id) if person_id else None
        return state.members if state is not None else frozenset()

    def blocked_between(self, xs: frozenset[str], ys: frozenset[str]) -> tuple[str, str] | None:
        for rule in self.cannot_link:
            if len(rule) != 2:
                continue
            a, b = sorted(rule)
            if (a in xs and b in ys) or (b in xs and a in ys):
                return a, b
        return None


@dataclass(frozen=True, slots=True)
class LinkPlan:
    record_id: str
    survivor: str  # the person the record belongs to after the plan
    create_person: bool  # survivor is the new person (its id came from the caller)
    attach: bool  # the record's ACCOUNT_OF must (re)point at the survivor
    merges: tuple[str, ...]  # persons that become aliases of the survivor
    best: MatchDecision | None  # the decision that put the record where it is (None: new or unchanged)
    reviews: tuple[MatchDecision, ...] = ()
    blocked: tuple[tuple[MatchDecision, str], ...] = ()  # (decision, why it did not merge)
    forced: tuple[str, ...] = ()  # persons merged by a manual must-link

    @property
    def changes_membership(self) -> bool:
        return self.create_person or self.attach or bool(self.merges)


def plan_resolution(hood: Neighbourhood, decisions: Sequence[MatchDecision], new_person_id: str) -> LinkPlan:
    rid = hood.record_id
    current = hood.person_of.get(rid)
    group = set(hood.members(current)) | {rid}
    targets: list[str] = []
    forced: list[str] = []
    blocked: list[tuple[MatchDecision, str]] = []
    best: MatchDecision | None = None

    def absorb(person: str) -> None:
        group.update(hood.members(person))
        targets.append(person)

    for rule in sorted(hood.must_link, key=sorted):
        if rid not in rule or len(rule) != 2:
            continue
        (other,) = rule - {rid}
        person = hood.person_of.get(other)
        if person is not None and person != current and person not in targets:
            absorb(person)
            forced.append(person)

    merges = sorted(
        (d for d in decisions if d.outcome is MatchOutcome.MERGE and d.other_id != rid),
        key=lambda d: (-d.probability, d.other_id),
    )
    for d in merges:
        person = hood.person_of.get(d.other_id)
        if person is None:
            blocked.append((d, "the candidate belongs to no person yet"))
            continue
        if person == current or person in targets:
            if best is None and person != current:
                best = d
            continue
        hit = hood.blocked_between(frozenset(group), hood.members(person) | {d.other_id})
        if hit is not None:
            blocked.append((d, f"manual cannot-link between {hit[0]} and {hit[1]}"))
            continue
        absorb(person)
        if best is None:
            best = d

    involved = [p for p in (current, *targets) if p is not None]
    if involved:
        survivor = min(involved, key=lambda p: (hood.persons[p].created_at if p in hood.persons else 0.0, p))
        create = False
    else:
        survivor, create = new_person_id, True
    losers = tuple(p for p in dict.fromkeys(involved) if p != survivor)
    attach = current is None  # a record with a person moves with it when that person merges
    final_group = group
    reviews: list[MatchDecision] = []
    seen: set[str] = set()
    for d in sorted(decisions, key=lambda d: (-d.probability, d.other_id)):
        if d.outcome is not MatchOutcome.REVIEW or d.other_id == rid or d.other_id in seen:
            continue
        seen.add(d.other_id)
        key = pair(rid, d.other_id)
        if d.other_id in final_group or key in hood.reviewed or key in hood.cannot_link:
            continue
        if hood.person_of.get(d.other_id) is None:
            continue
        reviews.append(d)
    return LinkPlan(
        record_id=rid,
        survivor=survivor,
        create_person=create,
        attach=attach,
        merges=losers,
        best=best,
        reviews=tuple(reviews),
        blocked=tuple(blocked),
        forced=tuple(forced),
    )
