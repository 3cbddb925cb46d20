"""The Faust application: topics, tables and agents, thin loops around streams.pipeline.

Every topic and table uses ``settings.partitions`` partitions (the embedded broker creates
topics with 4 on first use, and Faust needs a table's source topic and changelog to agree).
Records are raw bytes (JSON via orjson). Tables declare ``key_type=str, value_type=bytes``: Faust
derives a changelog's serializers from those types (not from a schema), so recovery decodes exactly
what was written (see ../shared/DESIGN.md "Embedded broker" and README).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import faust
import orjson
from faust.types import StreamT, TableT, TopicT

from activity.raw import RawEvent
from activity.schema import Activity
from alerts.rules import SubjectState
from alerts.spikes import TopicCount, TopicVolume
from alerts.stage import TOPIC_TOPIC_VOLUME, PostAlerting, SpikeAlerting
from embedding.encoder import set_model_precision
from graph import scores as scores_graph
from groundswell.metrics import Metrics
from groundswell.settings import (
    ALL_TOPICS,
    TOPIC_ACTIVITY,
    TOPIC_IDENTITY,
    TOPIC_MENTIONS,
    TOPIC_PRIORITY,
    TOPIC_RAW,
    TOPIC_SIGNALS,
    Settings,
)
from scoring.priority import ScoredPost
from streams import compat
from streams.faust_config import faust_settings
from streams.graph_writer import GraphWriter
from streams.identity_agent import TOPIC_IDENTITY_COMMANDS, default_service, install_identity_agent
from streams.pipeline import NormalizeStage, Out, bad_record
from streams.priority import Author, PriorityStage
from streams.ranking import FLUSH_S, MAX_PENDING, RankStage
from streams.signals import SignalStage

log = logging.getLogger(__name__)

#: the ranker saves its engine this often (streams.ranking)
SNAPSHOT_S = 10.0
#: deferred core-number work per idle tick
KCORE_IDLE_BUDGET_S = 0.02
#: mentions scored together (one intent embedding call, one graph read)
MENTION_BATCH = 64
MENTION_BATCH_S = 0.2


def create_app(settings: Settings, bootstrap: str, metrics: Metrics) -> faust.App:
    compat.install()
    set_model_precision(settings.embedding_precision)
    app = faust.App(settings.app_id, **faust_settings(settings, bootstrap))

    def topic(name: str) -> TopicT:
        return app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.partitions,
        )

    raw_topic = topic(TOPIC_RAW)
    activity_topic = topic(TOPIC_ACTIVITY)
    signals_topic = topic(TOPIC_SIGNALS)
    mentions_topic = topic(TOPIC_MENTIONS)
    priority_topic = topic(TOPIC_PRIORITY)
    volume_topic = topic(TOPIC_TOPIC_VOLUME)
    topics = {name: topic(name) for name in ALL_TOPICS if name != TOPIC_RAW}  # what stages send to

    def table(name: str) -> TableT[str, bytes]:
        return app.Table(
            name,
            default=None,
            key_type=str,  # Faust derives the changelog serializers from these types (bytes -> raw)
            value_type=bytes,
            partitions=settings.partitions,
        )

    alert_state = table("alert-subjects")  # cooldowns and recent event ids per person/account
    volume_state = table("alert-topic-volume")  # mentions per topic and hour, for spikes

    normalize_stage = NormalizeStage(settings, metrics)
    signal_stage = SignalStage(settings, metrics)
    rank_stage = RankStage(settings, metrics)
    priority_stage = PriorityStage(settings, metrics)
    post_alerting = PostAlerting(settings, metrics)
    spike_alerting = SpikeAlerting(settings, metrics)
    writer = GraphWriter(settings, metrics)
    half_life_s = settings.influence_half_life_hours * 3600.0

    async def send_all(outs: Sequence[Out]) -> None:
        for o in outs:
            await topics[o.topic].send(key=o.key, value=o.value, headers=o.headers)

    @app.agent(raw_topic, name="normalize")
    async def normalize_agent(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            headers = dict(event.headers or {})
            raw = RawEvent.from_headers(
                {k: (v if isinstance(v, bytes) else str(v).encode()) for k, v in headers.items()},
                event.value,
            )
            await send_all(normalize_stage.process(raw))

    install_identity_agent(
        app,
        settings=settings,
        metrics=metrics,
        service=lambda: default_service(settings, metrics),
        activity_topic=activity_topic,
        links_topic=topics[TOPIC_IDENTITY],
        commands_topic=topic(TOPIC_IDENTITY_COMMANDS),
    )

    @app.agent(signals_topic, name="ranking")
    async def ranking_agent(stream: StreamT[bytes]) -> None:
        # every record has one key (streams.signals.RANK_KEY): this worker owns the whole graph's
        # ranking while it holds that partition
        async for event in stream.events():
            if not rank_stage.loaded:
                rank_stage.load()
                if len(rank_stage.engine) == 0:  # no snapshot: start from what the graph holds
                    store = await writer.open()
                    rank_stage.rebuild(
                        await scores_graph.stored_event_edges(store),
                        await scores_graph.stored_followers(store),
                    )
            try:
                rank_stage.apply(orjson.loads(event.value), event.message.offset)
            except Exception as e:  # a record we did not write; never stop the stream
                await send_all([bad_record("ranking", TOPIC_SIGNALS, event.value, e, metrics)])
                continue
            if len(rank_stage.pending) >= MAX_PENDING:
                await flush_influence()

    async def flush_influence() -> None:
        pending = list(rank_stage.pending.values())
        outs = rank_stage.flush()
        if outs:
            try:
                await scores_graph.write_scores(await writer.open(), pending, half_life_s)
            except Exception as e:  # conflicts beyond the store's retries, the store away: next flush
                metrics.graph_write_failures.labels("scores").inc()
                log.warning(
                    "influence scores not written (%r); %d retried at the next flush", e, len(pending)
                )
                rank_stage.requeue(pending)
                return
            await send_all(outs)

    @app.timer(interval=FLUSH_S)
    async def influence_timer() -> None:
        rank_stage.maintain(KCORE_IDLE_BUDGET_S)
        await flush_influence()

    @app.timer(interval=SNAPSHOT_S)
    async def snapshot_timer() -> None:
        if rank_stage.loaded:
            await asyncio.to_thread(rank_stage.save)

    @app.agent(mentions_topic, name="priority")
    async def priority_agent(stream: StreamT[bytes]) -> None:
        # batches: one embedding call classifies their intents, one graph read finds their authors
        async for events in stream.take_events(  # type: ignore[attr-defined]  # on faust.Stream, not StreamT
            MENTION_BATCH, within=MENTION_BATCH_S
        ):
            mentions: list[dict[str, Any]] = []
            bad: list[Out] = []
            for event in events:
                try:
                    mention = orjson.loads(event.value)
                    str(mention["activity"]["actor"]["id"])  # the one field every step needs
                    mentions.append(mention)
                except Exception as e:
                    bad.append(bad_record("priority", TOPIC_MENTIONS, event.value, e, metrics))
            if mentions:
                await asyncio.to_thread(priority_stage.classify, mentions)  # model time
                ids = [str(m["activity"]["actor"]["id"]) for m in mentions]
                found = await scores_graph.authors_of(await writer.open(), ids)
                authors = {a: Author(i, p, v) for a, (i, p, v) in found.items()}
                bad.extend(priority_stage.score(mentions, authors))
            await send_all(bad)

    @app.agent(priority_topic, name="alerting")
    async def alerting_agent(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            try:
                post = ScoredPost.from_dict(orjson.loads(event.value))
            except Exception as e:
                await send_all([bad_record("alerting", TOPIC_PRIORITY, event.value, e, metrics)])
                continue
            subject = post_alerting.subject(post)
            state = SubjectState.from_bytes(alert_state.get(subject))
            emits = post_alerting.process(post, state)
            alert_state[subject] = state.to_bytes()  # de-dup memory: a redelivered post alerts once
            await send_all([Out(e.topic, e.key, e.value) for e in emits])

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
                await send_all([bad_record("spikes", TOPIC_TOPIC_VOLUME, event.value, e, metrics)])
                continue
            state = TopicVolume.from_bytes(volume_state.get(topic_name))
            emits = spike_alerting.process(count, state)
            volume_state[topic_name] = state.to_bytes()
            await send_all([Out(e.topic, e.key, e.value) for e in emits])

    @app.agent(activity_topic, name="graph")
    async def graph_agent(stream: StreamT[bytes]) -> None:
        async for events in stream.take_events(  # type: ignore[attr-defined]  # on faust.Stream, not StreamT
            settings.graph_batch_size, within=settings.graph_batch_seconds
        ):
            activities: list[Activity] = []
            bad: list[Out] = []  # dead letters, then the signals of the applied activities
            for event in events:
                try:
                    activities.append(Activity.from_dict(orjson.loads(event.value)))
                except Exception as e:
                    bad.append(bad_record("graph", TOPIC_ACTIVITY, event.value, e, metrics))
            applied, dead = await writer.write(activities, [], [])
            # scores count only what the graph applied now: a replayed event moves no score twice
            bad.extend(signal_stage.process(applied))
            await send_all(bad + dead)

    @app.task
    async def open_graph() -> None:
        await writer.open()  # waits while the graph store is still starting

    @app.timer(interval=5.0)
    async def report_lag() -> None:
        consumer = app.consumer
        # velocity counts the mentions of this worker's share of social.activity: scale it up
        assigned = sum(1 for tp in consumer.assignment() if tp.topic == TOPIC_ACTIVITY)
        signal_stage.mentions.velocity_share = assigned / settings.partitions if assigned else 1.0
        for tp in consumer.assignment():
            try:
                end = consumer.highwater(tp)
            except Exception:
                continue
            read = getattr(consumer, "_read_offset", {}).get(tp)
            if end is not None:
                metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, end - ((read or -1) + 1)))

    return app
