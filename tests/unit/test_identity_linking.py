"""The pure resolution planner: merges keep the oldest id, manual rules win, reviews are not repeated."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from identity.audit import AuditAction, AuditEvent
from identity.linking import Neighbourhood, PersonState, pair, plan_resolution
from identity.records import Evidence, MatchDecision, MatchOutcome

M, R, N = MatchOutcome.MERGE, MatchOutcome.REVIEW, MatchOutcome.NO_MATCH


def d(other: str, outcome: MatchOutcome, p: float = 0.95, rid: str = "new") -> MatchDecision:
    return MatchDecision(rid, other, p, outcome, (Evidence("name", 1.0, 2.0, "same name"),))


def hood(persons: dict[str, tuple[float, set[str]]], **kw: frozenset[frozenset[str]]) -> Neighbourhood:
    person_of = {m: p for p, (_, ms) in persons.items() for m in ms}
    states = {p: PersonState(p, c, frozenset(ms)) for p, (c, ms) in persons.items()}
    return Neighbourhood("new", person_of, states, **kw)


def test_no_match_creates_the_given_person() -> None:
    plan = plan_resolution(hood({"p1": (1.0, {"a"})}), [d("a", N, 0.1)], "person:new")
    assert (plan.survivor, plan.create_person, plan.attach, plan.merges) == ("person:new", True, True, ())


def test_merge_attaches_to_the_match_and_bridging_merges_keep_the_oldest() -> None:
    h = hood({"young": (20.0, {"a"}), "old": (10.0, {"b"})})
    plan = plan_resolution(h, [d("a", M, 0.97), d("b", M, 0.95)], "person:new")
    assert plan.survivor == "old" and plan.merges == ("young",) and plan.attach and not plan.create_person
    assert plan.best is not None and plan.best.other_id == "a"


def test_record_with_a_person_merges_the_younger_into_the_older() -> None:
    h = hood({"mine": (5.0, {"new"}), "theirs": (50.0, {"a"})})
    plan = plan_resolution(h, [d("a", M)], "")
    assert (plan.survivor, plan.merges, plan.attach) == ("mine", ("theirs",), False)


def test_cannot_link_blocks_an_automatic_merge_even_through_another_member() -> None:
    h = hood({"p1": (1.0, {"a", "a2"}), "p2": (2.0, {"b"})}, cannot_link=frozenset({pair("a2", "b")}))
    plan = plan_resolution(h, [d("a", M, 0.99), d("b", M, 0.98)], "person:new")
    assert plan.survivor == "p1" and plan.merges == ()
    assert [x.other_id for x, _ in plan.blocked] == ["b"] and "a2" in plan.blocked[0][1]


def test_must_link_forces_a_merge_without_a_match() -> None:
    h = hood({"p1": (1.0, {"a"}), "mine": (9.0, {"new"})}, must_link=frozenset({pair("new", "a")}))
    plan = plan_resolution(h, [d("a", N, 0.01)], "")
    assert plan.survivor == "p1" and plan.merges == ("mine",) and plan.forced == ("p1",)


def test_reviews_skip_decided_pairs_and_members_of_the_group() -> None:
    h = hood(
        {"p1": (1.0, {"a"}), "p2": (2.0, {"b"}), "p3": (3.0, {"c"})},
        reviewed=frozenset({pair("new", "c")}),
    )
    plan = plan_resolution(h, [d("a", M), d("b", R, 0.7), d("c", R, 0.6), d("a", R, 0.6)], "x")
    assert [r.other_id for r in plan.reviews] == ["b"]


@given(
    st.lists(
        st.tuples(st.sampled_from("abcdef"), st.sampled_from([M, R, N]), st.floats(0, 1)),
        max_size=8,
    ),
    st.lists(st.tuples(st.sampled_from("abcdef"), st.sampled_from("abcdef")), max_size=4),
)
def test_plan_invariants(
    decisions: list[tuple[str, MatchOutcome, float]], cannot: list[tuple[str, str]]
) -> None:
    persons = {"p1": (3.0, {"a", "b"}), "p2": (1.0, {"c"}), "p3": (2.0, {"d", "e"})}
    rules = frozenset(pair(x, y) for x, y in cannot if x != y)
    h = hood(persons, cannot_link=rules)
    plan = plan_resolution(h, [d(o, out, p) for o, out, p in decisions], "person:new")
    # the survivor is the oldest of the persons involved
    involved = [plan.survivor, *plan.merges]
    if not plan.create_person:
        assert plan.survivor == min(involved, key=lambda p: persons[p][0])
    # no cannot-link pair that was apart is joined by the plan
    group = {"new"} | {m for p in involved if p in persons for m in persons[p][1]}
    apart = [r for r in rules if not any(r <= ms for _, ms in persons.values())]
    assert not any(rule <= group for rule in apart)
    # review items never name a record that ends in the same person
    assert all(r.other_id not in group for r in plan.reviews)


RECORDS = ("new", "a", "b", "c", "d", "e", "f")


@given(
    st.lists(st.sampled_from(["p1", "p2", "p3", None]), min_size=7, max_size=7),
    st.lists(st.floats(0, 10), min_size=3, max_size=3),
    st.lists(st.tuples(st.sampled_from([M, R, N]), st.floats(0, 1)), min_size=6, max_size=6),
    st.lists(st.tuples(st.sampled_from(RECORDS), st.sampled_from(RECORDS)), max_size=3),
    st.lists(st.tuples(st.sampled_from(RECORDS), st.sampled_from(RECORDS)), max_size=3),
    st.lists(st.sampled_from(["q1", "q2", None]), min_size=7, max_size=7),
)
def test_a_plan_depends_only_on_what_reads_of_names(
    layout: list[str | None],
    ages: list[float],
    outcomes: list[tuple[MatchOutcome, float]],
    must: list[tuple[str, str]],
    cannot: list[tuple[str, str]],
    moved: list[str | None],
) -> None:
    """identity.plan_writes.reads_of: what a batch re-reads before deciding a record when an earlier
    plan of the batch wrote to it. Records outside it moved to other persons (older than any), and
    persons outside it aged, change nothing in the plan."""
    from identity.plan_writes import reads_of

    decisions = [d(o, out, p) for o, (out, p) in zip(RECORDS[1:], outcomes, strict=True)]

    def neighbourhood(where: dict[str, str | None], age: dict[str, float]) -> Neighbourhood:
        members: dict[str, set[str]] = {}
        for r, p in where.items():
            if p is not None:
                members.setdefault(p, set()).add(r)
        states = {p: PersonState(p, age[p], frozenset(ms)) for p, ms in members.items()}
        rules = {
            k: frozenset(pair(x, y) for x, y in v if x != y) for k, v in (("must", must), ("cannot", cannot))
        }
        person_of = {r: p for r, p in where.items() if p is not None}
        return Neighbourhood("new", person_of, states, rules["cannot"], rules["must"])

    where = dict(zip(RECORDS, layout, strict=True))
    age = {"p1": ages[0], "p2": ages[1], "p3": ages[2], "q1": -2.0, "q2": -1.0}
    before = neighbourhood(where, age)
    read = reads_of(before, decisions, needs_person_id=True)
    elsewhere = {r: (q if r not in read else where[r]) for r, q in zip(RECORDS, moved, strict=True)}
    older = {p: (a - 100.0 if p not in read else a) for p, a in age.items()}
    after = neighbourhood(elsewhere, older)
    assert plan_resolution(after, decisions, "person:new") == plan_resolution(before, decisions, "person:new")


def test_audit_event_roundtrip_and_stable_id() -> None:
    e = AuditEvent(
        AuditAction.MERGE,
        1.0,
        "auto",
        person_id="p1",
        record_ids=("a",),
        other_person_id="p2",
        probability=0.9,
        evidence=(Evidence("name", 1.0, 2.0, "x"),),
        cause="ev1",
    )
    again = AuditEvent.from_dict(e.to_dict())
    assert again == e and again.id == e.id
    assert (
        AuditEvent(
            AuditAction.MERGE,
            2.0,
            "auto",
            person_id="p1",
            record_ids=("a",),
            other_person_id="p2",
            cause="ev1",
        ).id
        == e.id
    )
