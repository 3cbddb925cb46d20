"""The streaming identity resolver: new and changed accounts are resolved continuously, by ONE owner.

Why one owner. Two accounts of one person usually live in different partitions of
``social.activity`` (it is keyed by account), so with N workers they arrive at different workers at
the same moment. Resolution is "search the candidates, decide, write": if two workers each resolve
one of the two accounts, neither sees the other's account (it is not in its index yet, nor in the
graph yet), and each creates a person -- two persons for one identity. Graph constraints cannot
prevent that (the two person ids differ, deterministically or not), and locking the whole graph per
decision would serialise everything anyway, with worse failure modes. So the decisions are
serialised on purpose, by the broker:

1. ``identity-intake`` (every worker, every partition of ``social.activity``): builds a
   ``ProfileRecord`` fragment from the activity; a changelogged table keeps hashes of each
   account's identity fields, so only NEW accounts and CHANGED profiles (name, handle, bio, link,
   location) go on; posts, likes and follows alone do not. Account deletion (DELETE without a
   post) and deactivation (PROFILE with ``active = false``) become erase commands. Everything is sent to
   ``identity.commands`` with ONE constant key, so all commands land in one partition.
2. ``identity-resolver`` (every worker, but only the owner of that one partition receives
   anything): applies the commands in order with ``IdentityService`` -- candidate search over
   every record resolved so far, the matcher, and the graph writes, a run of consecutive
   decisions in one transaction (``apply_commands``) -- and publishes the audit events on
   ``identity.links``. Kafka's group protocol gives a partition to one
   member at a time (eager rebalancing: revoked everywhere before it is assigned anywhere), so there
   is exactly one resolver.

Take-over. The owner's index is a cache of the graph: on every rebalance the next command first
re-reads the stored profiles (``IdentityService.warm``, incremental: only changed or new profiles
are re-embedded), so a new owner knows every record the previous one resolved. A command
redelivered after a crash is harmless: decisions are idempotent (deterministic person ids, the
record's current person is read in the decision's transaction, an unchanged record is skipped).
A stopped owner (SIGTERM) finishes and commits the commands in hand before it leaves the group, and
the first commands Faust hands a new owner twice are applied once (``ResolverState.redelivered``):
a rolling restart decides nothing twice.

Cost. One partition bounds resolution to one process. Measured (``python -m benchmarks.identity_resolve
--people 100``, embedded ArcadeDB, 2 shared CPU cores, 2026-12-06): 32 decisions/s one command at a
time; 50/s with the profiles of a batch embedded in one encoder call; 97/s with a batch's decisions in
one transaction (``resolve_in_order`` writes them with a few statements for all); 100/s through
``apply_commands`` with groups of 16 and the next wave embedded meanwhile. No pair missed, no
person mixing two people that one at a time does not mix too; the model is most of what is left.
Only new accounts and changed profiles reach it (the intake filters the rest on every worker in
parallel). Manual operations (API) and erasure do not go through the owner: they are graph
transactions that bump the persons they touch, so a concurrent automatic decision on the same
person conflicts and retries.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import StreamT, TopicT

from activity.schema import Activity
from groundswell.heap import freeze_long_lived
from groundswell.metrics import Metrics
from groundswell.settings import TOPIC_ACTIVITY, TOPIC_DEADLETTER, TOPIC_IDENTITY, Settings
from identity.audit import AuditEvent
from identity.erasure import erase_person, erase_record
from identity.service import IdentityService
from streams.erasure_follower import Listener
from streams.identity_commands import (
    TOPIC_IDENTITY_COMMANDS,
    Command,
    IdentityIntake,
    Pace,
    ResolverMode,
    resolver_mode,
)
from streams.partitioner import partition_for
from streams.records import unpack
from streams.retention import install_sweeps, owned_partitions, stamped_table

log = logging.getLogger(__name__)

SEEN_TABLE = "identity-seen"
#: the resolver takes up to this many commands at once (within this many seconds) to embed them together
RESOLVER_BATCH = 64
RESOLVER_BATCH_S = 0.2
#: the fixture's own intake agent takes this many records at once
INTAKE_BATCH = 16
INTAKE_BATCH_S = 0.05
#: a command whose graph transaction still fails after the store's own retries is tried this many
#: more times (with a pause), then dead-lettered with the error: the resolver never stops on one
COMMAND_ATTEMPTS = 3
COMMAND_RETRY_S = 1.0

ServiceFactory = Callable[[], Awaitable[IdentityService]]


# -- the resolver owner -------------------------------------------------------------------------
@dataclass
class ResolverState:
    factory: ServiceFactory
    intake: IdentityIntake | None = None  # the fixture's own intake agent's, if any
    service: IdentityService | None = None
    needs_warm: bool = True
    applied: int = 0  # commands applied by this process's resolver
    warmed: int = 0
    errors: list[str] = field(default_factory=list)
    metrics: Metrics | None = None  # set: the heap is frozen after each warm (groundswell.heap)
    #: the resolver agent is applying commands (the service's index and profiles are in use)
    busy: bool = False
    mode: ResolverMode | None = None  # of the last batch (resolver_mode)
    #: the last command offset of each partition this process applied since it was last assigned
    #: partitions: Faust delivers the first records of a newly assigned partition, then seeks the
    #: partition back to its committed offset and delivers them again (``redelivered``)
    applied_upto: dict[Any, int] = field(default_factory=dict)

    def redelivered(self, tp: Any, offset: int) -> bool:
        """This process already applied the command at ``offset`` of ``tp`` since the partitions
        were last assigned. Faust (0.15) resumes a new owner's partitions before it seeks them to
        their committed offsets, so the records fetched in between come again after the seek
        (measured in tests/integration/test_identity_two_workers.py: the first 8 to 16 commands of a
        take-over applied twice in 4 runs of 10). Applying one again changes nothing (decisions are
        idempotent) but costs a decision; only what this process applied is skipped."""
        return offset <= self.applied_upto.get(tp, -1)

    def mark_applied(self, tp: Any, offset: int) -> None:
        self.applied_upto[tp] = max(offset, self.applied_upto.get(tp, -1))

    def forget_erased(self, record_ids: Sequence[str]) -> int:
        """An erasure read by this process's erasure follower (``streams.erasure_follower``): drop
        these records from this process's resolver (profiles, index vectors, cached embeddings), on
        the event loop. A worker that owned the resolver once keeps it for a take-back, and erasures
        made since reach only the owner (identity.commands), so this is how it learns of them. Not
        while the agent is applying commands (it then owns the resolver: the erase command reaches
        it, and the service uses its index off the loop). -> how many records were dropped."""
        service = self.service
        if service is None or self.busy:
            return 0
        known = [rid for rid in record_ids if rid in service.records]
        service.forget_local(list(record_ids))
        return len(known)

    async def get(self) -> IdentityService:
        if self.service is None:
            self.service = await self.factory()
            await preload_model()
        if self.needs_warm:
            self.needs_warm = False  # set before: a rebalance during warm() asks for another
            loaded = await self.service.warm()
            self.warmed += 1
            log.info("identity resolver (re)warmed with %d stored profiles", loaded)
            if self.metrics is not None:  # the model and the index: built once, kept for good
                freeze_long_lived("the identity resolver's warm-up", self.metrics)
        return self.service


async def preload_model() -> None:
    """Load the embedding model in a thread (~20 s on a laptop CPU): in the event loop it would stop
    the consumer's heartbeats for longer than the session timeout and cost a rebalance."""
    import asyncio

    from embedding.encoder import load_model

    await asyncio.to_thread(load_model)


async def wait_out_outages(call: Callable[[], Awaitable[Any]], retry_s: float = COMMAND_RETRY_S) -> None:
    """``call()``, again and again (backing off to 30 s) while the graph store is unreachable: an
    outage says nothing about what is being written. Any other error is raised."""
    import asyncio

    from streams.graph_writer import UNAVAILABLE

    delay = retry_s
    while True:
        try:
            await call()
            return
        except UNAVAILABLE as e:
            log.warning("identity resolver: graph store unavailable (%r); retry in %.1fs", e, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


async def apply_command_safely(
    service: IdentityService,
    cmd: Command,
    metrics: Metrics,
    dead_letter: Callable[[Command, Exception], Awaitable[None]],
    retry_s: float = COMMAND_RETRY_S,
) -> bool:
    """``apply_command``, retried; an unreachable store is waited for (``wait_out_outages``), any
    other error ``COMMAND_ATTEMPTS`` times, then the command is dead-lettered.
    -> whether it was applied."""
    import asyncio

    for attempt in range(1, COMMAND_ATTEMPTS + 1):
        try:
            await wait_out_outages(lambda: apply_command(service, cmd), retry_s)
            return True
        except Exception as e:
            metrics.graph_write_failures.labels("identity").inc()
            if attempt >= COMMAND_ATTEMPTS:
                log.error(
                    "identity command %s (%s) dead-lettered after %d attempts: %r",
                    cmd.op,
                    cmd.cause,
                    attempt,
                    e,
                )
                await dead_letter(cmd, e)
                break
            log.warning("identity command %s (%s) failed (%r); attempt %d", cmd.op, cmd.cause, e, attempt + 1)
            await asyncio.sleep(retry_s * attempt)
    return False


def _groupable(cmd: Command) -> bool:
    return cmd.op == "resolve" and cmd.record is not None


#: commands whose profiles are embedded together, one wave ahead of the decisions (apply_commands):
#: the encoder's batch, so each model call is a full one
PREFETCH_WAVE = 16


def waves(commands: Sequence[Command], group: int) -> list[list[Command]]:
    """``commands`` cut into consecutive waves of at least ``PREFETCH_WAVE`` and a whole number of
    groups (a group never spans two waves)."""
    size = group * -(-PREFETCH_WAVE // group)
    return [list(commands[i : i + size]) for i in range(0, len(commands), size)]


async def apply_commands(
    service: IdentityService,
    commands: Sequence[Command],
    metrics: Metrics,
    dead_letter: Callable[[Command, Exception], Awaitable[None]],
    pace: Pace | None = None,
    group: int = 1,
    retry_s: float = COMMAND_RETRY_S,
) -> int:
    """Apply ``commands`` in order -> how many were applied. Runs of consecutive resolve commands
    (at most ``group``; ``Settings.identity_resolve_group``) are decided in one graph transaction
    (``IdentityService.resolve_many``); if that transaction fails for any reason but an unreachable
    store (waited for), its commands are applied again one at a time (``apply_command_safely``), so
    one bad command costs only itself. Erasures go one at a time, in their place: a record erased
    after a resolve stays erased.

    The profiles are embedded a wave ahead (``waves``): while one wave's decisions are searched,
    decided and written, the model embeds the next wave's profiles on a thread of its own (torch
    releases the GIL), so model time and graph time overlap instead of adding up. A profile that the
    wave before changes is embedded again when decided (the look-ahead only fills the cache).

    Measured in the stream (benchmarks/RESULTS.md, 1,000 raw events/s, one run each in a row):
    groups of 16 applied 19 commands/s against 4.5 one at a time, but the model's time came out of
    the cores the pipeline needs (963 -> 634 raw events/s, alert p95 4.6 -> 10.1 s); so the product
    groups none by default. Alone (``benchmarks.identity_resolve``) groups of 16 decide ~100/s."""
    applied = 0
    planned = waves(commands, group)
    if planned:
        await prefetch(service, planned[0])
    for at, wave in enumerate(planned):
        ahead = asyncio.ensure_future(prefetch(service, planned[at + 1])) if at + 1 < len(planned) else None
        await asyncio.sleep(0)  # the look-ahead hands its texts to the model thread first
        try:
            applied += await apply_wave(service, wave, metrics, dead_letter, pace, group, retry_s)
        finally:
            if ahead is not None:
                await ahead  # never fails (prefetch); on cancellation the model finishes the batch
    return applied


async def prefetch(service: IdentityService, commands: Sequence[Command]) -> None:
    """Embed the profiles of ``commands`` into the encoder's cache; a failure here is only a cache
    miss later (the decision embeds the profile itself and reports what fails)."""
    try:
        await service.prefetch([c.record for c in commands if c.record is not None])
    except Exception as e:
        log.warning("identity: embedding %d profiles ahead failed (%r)", len(commands), e)


async def apply_wave(
    service: IdentityService,
    commands: Sequence[Command],
    metrics: Metrics,
    dead_letter: Callable[[Command, Exception], Awaitable[None]],
    pace: Pace | None,
    group: int,
    retry_s: float,
) -> int:
    applied = 0
    for resolving, same in itertools.groupby(commands, key=_groupable):
        run = list(same)
        size = group if resolving else 1
        for chunk in (run[i : i + size] for i in range(0, len(run), size)):
            if pace is not None:
                await pace.wait(len(chunk))
            if len(chunk) == 1:
                applied += await apply_command_safely(service, chunk[0], metrics, dead_letter, retry_s)
                continue
            items = [(c.record, c.cause) for c in chunk if c.record is not None]
            try:
                await wait_out_outages(functools.partial(service.resolve_many, items), retry_s)
                applied += len(chunk)
            except Exception as e:
                log.warning("identity: a group of %d decisions failed (%r); one at a time", len(chunk), e)
                for cmd in chunk:
                    applied += await apply_command_safely(service, cmd, metrics, dead_letter, retry_s)
    return applied


async def apply_command(service: IdentityService, cmd: Command) -> None:
    if cmd.op == "resolve" and cmd.record is not None:
        await service.resolve(cmd.record, cmd.cause)
    elif cmd.op == "erase_record" and cmd.record_id:
        await erase_record(service, cmd.record_id, cmd.reason or "erasure", cmd.actor)
    elif cmd.op == "erase_person" and cmd.person_id:
        await erase_person(service, cmd.person_id, cmd.actor, cmd.reason or "erasure request")


def install_identity_agent(
    app: faust.App,
    *,
    settings: Settings,
    metrics: Metrics,
    service: IdentityService | ServiceFactory,
    activity_topic: TopicT | None = None,
    links_topic: TopicT | None = None,
    commands_topic: TopicT | None = None,
    preload: bool = True,
    intake_agent: bool = True,
    quiet: Callable[[], bool] = lambda: False,
) -> ResolverState:
    """Install ``identity-resolver`` on ``app`` (see the module docstring). ``intake_agent``: also
    an ``identity-intake`` agent reading the activity topic itself (``state.intake``); the product's
    app instead feeds an intake (``install_identity_intake``) from its graph stage, which has the
    activities already (one consumer of every activity instead of two).
    ``service``: the service, or an async factory (it needs the graph store, opened on first use).
    Topics default to ``social.activity``, ``identity.links`` and ``identity.commands`` declared
    with ``settings.partitions`` raw-bytes partitions. ``preload``: load the embedding model at
    start (in a thread) on every worker, so that a take-over does not wait for it. ``quiet``:
    whether the worker's stream is quiet now (``resolver_mode``)."""

    def topic(name: str) -> TopicT:
        return app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.partitions,
        )

    activities = activity_topic or topic(TOPIC_ACTIVITY)
    links = links_topic or topic(TOPIC_IDENTITY)
    commands = commands_topic or topic(TOPIC_IDENTITY_COMMANDS)
    deadletters = topic(TOPIC_DEADLETTER)

    async def fixed() -> IdentityService:
        assert isinstance(service, IdentityService)
        return service

    pace = Pace(settings.identity_max_decisions_per_s)
    state = ResolverState(
        fixed if isinstance(service, IdentityService) else service,
        intake=install_identity_intake(app, settings, metrics, activities.get_topic_name())
        if intake_agent
        else None,
        metrics=metrics,
    )

    async def dead_letter(cmd: Command, error: Exception) -> None:
        from streams.pipeline import bad_record

        out = bad_record("identity-resolver", TOPIC_IDENTITY_COMMANDS, cmd.to_bytes(), error, metrics)
        await deadletters.send(key=out.key, value=out.value)

    async def publish(events: Sequence[AuditEvent]) -> None:
        for e in events:
            await links.send(key=e.key, value=e.to_bytes())

    async def intake_loop(stream: StreamT[bytes]) -> None:
        async for events in stream.take_events(INTAKE_BATCH, within=INTAKE_BATCH_S):  # type: ignore[attr-defined]
            acts: list[Activity] = []
            for event in events:
                try:
                    acts.extend(Activity.from_dict(d) for d in unpack(event.value))
                except Exception as e:  # not ours to dead-letter: the graph stage reads the same record
                    log.debug("identity intake skips an undecodable record: %r", e)
            assert state.intake is not None
            for out in state.intake.commands(acts):
                await commands.send(key=out.key, value=out.value)

    async def resolver_agent(stream: StreamT[bytes]) -> None:
        # commands come in batches to embed their profiles a wave ahead of the decisions and to
        # decide runs of them in one graph transaction each (apply_commands), in order
        async for events in stream.take_events(RESOLVER_BATCH, within=RESOLVER_BATCH_S):  # type: ignore[attr-defined]
            started = time.time()
            commands: list[Command] = []
            fresh = [e for e in events if not state.redelivered(e.message.tp, e.message.offset)]
            if len(fresh) < len(events):
                metrics.events_repeated.labels("identity-resolver").inc(len(events) - len(fresh))
            for event in fresh:
                try:
                    commands.append(Command.from_bytes(event.value))
                except Exception as e:
                    log.warning("identity resolver skips a bad command: %r", e)
                    state.errors.append(repr(e))
            if commands:
                await apply_batch(commands)
                metrics.stage_latency.labels("identity-resolver").observe(max(0.0, time.time() - started))
            for event in fresh:
                state.mark_applied(event.message.tp, event.message.offset)

    async def apply_batch(commands: list[Command]) -> None:
        state.busy = True
        try:
            service_now = await state.get()
            if service_now.audit is None:
                service_now.audit = publish
            mode = resolver_mode(settings, quiet())
            if mode != state.mode:
                log.info("identity resolver: %d decisions a transaction, %s", mode.group,
                         "paced" if mode.paced else "unpaced (the stream is quiet)")  # fmt: skip
                state.mode = mode
            state.applied += await apply_commands(
                service_now, commands, metrics, dead_letter, pace if mode.paced else None, mode.group
            )
        finally:
            state.busy = False
        for cmd in commands:
            metrics.events_in.labels("identity-resolver", cmd.op).inc()

    async def on_rebalance(*_args: Any, **_kwargs: Any) -> None:
        state.needs_warm = True

    async def on_revoked(*_args: Any, **_kwargs: Any) -> None:
        state.needs_warm = True
        state.applied_upto.clear()  # another worker may apply the partition's next commands

    if intake_agent:
        app.agent(activities, name="identity-intake")(intake_loop)
    app.agent(commands, name="identity-resolver")(resolver_agent)
    app.on_partitions_revoked.connect(on_revoked)
    app.on_partitions_assigned.connect(on_rebalance)
    if preload:  # every worker may become the owner: have the model ready for a fast take-over
        app.task(preload_model)
    return state


def install_identity_intake(
    app: faust.App,
    settings: Settings,
    metrics: Metrics,
    source_topic: str = TOPIC_ACTIVITY,
    on_erasure: Callable[[Listener], None] | None = None,
    erased_accounts: Callable[[], Awaitable[list[str]]] | None = None,
) -> IdentityIntake:
    """The intake and its ``identity-seen`` table, whose entries follow their account's partition
    (not the partition of the record being processed: ``KeyPartitionedTable``) and expire after
    ``state_retention_seconds`` without a write (``streams.retention``); ``source_topic``: the
    topic the intake reads, co-partitioned with the table. ``on_erasure`` (``Wiring.on_erasure``):
    erasures made elsewhere mark the erased accounts' entries (``IdentityIntake.mark_erased``).
    ``erased_accounts``: the graph's erased accounts; after each sweep of the table (the first
    within 30 s of the start, then every ``state_sweep_seconds``) the entries of those still holding
    field hashes are marked too: a worker that missed the erase event (started long after it, or
    the partition moving then) keeps no hashes of an account that is never active again."""
    seen = stamped_table(app, SEEN_TABLE, settings.partitions)
    intake = IdentityIntake(seen, metrics, settings.identity_max_backlog, settings.state_retention_seconds)

    def owned_now() -> Callable[[str], bool]:
        """Whether an account's entry lives in a partition this worker holds now (read once, not
        once an account: the graph's erased accounts can be many)."""
        mine = owned_partitions(app, source_topic)
        return lambda account: partition_for(account.encode(), settings.partitions) in mine

    def mark_erased(accounts: list[str]) -> int:
        return intake.mark_erased(accounts, owned_now())

    async def forget_tombstoned(read_erased: Callable[[], Awaitable[list[str]]]) -> None:
        if owned_partitions(app, source_topic):
            erased = await read_erased()  # the partitions are read after it: a rebalance may come first
            dropped = intake.mark_erased(erased, owned_now(), held_only=True)
            if dropped:
                log.info("identity-seen: the field hashes of %d erased accounts dropped", dropped)

    then = None if erased_accounts is None else functools.partial(forget_tombstoned, erased_accounts)
    install_sweeps(app, ((SEEN_TABLE, seen),), source_topic, settings, metrics, then=then)
    if on_erasure is not None:
        on_erasure(mark_erased)
    return intake


async def default_service(settings: Settings, metrics: Metrics, io_thread: bool = False) -> IdentityService:
    """The production service: graph store (waits while it starts), encoder, index, matcher.
    ``io_thread``: the store's driver on the process's graph I/O thread (``GraphStore.connect``)."""
    import asyncio

    import faiss

    from embedding.encoder import Encoder
    from graph.store import GraphStore
    from groundswell.background import BackgroundThread
    from identity.ann import VectorIndex
    from identity.candidates import CandidateSearch
    from identity.matcher import Matcher, Thresholds
    from streams.graph_writer import UNAVAILABLE

    faiss.omp_set_num_threads(1)  # one resolver thread: faiss's pool only contends with the workers
    background = BackgroundThread("identity-resolver", settings.identity_resolver_niceness)
    encoder = Encoder()
    search = CandidateSearch(
        encoder,
        VectorIndex(384, nprobe=settings.identity_ann_nprobe),
        max_block=settings.identity_candidates_max_block,
    )
    delay = 0.5
    while True:
        store = await GraphStore.connect(settings, metrics, io_thread=io_thread)
        thresholds = Thresholds(
            merge=settings.identity_merge_threshold, review=settings.identity_review_threshold
        )
        service = IdentityService(store, Matcher(thresholds), search, encoder=encoder, offload=background.run)
        try:
            await service.setup()
            return service
        except UNAVAILABLE as e:
            await store.close()
            log.warning("graph store unreachable (%r); identity resolver retries in %.1fs", e, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
