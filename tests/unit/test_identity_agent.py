"""The identity intake (pure): only new accounts and changed profiles reach the resolver; account
deletion and deactivation become erase commands; commands survive the topic round trip."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from activity.schema import AccountRef, Activity, ActivityKind, Network, Profile
from groundswell.metrics import Metrics
from groundswell.settings import Settings
from streams.app import InputClock
from streams.identity_agent import PREFETCH_WAVE, ResolverState, waves
from streams.identity_commands import (
    ERASED,
    Command,
    IdentityIntake,
    ResolverMode,
    intake,
    record_from_activity,
    resolver_mode,
)
from streams.retention import StampedTable, unstamped

ACTOR = AccountRef("bluesky:did:plc:abc", Network.BLUESKY, handle="abc.bsky.social", display_name="Abe C")


def act(kind: ActivityKind, eid: str, **kw: object) -> Activity:
    return Activity(eid, kind, Network.BLUESKY, ACTOR, 1.0, 2.0, "test", **kw)  # type: ignore[arg-type]


def test_new_changed_and_unchanged() -> None:
    cmd, stored = intake(act(ActivityKind.POST, "e1", post_id="p1", text="hello"), None)
    assert cmd is not None and cmd.op == "resolve" and cmd.record is not None
    assert cmd.record.recent_posts == ("hello",) and cmd.record.handle == "abc.bsky.social"
    assert stored is not None
    # another post, a like: nothing new about who this is
    assert intake(act(ActivityKind.POST, "e2", post_id="p2", text="again"), stored) == (None, None)
    assert intake(act(ActivityKind.LIKE, "e3", target_post_id="x"), stored) == (None, None)
    # a profile with a bio and a link is new information; the same profile again is not
    profile = Profile(display_name="Abe C", bio="I build boats", url="https://abe.example")
    cmd, stored2 = intake(act(ActivityKind.PROFILE, "e4", profile=profile), stored)
    assert cmd is not None and cmd.record is not None and cmd.record.websites == ("https://abe.example",)
    assert intake(act(ActivityKind.PROFILE, "e5", profile=profile), stored2) == (None, None)
    changed = Profile(display_name="Abe C", bio="I build ships", url="https://abe.example")
    assert intake(act(ActivityKind.PROFILE, "e6", profile=changed), stored2)[0] is not None
    # hashes only in the changelogged table, never the values
    assert "I build boats" not in str(stored2) and "abe.example" not in str(stored2)


@pytest.mark.parametrize(
    "activity",
    [act(ActivityKind.DELETE, "d1"), act(ActivityKind.PROFILE, "d2", profile=Profile(active=False))],
)
def test_deletion_and_deactivation_erase(activity: Activity) -> None:
    cmd, stored = intake(activity, {"handle": "x"})
    assert cmd is not None and cmd.op == "erase_record" and cmd.record_id == ACTOR.id and stored == ERASED
    # later activity of an erased account is not resolved again
    assert intake(act(ActivityKind.POST, "e9", post_id="p9", text="back"), ERASED) == (None, None)


def test_deleting_a_post_is_not_an_account_erasure() -> None:
    _, stored = intake(act(ActivityKind.POST, "e1", post_id="p1", text="hello"), None)
    assert intake(act(ActivityKind.DELETE, "d3", post_id="p1"), stored) == (None, None)


def test_command_roundtrip_and_bad_commands() -> None:
    cmd = Command("resolve", "e1", record=record_from_activity(act(ActivityKind.POST, "e1", text="hi")))
    assert Command.from_bytes(cmd.to_bytes()) == cmd
    erase = Command("erase_person", "req1", person_id="person:1", reason="rtbf", actor="user:dpo")
    assert Command.from_bytes(erase.to_bytes()) == erase
    with pytest.raises(ValueError, match="unknown identity command"):
        Command.from_bytes(b'{"op": "drop_all"}')
    with pytest.raises(ValueError, match="without a record"):
        Command.from_bytes(b'{"op": "resolve"}')


async def test_pace_spaces_decisions_evenly_and_saves_no_credit(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from streams.identity_commands import Pace

    now = [100.0]
    slept: list[float] = []

    async def fake_sleep(s: float) -> None:
        slept.append(round(s, 6))
        now[0] += s

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    pace = Pace(10.0, clock=lambda: now[0])
    for _ in range(4):
        await pace.wait()
    assert slept == [0.1, 0.1, 0.1]  # the first goes at once, then one every 0.1 s
    now[0] += 60.0  # idle for a minute: no burst of 600 allowed afterwards
    slept.clear()
    for _ in range(3):
        await pace.wait()
    assert slept == [0.1, 0.1]
    slept.clear()
    await pace.wait(5)  # a group standing for five decisions goes on its turn ...
    await pace.wait()  # ... and the next waits for all five
    assert slept == [0.1, 0.5]
    unlimited = Pace(0.0, clock=lambda: now[0])
    slept.clear()
    for _ in range(5):
        await unlimited.wait()
    assert slept == []


@given(n=st.integers(0, 200), group=st.integers(1, 70))
def test_waves_keep_order_and_never_split_a_group(n: int, group: int) -> None:
    """The resolver's look-ahead waves: every command once, in order; each wave but the last holds
    at least one encoder batch and a whole number of groups (so a group is one transaction)."""
    commands = [Command("resolve", f"e{i}", record_id=f"r{i}") for i in range(n)]
    planned = waves(commands, group)
    assert [c for wave in planned for c in wave] == commands
    assert all(wave for wave in planned)
    for wave in planned[:-1]:
        assert len(wave) % group == 0 and len(wave) >= PREFETCH_WAVE
        assert len(wave) < PREFETCH_WAVE + group  # no larger than it must be: look-ahead stays short


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_intake_stamps_its_entries_and_keeps_an_active_accounts_entry_fresh() -> None:
    """identity-seen expires like the scoring tables (streams.retention). An entry changes only with
    its profile, so the intake writes one it reads again, unchanged, once it is older than half the
    retention: an account that stays active is never resolved again for its age."""
    seen: dict[str, bytes] = {}
    clock = Clock(1_000.0)
    intake_ = IdentityIntake(StampedTable(seen, clock), Metrics.create(), retention_s=100.0)

    assert len(intake_.commands([act(ActivityKind.POST, "e1", post_id="p1", text="hi")])) == 1
    first = seen[ACTOR.id]
    assert unstamped(first)[1] == 1_000.0

    clock.now = 1_049.0  # within half the retention: nothing written
    assert intake_.commands([act(ActivityKind.LIKE, "e2", target_post_id="x")]) == []
    assert seen[ACTOR.id] is first and intake_.refreshed == 0

    clock.now = 1_051.0  # older than half: the same value, stamped now, and still no command
    assert intake_.commands([act(ActivityKind.LIKE, "e3", target_post_id="y")]) == []
    assert unstamped(seen[ACTOR.id]) == (unstamped(first)[0], 1_051.0) and intake_.refreshed == 1

    # a changed profile is sent and stamped as before
    profile = Profile(display_name="Abe C", bio="I build boats")
    assert len(intake_.commands([act(ActivityKind.PROFILE, "e4", profile=profile)])) == 1
    assert unstamped(seen[ACTOR.id])[1] == 1_051.0 and unstamped(seen[ACTOR.id])[0] != unstamped(first)[0]


def test_the_intake_reads_entries_from_before_stamps_and_stamps_them() -> None:
    stored = intake(act(ActivityKind.POST, "e1", post_id="p1", text="hello"), None)[1]
    seen: dict[str, bytes] = {ACTOR.id: orjson.dumps(stored)}  # as written before stamps
    intake_ = IdentityIntake(StampedTable(seen, Clock(5.0)), Metrics.create())
    assert intake_.commands([act(ActivityKind.POST, "e2", post_id="p2", text="again")]) == []
    assert unstamped(seen[ACTOR.id]) == (orjson.dumps(stored), 5.0)


def test_an_expired_entry_sends_the_account_to_the_resolver_again() -> None:
    seen: dict[str, bytes] = {}
    intake_ = IdentityIntake(StampedTable(seen, Clock(0.0)), Metrics.create(), retention_s=100.0)
    assert len(intake_.commands([act(ActivityKind.POST, "e1", post_id="p1", text="hi")])) == 1
    del seen[ACTOR.id]  # what the sweep does after the retention
    cmds = intake_.commands([act(ActivityKind.POST, "e2", post_id="p2", text="back")])
    assert [Command.from_bytes(o.value).op for o in cmds] == ["resolve"]


def test_an_erasure_made_elsewhere_marks_the_accounts_entry_and_stops_its_resolution() -> None:
    """An erasure through the API reaches the intake as an erase event (streams.erasure_follower):
    the hashes of the account's profile fields give way to the erased marker, only for accounts
    whose partition this worker holds, and its next profile is not sent for resolution."""
    seen: dict[str, bytes] = {}
    metrics = Metrics.create()
    intake_ = IdentityIntake(StampedTable(seen, Clock(0.0)), metrics)
    assert len(intake_.commands([act(ActivityKind.POST, "e1", post_id="p1", text="hi")])) == 1
    hashes = seen[ACTOR.id]

    never_seen, elsewhere = "mastodon:https://m.example/users/new", "x:elsewhere"
    erased = [ACTOR.id, never_seen, elsewhere, "crm:contact-7"]
    assert intake_.mark_erased(erased, owned=lambda account: account != elsewhere) == 1
    assert metrics.erased_forgotten.labels("identity_seen")._value.get() == 1
    assert orjson.loads(unstamped(seen[ACTOR.id])[0] or b"") == ERASED and seen[ACTOR.id] != hashes
    assert orjson.loads(unstamped(seen[never_seen])[0] or b"") == ERASED  # its first profile: not sent
    assert elsewhere not in seen and "crm:contact-7" not in seen  # another worker's; not an account

    profile = Profile(display_name="Abe C", bio="I build boats")
    assert intake_.commands([act(ActivityKind.PROFILE, "e2", profile=profile)]) == []
    assert intake_.mark_erased([ACTOR.id], owned=lambda _: True) == 0  # already marked


def test_the_look_at_the_graphs_erased_accounts_marks_only_entries_holding_hashes() -> None:
    """After each sweep the intake reads the graph's erased accounts (``held_only``): an entry that
    still holds field hashes (this worker missed the erase event) takes the marker; an erased
    account it never saw gets no entry, so the table does not grow with every erasure."""
    seen: dict[str, bytes] = {}
    metrics = Metrics.create()
    intake_ = IdentityIntake(StampedTable(seen, Clock(0.0)), metrics)
    assert len(intake_.commands([act(ActivityKind.POST, "e1", post_id="p1", text="hi")])) == 1
    never_seen = "mastodon:https://m.example/users/new"

    assert intake_.mark_erased([ACTOR.id, never_seen], owned=lambda _: True, held_only=True) == 1
    assert orjson.loads(unstamped(seen[ACTOR.id])[0] or b"") == ERASED
    assert never_seen not in seen
    assert metrics.erased_forgotten.labels("identity_seen")._value.get() == 1
    assert intake_.mark_erased([ACTOR.id], owned=lambda _: True, held_only=True) == 0  # marked already
    assert intake_.commands([act(ActivityKind.PROFILE, "e2", profile=Profile(bio="I build boats"))]) == []


def test_an_account_the_graph_holds_as_erased_is_not_sent_for_resolution() -> None:
    """A worker that missed the erase event (started long after it, or the account's partition was
    moving then) learns of the erasure from the graph write: the account's entry takes the erased
    marker, its profile is held back and counted, and an account deleted on its platform still
    gets its erase command."""
    seen: dict[str, bytes] = {}
    metrics = Metrics.create()
    intake_ = IdentityIntake(StampedTable(seen, Clock(0.0)), metrics)
    assert len(intake_.commands([act(ActivityKind.POST, "e1", post_id="p1", text="hi")])) == 1

    profile = Profile(display_name="Abe C", bio="I build boats")
    assert intake_.commands([act(ActivityKind.PROFILE, "e2", profile=profile)], erased={ACTOR.id}) == []
    assert orjson.loads(unstamped(seen[ACTOR.id])[0] or b"") == ERASED
    assert metrics.erased_withheld.labels("profile")._value.get() == 1
    assert metrics.erased_forgotten.labels("identity_seen")._value.get() == 1
    # marked: the next profile is held back by the entry alone, and counted once
    changed = Profile(display_name="Abe C", bio="I build ships")
    assert intake_.commands([act(ActivityKind.PROFILE, "e3", profile=changed)], erased={ACTOR.id}) == []
    assert intake_.commands([act(ActivityKind.PROFILE, "e4", profile=changed)]) == []
    assert metrics.erased_withheld.labels("profile")._value.get() == 1
    # an activity that would have sent nothing is not counted as held back
    other = AccountRef("bluesky:did:plc:other", Network.BLUESKY)
    liked = Activity("e5", ActivityKind.LIKE, Network.BLUESKY, other, 1.0, 2.0, "test", target_post_id="p")
    intake_.commands([liked])
    assert intake_.commands([liked], erased={other.id}) == []
    assert metrics.erased_withheld.labels("profile")._value.get() == 1
    assert metrics.erased_forgotten.labels("identity_seen")._value.get() == 2
    deleted = intake_.commands([act(ActivityKind.DELETE, "d1")], erased={ACTOR.id})
    assert [Command.from_bytes(o.value).op for o in deleted] == ["erase_record"]


def test_the_resolver_decides_in_large_unpaced_groups_only_while_the_stream_is_quiet() -> None:
    now = [100.0]
    clock = InputClock(lambda: now[0])
    settings = Settings(identity_resolve_group=1, identity_quiet_group=16, identity_quiet_seconds=1.0)

    def mode() -> ResolverMode:
        return resolver_mode(settings, clock.quiet_for(settings.identity_quiet_seconds))

    assert mode() == ResolverMode(1, paced=True)  # a worker just started is not quiet yet
    now[0] += 0.99
    assert mode() == ResolverMode(1, paced=True)
    now[0] += 0.01
    assert mode() == ResolverMode(16, paced=False)  # a second without input
    clock.touch()  # a signal or a mention arrives
    assert mode() == ResolverMode(1, paced=True)
    now[0] += 5.0
    assert mode() == ResolverMode(16, paced=False)
    # a busy group larger than the quiet one is kept when quiet
    assert resolver_mode(settings.model_copy(update={"identity_resolve_group": 32}), True) == ResolverMode(
        32, False
    )


async def _no_service() -> object:
    raise AssertionError("not needed")


@given(st.lists(st.tuples(st.sampled_from(["p0", "p1"]), st.integers(0, 50)), max_size=40))
def test_a_command_counts_as_redelivered_only_up_to_what_this_process_applied_per_partition(
    applied: list[tuple[str, int]],
) -> None:
    state = ResolverState(factory=_no_service)  # type: ignore[arg-type]
    for tp, offset in applied:
        state.mark_applied(tp, offset)
    for tp in ("p0", "p1", "p2"):
        upto = max((o for t, o in applied if t == tp), default=-1)
        for offset in range(0, 52):
            assert state.redelivered(tp, offset) == (offset <= upto)
