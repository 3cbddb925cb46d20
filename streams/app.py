"""The Faust application: topics, tables and agents, thin loops around streams.pipeline.

Every topic and table uses ``settings.partitions`` partitions (the embedded broker creates
topics with 4 on first use, and Faust needs a table's source topic and changelog to agree).
Records are raw bytes (JSON via orjson). Tables declare ``key_type=str, value_type=bytes``: Faust
derives a changelog's serializers from those types (not from a schema), so recovery decodes exactly
what was written (see ../shared/DESIGN.md "Embedded broker" and README).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import faust
import orjson
from faust.types import StreamT, TableT, TopicT

from activity.raw import RawEvent
from activity.schema import Activity
from groundswell.metrics import Metrics
from groundswell.settings import (
    ALL_TOPICS,
    TOPIC_ACTIVITY,
    TOPIC_IDENTITY,
    TOPIC_INFLUENCE,
    TOPIC_PRIORITY,
    TOPIC_RAW,
    TOPIC_SIGNALS,
    Settings,
)
from identity.resolver import IdentityLink
from scoring.influence import NO_SCORE
from scoring.priority import ScoredPost
from streams.compat import tolerate_mock_sync_group_invalid_request
from streams.faust_config import faust_settings
from streams.graph_writer import GraphWriter
from streams.pipeline import (
    AlertStage,
    IdentityStage,
    InfluenceState,
    NormalizeStage,
    Out,
    ScoringResult,
    ScoringStage,
    SignalStage,
    bad_record,
)

log = logging.getLogger(__name__)

BATCH = 500
SCORE_FLUSH_S = 0.25


def create_app(settings: Settings, bootstrap: str, metrics: Metrics) -> faust.App:
    tolerate_mock_sync_group_invalid_request()
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
    priority_topic = topic(TOPIC_PRIORITY)
    topics = {name: topic(name) for name in ALL_TOPICS if name != TOPIC_RAW}  # what stages send to
    graph_topic = app.topic(
        TOPIC_ACTIVITY,
        TOPIC_IDENTITY,
        TOPIC_INFLUENCE,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    def table(name: str) -> TableT[str, bytes]:
        return app.Table(
            name,
            default=None,
            key_type=str,  # Faust derives the changelog serializers from these types (bytes -> raw)
            value_type=bytes,
            partitions=settings.partitions,
        )

    linked = table("identity-linked")
    influence_table = table("influence")
    alerted = table("alerted")

    normalize_stage = NormalizeStage(settings, metrics)
    identity_stage = IdentityStage(metrics)
    signal_stage = SignalStage(settings, metrics)
    scoring_stage = ScoringStage(settings, metrics)
    alert_stage = AlertStage(settings, metrics)
    writer = GraphWriter(settings, metrics)

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

    @app.agent(activity_topic, name="identity")
    async def identity_agent(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            # the record key is the actor's account id: decode the activity only for a new account
            account = event.key.decode() if isinstance(event.key, bytes) else ""
            if account and linked.get(account) is not None:
                identity_stage.seen()
                continue
            try:
                activity = Activity.from_dict(orjson.loads(event.value))
            except Exception as e:  # a record we did not write; never stop the stream
                await send_all([bad_record("identity", TOPIC_ACTIVITY, event.value, e, metrics)])
                continue
            out = identity_stage.process(activity, already_linked=False)
            if out is not None:
                linked[activity.actor.id] = b"1"
                await send_all([out])

    pending_scores = ScoringResult()

    async def flush_scores() -> None:
        nonlocal pending_scores
        if pending_scores.updated:
            done, pending_scores = pending_scores, ScoringResult()
            scoring_stage.finish(done)
            await send_all(done.outs)

    @app.agent(signals_topic, name="scoring")
    async def scoring_agent(stream: StreamT[bytes]) -> None:
        # one event at a time: Faust tables need the current event to know their partition;
        # influence updates are coalesced per account and sent every SCORE_FLUSH_S (flush_timer)
        async for event in stream.events():
            account = event.key.decode() if isinstance(event.key, bytes) else str(event.key)
            try:
                signal = orjson.loads(event.value)
            except orjson.JSONDecodeError as e:
                await send_all([bad_record("scoring", TOPIC_SIGNALS, event.value, e, metrics)])
                continue
            state = pending_scores.updated.get(account)
            if state is None:
                stored = influence_table.get(account)
                if stored is not None:
                    state = InfluenceState.from_bytes(stored)
                else:  # unknown here (new account, or the broker restarted empty): the graph knows
                    kept = await writer.stored_influence(account)
                    state = InfluenceState(log_score=NO_SCORE if kept is None else kept)
            result = ScoringResult(updated=pending_scores.updated)
            scoring_stage.apply(account, state, event.message.offset, signal, result)
            influence_table[account] = state.to_bytes()
            await send_all(result.outs)
            if len(pending_scores.updated) >= BATCH:
                await flush_scores()

    @app.timer(interval=SCORE_FLUSH_S)
    async def flush_timer() -> None:
        await flush_scores()

    @app.agent(priority_topic, name="alerting")
    async def alerting_agent(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            account = event.key.decode() if isinstance(event.key, bytes) else str(event.key)
            last = alerted.get(account)
            if last is not None and int(last) >= event.message.offset:
                continue  # redelivered after a restart: its alert went out already
            try:
                post = ScoredPost.from_dict(orjson.loads(event.value))
            except Exception as e:
                await send_all([bad_record("alerting", TOPIC_PRIORITY, event.value, e, metrics)])
                continue
            await send_all(alert_stage.process(post))
            alerted[account] = str(event.message.offset).encode()

    @app.agent(graph_topic, name="graph")
    async def graph_agent(stream: StreamT[bytes]) -> None:
        async for events in stream.take_events(  # type: ignore[attr-defined]  # on faust.Stream, not StreamT
            settings.graph_batch_size, within=settings.graph_batch_seconds
        ):
            activities: list[Activity] = []
            links: list[IdentityLink] = []
            scores: list[tuple[str, float, float]] = []
            bad: list[Out] = []  # dead letters, then the signals of the applied activities
            for event in events:
                name = event.message.topic
                try:
                    d = orjson.loads(event.value)
                    if name == TOPIC_ACTIVITY:
                        activities.append(Activity.from_dict(d))
                    elif name == TOPIC_IDENTITY:
                        links.append(IdentityLink.from_dict(d))
                    elif name == TOPIC_INFLUENCE:
                        scores.append((d["account_id"], float(d["influence_log"]), float(d["at"])))
                except Exception as e:
                    bad.append(bad_record("graph", name, event.value, e, metrics))
            applied, dead = await writer.write(activities, links, scores)
            # scores count only what the graph applied now: a replayed event moves no score twice
            bad.extend(signal_stage.process(applied))
            await send_all(bad + dead)

    @app.task
    async def open_graph() -> None:
        await writer.open()  # waits while the graph store is still starting

    @app.timer(interval=5.0)
    async def report_lag() -> None:
        consumer = app.consumer
        for tp in consumer.assignment():
            try:
                end = consumer.highwater(tp)
            except Exception:
                continue
            read = getattr(consumer, "_read_offset", {}).get(tp)
            if end is not None:
                metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, end - ((read or -1) + 1)))

    return app
