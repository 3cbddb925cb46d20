"""The scoring role: ranking, priority, alerts and spikes, and the identity resolver.

- ``ranking`` (one owner: every ``scores.signals`` record has one key) keeps the influence engine,
  reports changed composites on ``scores.influence`` after a record (``influence_report_gap_seconds``)
  or every ``FLUSH_S``, and writes the latest of each
  to the graph every ``influence_graph_write_seconds`` (``streams.ranking``);
- ``priority`` takes mention batch records, classifies their intent in one model call and reads
  their authors from the graph in one query (``streams.priority``);
- ``alerting`` applies the rules with a cooldown per subject, ``spikes`` the volume baselines,
  ``erasure-notices`` turns identity's erase events into ``erasure`` alerts (``alerts.stage``), and
  every worker drops the intent vectors it cached of erased accounts (``Wiring.on_erasure``);
- a retention timer deletes the priority and alerting memories (tables ``mention-authors``,
  ``alert-subjects``) not written for ``state_retention_seconds`` (``streams.retention``);
- ``identity-resolver`` (one owner) applies identity commands (``streams.identity_agent``); a
  worker that is not applying them drops erased records from its resolver as erase events arrive.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from faust.types import StreamT

from alerts.rules import SubjectState
from alerts.spikes import TopicCount, TopicVolume
from alerts.stage import TOPIC_TOPIC_VOLUME, ErasureNotices, PostAlerting, SpikeAlerting
from graph import scores as scores_graph
from groundswell.heap import freeze_long_lived
from groundswell.settings import (
    TOPIC_IDENTITY,
    TOPIC_IDENTITY_COMMANDS,
    TOPIC_MENTIONS,
    TOPIC_PRIORITY,
    TOPIC_SIGNALS,
)
from groundswell.stalls import watched
from scoring.priority import ScoredPost
from streams.app import Wiring
from streams.identity_agent import default_service, install_identity_agent
from streams.pipeline import bad_record, unpack_all
from streams.priority import PriorityStage
from streams.ranking import FLUSH_S, RankStage
from streams.records import Out
from streams.retention import install_sweeps, stamped_table

log = logging.getLogger(__name__)

#: deferred core-number work per idle tick
KCORE_IDLE_BUDGET_S = 0.02
#: mention batch records scored together (one intent embedding call, one graph read)
MENTION_BATCH = 16
MENTION_BATCH_S = 0.05


def install_scoring(w: Wiring) -> None:
    install_ranking(w)
    install_priority_and_alerts(w)
    settings, metrics = w.settings, w.metrics
    resolver = install_identity_agent(
        w.app,
        settings=settings,
        metrics=metrics,
        service=lambda: default_service(settings, metrics, io_thread=True),
        links_topic=w.topic(TOPIC_IDENTITY),
        commands_topic=w.topic(TOPIC_IDENTITY_COMMANDS),
        intake_agent=False,  # the ingest role's graph stage feeds the commands
        quiet=lambda: w.inputs.quiet_for(settings.identity_quiet_seconds),
    )

    def forget_erased(accounts: list[str]) -> None:
        dropped = resolver.forget_erased(accounts)
        if dropped:
            metrics.erased_forgotten.labels("resolver_profile").inc(dropped)

    w.on_erasure(forget_erased)


def install_ranking(w: Wiring) -> None:
    app, settings, metrics, writer = w.app, w.settings, w.metrics, w.writer
    rank_stage = RankStage(settings, metrics)
    half_life_s = settings.influence_half_life_hours * 3600.0

    @app.agent(w.topic(TOPIC_SIGNALS), name="ranking")
    async def ranking_agent(stream: StreamT[bytes]) -> None:
        # every record has one key (streams.signals.RANK_KEY): this worker owns the whole graph's
        # ranking while it holds that partition
        try:
            async for event in stream.events():
                w.inputs.touch()
                if not rank_stage.loaded:
                    rank_stage.load()
                    if len(rank_stage.engine) == 0:  # no snapshot: start from what the graph holds
                        store = await writer.open()
                        rank_stage.rebuild(
                            await scores_graph.stored_event_edges(store),
                            await scores_graph.stored_followers(store),
                        )
                    rank_stage.replay_journal()  # what a killed ranker applied after its snapshot
                    freeze_long_lived("the influence engine's load", metrics)
                try:
                    rank_stage.apply_record(event.value, event.message.offset)
                except Exception as e:  # a record we did not write; never stop the stream
                    await w.send_all([bad_record("ranking", TOPIC_SIGNALS, event.value, e, metrics)])
                    continue
                if rank_stage.report_due():
                    await flush_influence()
        finally:  # the worker stopping: keep every record applied (the snapshot timer may be behind)
            try:
                rank_stage.save()
            except Exception:
                log.exception("influence engine snapshot not written at stop")

    async def flush_influence() -> None:
        outs = rank_stage.flush()
        if outs:
            await w.send_outputs(outs)  # about one record per raw event: the cheap path

    @app.timer(interval=FLUSH_S)
    async def influence_timer() -> None:
        rank_stage.maintain(KCORE_IDLE_BUDGET_S)
        await flush_influence()

    @app.timer(interval=settings.influence_graph_write_seconds)
    async def influence_to_graph() -> None:
        scores = rank_stage.take_unwritten()
        if not scores:
            return
        try:
            missed = await scores_graph.write_scores(await writer.open(), scores, half_life_s)
        except Exception as e:  # conflicts beyond the store's retries, the store away: next time
            metrics.graph_write_failures.labels("scores").inc()
            log.warning("influence scores not written (%r); %d wait for the next write", e, len(scores))
            rank_stage.requeue(scores)
        else:
            rank_stage.written(scores, missed)

    @app.timer(interval=settings.influence_snapshot_seconds)
    async def snapshot_timer() -> None:
        # written by a forked child (streams.ranking); an exception in a timer would stop the worker
        if rank_stage.snapshot_due(time.monotonic()):
            try:
                await rank_stage.take_snapshot()
            except Exception:
                rank_stage.mark_dirty()
                log.exception("influence engine snapshot not written; the next timer tries again")


def checked_mention(mention: dict[str, Any]) -> dict[str, Any]:
    str(mention["activity"]["actor"]["id"])  # the fields every step needs
    str(mention["activity"]["event_id"])
    return mention


def install_priority_and_alerts(w: Wiring) -> None:
    app, settings, metrics, writer = w.app, w.settings, w.metrics, w.writer
    priority_stage = PriorityStage(settings, metrics)
    post_alerting = PostAlerting(settings, metrics)
    spike_alerting = SpikeAlerting(settings, metrics)
    # recent mention event ids per author account; its entries follow their account's partition of
    # scores.mentions (the batch records give no current event to a table)
    mention_memory = stamped_table(app, "mention-authors", settings.partitions)
    # cooldowns and recent event ids per subject (person, else account): the key of the
    # scores.priority record, so its partition comes from the key as the record's did, and the
    # retention sweep can delete outside a stream's event
    alert_state = stamped_table(app, "alert-subjects", settings.partitions)
    volume_state = w.table("alert-topic-volume")  # mentions per topic and hour, for spikes
    volume_topic = w.topic(TOPIC_TOPIC_VOLUME)

    @app.agent(w.topic(TOPIC_MENTIONS), name="priority")
    async def priority_agent(stream: StreamT[bytes]) -> None:
        # batches: one embedding call classifies their intents, one graph read finds their authors
        async for events in stream.take_events(  # type: ignore[attr-defined]  # on faust.Stream, not StreamT
            MENTION_BATCH, within=MENTION_BATCH_S
        ):
            w.inputs.touch()
            mentions, bad = unpack_all(
                (e.value for e in events), checked_mention, "priority", TOPIC_MENTIONS, metrics
            )
            mentions, memories = priority_stage.unseen(mentions, mention_memory.get)
            if mentions:
                ids = [str(m["activity"]["actor"]["id"]) for m in mentions]
                authors = await scores_graph.authors_of(await writer.open(), ids)
                mentions = priority_stage.withhold_erased(mentions, authors)
            if mentions:
                await watched(  # model time
                    asyncio.to_thread(priority_stage.classify, mentions),
                    "priority intent",
                    settings.stall_warning_seconds,
                    metrics,
                )
                bad.extend(priority_stage.score(mentions, authors))
            await w.send_all(bad)
            for account, memory in memories.items():  # after the sends: at least once
                mention_memory[account] = memory

    @app.agent(w.topic(TOPIC_PRIORITY), name="alerting")
    async def alerting_agent(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            try:
                post = ScoredPost.from_dict(orjson.loads(event.value))
            except Exception as e:
                await w.send_all([bad_record("alerting", TOPIC_PRIORITY, event.value, e, metrics)])
                continue
            subject = post_alerting.subject(post)
            state = SubjectState.from_bytes(alert_state.get(subject))
            emits = post_alerting.process(post, state)
            alert_state[subject] = state.to_bytes()  # de-dup memory: a redelivered post alerts once
            await w.send_all([Out(e.topic, e.key, e.value) for e in emits])

    if settings.intent_enabled:  # every worker drops the intent vectors it cached of erased accounts
        w.on_erasure(priority_stage.forget_accounts)

    erasure_notices = ErasureNotices(metrics)

    @app.agent(w.topic(TOPIC_IDENTITY), name="erasure-notices")
    async def erasure_notices_agent(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            await w.send_all([Out(e.topic, e.key, e.value) for e in erasure_notices.process(event.value)])

    install_sweeps(  # co-partitioned: the same partition numbers as scores.mentions
        app,
        (("mention-authors", mention_memory), ("alert-subjects", alert_state)),
        TOPIC_MENTIONS,
        settings,
        metrics,
    )

    @app.timer(interval=1.0)
    async def volume_timer() -> None:
        for e in post_alerting.drain_counts():
            await volume_topic.send(key=e.key, value=e.value)

    @app.agent(volume_topic, name="spikes")
    async def spikes_agent(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            topic_name = event.key.decode() if isinstance(event.key, bytes) else str(event.key)
            try:
                count = TopicCount.from_bytes(event.value)
            except Exception as e:
                await w.send_all([bad_record("spikes", TOPIC_TOPIC_VOLUME, event.value, e, metrics)])
                continue
            state = TopicVolume.from_bytes(volume_state.get(topic_name))
            emits = spike_alerting.process(count, state)
            volume_state[topic_name] = state.to_bytes()
            await w.send_all([Out(e.topic, e.key, e.value) for e in emits])
