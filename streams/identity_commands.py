"""Identity commands, pure: what an activity tells the resolver, and the intake that decides what
is sent (only new accounts, changed profiles and erasures). The Faust agents around them are in
``streams/identity_agent.py``."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

import orjson

from activity.schema import TEXT_KINDS, Activity, ActivityKind, Network
from groundswell.metrics import Metrics
from groundswell.settings import Settings
from identity.persons import record_from_json, record_to_json
from identity.records import ProfileRecord
from streams.records import Out
from streams.retention import StampedTable, stale

TOPIC_IDENTITY_COMMANDS = "identity.commands"
#: every command has this key: one partition, one resolver
RESOLVER_KEY = b"resolver"


# -- pure: activities -> commands ---------------------------------------------------------------
def record_from_activity(act: Activity) -> ProfileRecord:
    """What one activity tells about its author's identity."""
    ref, p = act.actor, act.profile
    return ProfileRecord(
        record_id=ref.id,
        source=act.network.value,
        display_name=(p.display_name if p is not None and p.display_name else None) or ref.display_name,
        handle=ref.handle,
        websites=(p.url,) if p is not None and p.url else (),
        bio=p.bio if p is not None else None,
        location=p.location if p is not None else None,
        recent_posts=(act.text,) if act.kind in TEXT_KINDS and act.text else (),
    )


IDENTITY_FIELDS = ("display_name", "handle", "websites", "bio", "location")
ERASED = {"erased": "1"}
ERASED_BYTES = orjson.dumps(ERASED)
#: the prefixes of social account ids (``network:native id``): the accounts the intake sees
NETWORKS = frozenset(n.value for n in Network)


def field_hashes(record: ProfileRecord) -> dict[str, str]:
    """A short hash of each identity field the fragment carries (posts excluded: a new post is not a
    changed profile). Hashes only: the changelogged table must not hold personal data."""
    out: dict[str, str] = {}
    for name in IDENTITY_FIELDS:
        value = getattr(record, name)
        if value:
            out[name] = hashlib.sha256(orjson.dumps(value)).hexdigest()[:16]
    return out


@dataclass(frozen=True, slots=True)
class Command:
    op: str  # resolve | erase_record | erase_person
    cause: str
    record: ProfileRecord | None = None
    record_id: str | None = None
    person_id: str | None = None
    reason: str = ""
    actor: str = "platform"

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "op": self.op,
                "cause": self.cause,
                "record": orjson.loads(record_to_json(self.record)) if self.record is not None else None,
                "record_id": self.record_id,
                "person_id": self.person_id,
                "reason": self.reason,
                "actor": self.actor,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Command:
        d = orjson.loads(data)
        op = d["op"]
        if op not in ("resolve", "erase_record", "erase_person"):
            raise ValueError(f"unknown identity command {op!r}")
        record = record_from_json(orjson.dumps(d["record"]).decode()) if d.get("record") else None
        if op == "resolve" and record is None:
            raise ValueError("resolve command without a record")
        return cls(
            op,
            str(d.get("cause") or ""),
            record,
            d.get("record_id"),
            d.get("person_id"),
            str(d.get("reason") or ""),
            str(d.get("actor") or "platform"),
        )


def intake(act: Activity, stored: dict[str, str] | None) -> tuple[Command | None, dict[str, str] | None]:
    """One activity -> (a command or None, what to store for the account or None: unchanged).

    ``stored`` holds the hashes of the identity fields already sent for resolution: a fragment
    that adds or changes a field is sent, anything else (a like, another post) is not."""
    if not act.actor.id:
        return None, None
    if act.kind is ActivityKind.DELETE and not act.post_id:
        cmd = Command(
            "erase_record", act.event_id, record_id=act.actor.id, reason="account deleted on its platform"
        )
        return cmd, ERASED
    if act.kind is ActivityKind.PROFILE and act.profile is not None and not act.profile.active:
        cmd = Command("erase_record", act.event_id, record_id=act.actor.id, reason="account deactivated")
        return cmd, ERASED
    if stored == ERASED:
        return None, None
    record = record_from_activity(act)
    merged = {**(stored or {}), **field_hashes(record)}
    if stored is not None and merged == stored:
        return None, None
    return Command("resolve", act.event_id, record=record), merged


class IdentityIntake:
    """Activities -> commands for the resolver, with the ``identity-seen`` table as memory.

    Runs where the activities are (the graph stage, on every worker, in parallel). The table is
    keyed by account and its changelog partitioned by that key (``KeyPartitionedTable``), so each
    entry lives in the partition its account's activities arrive on, whichever record carried them.

    Bounded. The resolver is one process at the model's pace; a burst of new accounts (a cold start
    on the firehose) can outrun it for minutes, and the embedded broker keeps only ~5 MB of a
    partition (``identity.commands`` has one): a longer queue would lose commands silently. So
    while the resolver's backlog (``backlog``, refreshed by the app from the consumer group's lag)
    is at ``max_backlog`` commands, a NEW or CHANGED profile is deferred: not sent and not
    remembered, so the account's next activity offers it again (``deferred`` counts them; an
    erasure is never deferred). Nothing is dropped by the broker, and the firehose is not throttled
    to the resolver's pace.

    Its entries carry the time they were written and expire ``retention_s`` after that
    (``streams.retention``). An entry changes only when its profile does, so one read more than
    half the retention after its write is written again as it is: an account that stays active
    keeps its entry, and only one silent for the whole retention is resolved afresh when it comes
    back (the resolver finds its stored record; nothing about the person changes)."""

    def __init__(
        self,
        seen: StampedTable,
        metrics: Metrics,
        max_backlog: int = 2000,
        retention_s: float = 30 * 86400.0,
    ) -> None:
        self._seen = seen
        self._m = metrics
        self.max_backlog = max_backlog
        self._retention_s = retention_s
        self.backlog = 0
        self.read = 0  # activities looked at
        self.deferred = 0
        self.refreshed = 0  # entries written again to keep them

    def commands(self, activities: Sequence[Activity], erased: Collection[str] = frozenset()) -> list[Out]:
        """``erased``: accounts the graph holds as erased (``graph.write_path``, met by the write of
        these activities). Their entries take the erased marker here, so nothing of theirs is sent
        for resolution even where this worker did not see the erase event (``mark_erased``): it
        started long after it, or the account's partition was moving between workers then."""
        outs: list[Out] = []
        for act in activities:
            self.read += 1
            self._m.events_in.labels("identity", act.network.value).inc()
            stored, at = self._seen.read(act.actor.id)
            if act.actor.id in erased and stored != ERASED_BYTES:
                stored = self._erased_in_graph(act, stored)
            cmd, keep = intake(act, orjson.loads(stored) if stored is not None else None)
            if cmd is None:
                if stored is not None and stale(at, self._seen.clock(), self._retention_s):
                    self._seen[act.actor.id] = stored
                    self.refreshed += 1
                continue
            if cmd.op == "resolve" and self.backlog >= self.max_backlog:
                self.deferred += 1
                self._m.identity_deferred.inc()
                continue
            outs.append(Out(TOPIC_IDENTITY_COMMANDS, RESOLVER_KEY, cmd.to_bytes()))
            if cmd.op == "resolve":
                self.backlog += 1  # until the next lag reading: a burst within one batch stays bounded too
            if keep is not None:
                self._seen[act.actor.id] = orjson.dumps(keep)
            self._m.events_out.labels("identity", act.network.value).inc()
        return outs

    def _erased_in_graph(self, act: Activity, stored: bytes | None) -> bytes:
        """The erased marker for ``act``'s account, whose graph node is a tombstone; counts the
        resolution it holds back. -> the entry now stored."""
        would, _ = intake(act, orjson.loads(stored) if stored is not None else None)
        if would is not None and would.op == "resolve":
            self._m.erased_withheld.labels("profile").inc()
        self._mark(act.actor.id, stored)
        return ERASED_BYTES

    def _mark(self, account: str, stored: bytes | None) -> bool:
        """The erased marker in place of ``stored``, the account's entry (not the marker already);
        -> whether the entry held hashes (counted in ``erased_forgotten{what="identity_seen"}``)."""
        self._seen[account] = ERASED_BYTES
        if stored is None:
            return False
        self._m.erased_forgotten.labels("identity_seen").inc()
        return True

    def mark_erased(
        self, accounts: Iterable[str], owned: Callable[[str], bool], held_only: bool = False
    ) -> int:
        """An erasure made elsewhere (the API, a person's erasure; ``streams.erasure_follower``): the
        field hashes remembered for these accounts give way to the erased marker, so a later profile
        activity of theirs sends nothing for resolution, as after a platform delete. Only social
        accounts whose entry lives in a partition this worker holds (``owned``) are written.
        ``held_only``: only entries that hold hashes (the periodic look at the graph's erased
        accounts, ``install_identity_intake``, which would otherwise write a marker for every erased
        account it never saw). -> how many entries held hashes
        (``groundswell_erased_forgotten_total{what="identity_seen"}``)."""
        dropped = 0
        for account in accounts:
            if account.partition(":")[0] not in NETWORKS or not owned(account):
                continue
            stored = self._seen.get(account)
            if stored != ERASED_BYTES and not (held_only and stored is None):
                dropped += self._mark(account, stored)
        return dropped


class Pace:
    """At most ``per_s`` calls of ``wait`` a second (0: no limit), evenly spaced.

    The resolver's decisions are graph transactions of about a dozen statements each: flat out on
    a core of its own it took most of the graph store (measured: the ingest stage fell from ~700 to
    ~125 raw events/s beside it). Paced, identity lags in a burst of new accounts (the intake defers
    beyond ``identity_max_backlog``) and the firehose keeps its pace."""

    def __init__(self, per_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._gap = 1.0 / per_s if per_s > 0 else 0.0
        self._clock = clock
        self._next = 0.0

    async def wait(self, n: int = 1) -> None:
        """Wait for this call's turn; ``n``: it stands for n calls (a group of decisions made in one
        transaction), so the next call waits n gaps."""
        if self._gap <= 0.0:
            return
        now = self._clock()
        at = max(self._next, now - self._gap) + self._gap  # no credit saved up while idle
        self._next = at + self._gap * (max(1, n) - 1)  # the group's other calls: the next waits for them
        if at > now:
            await asyncio.sleep(at - now)


@dataclass(frozen=True)
class ResolverMode:
    """How the resolver decides a batch of commands: ``group`` decisions in one graph transaction,
    ``paced`` by ``identity_max_decisions_per_s`` or not."""

    group: int
    paced: bool


def resolver_mode(settings: Settings, quiet: bool) -> ResolverMode:
    """While the stream is busy, the resolver leaves it the cores and the store: its configured
    group (1 by default) at its pace. While the stream is quiet (``quiet``: the worker's stages have
    had no input for ``identity_quiet_seconds``), nothing waits for either, so it decides in
    groups of ``identity_quiet_group``, unpaced."""
    if quiet:
        return ResolverMode(max(settings.identity_quiet_group, settings.identity_resolve_group), paced=False)
    return ResolverMode(settings.identity_resolve_group, paced=True)
