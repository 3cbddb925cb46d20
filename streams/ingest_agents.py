"""The ingest role: social.raw -> normalize -> social.activity -> graph (+ identity intake, signals).

- ``normalize`` takes raw events in batches and sends their activities as one batch record per
  partition (``streams.records``), their ranking signals and their mentions (``streams.signals``);
- ``graph`` takes ``graph_take_records`` activity batch records at a time (or what arrived within
  ``graph_batch_seconds``), writes them in ``graph_batch_size`` chunks (the writer
  runs on the graph I/O thread, so while one chunk is in the store the previous one's results are
  worked out here), then turns what it saw into identity commands
  (``streams.identity_agent.IdentityIntake``). The records are acknowledged only after their last
  chunk is written (at-least-once; every effect is keyed by event id).
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.types import StreamT

from activity.raw import RawEvent
from activity.schema import Activity
from groundswell.settings import TOPIC_ACTIVITY, TOPIC_IDENTITY_COMMANDS, TOPIC_RAW
from streams.app import Wiring
from streams.graph_writer import WriteResult
from streams.identity_agent import install_identity_intake
from streams.pipeline import NormalizeStage, activity_records, unpack_all
from streams.produce import LagProbe
from streams.records import Out
from streams.signals import SignalStage

#: raw events normalized together (their activities leave as one batch record per partition)
INGEST_BATCH = 500
#: how often the intake reads the resolver's backlog
BACKLOG_S = 2.0


def install_ingest(w: Wiring) -> None:
    app, settings, metrics = w.app, w.settings, w.metrics
    normalize_stage = NormalizeStage(settings, metrics)
    signal_stage = SignalStage(settings, metrics)

    async def erased_accounts() -> list[str]:
        return await (await w.writer.open()).erased_accounts()

    intake = install_identity_intake(
        app, settings, metrics, on_erasure=w.on_erasure, erased_accounts=erased_accounts
    )
    backlog_probe = LagProbe(
        w.bootstrap, settings.consumer_groups, settings.partitions, (TOPIC_IDENTITY_COMMANDS,)
    )

    @app.agent(w.topic(TOPIC_RAW), name="normalize")
    async def normalize_agent(stream: StreamT[bytes]) -> None:
        async for events in stream.take_events(  # type: ignore[attr-defined]  # on faust.Stream, not StreamT
            INGEST_BATCH, within=settings.normalize_batch_seconds
        ):
            w.inputs.touch()
            raws = []
            for event in events:
                headers = dict(event.headers or {})
                raws.append(
                    RawEvent.from_headers(
                        {k: (v if isinstance(v, bytes) else str(v).encode()) for k, v in headers.items()},
                        event.value,
                    )
                )
            activities, dead = normalize_stage.normalize(raws)
            # the ranker's signals and the mentions leave now, not after the graph write: the
            # influence engine and the alerting stage each remember the event ids they applied
            # (streams.signals)
            await w.send_all(
                dead
                + activity_records(activities, settings.partitions)
                + signal_stage.ranking(activities)
                + signal_stage.mentions_of(activities)
            )

    def after_write(chunk: list[Activity], result: WriteResult) -> list[Out]:
        # who is speaking: new accounts and changed profiles go to the resolver (after the write,
        # so the resolver finds the accounts in the graph), none of an account the graph holds as erased
        return result.dead + intake.commands(chunk, erased=result.erased)

    @app.agent(w.topic(TOPIC_ACTIVITY), name="graph")
    async def graph_agent(stream: StreamT[bytes]) -> None:
        async for events in stream.take_events(  # type: ignore[attr-defined]  # on faust.Stream, not StreamT
            settings.graph_take_records, within=settings.graph_batch_seconds
        ):
            w.inputs.touch()
            # outs: dead letters, then signals, mentions, identity commands
            activities, outs = unpack_all(
                (e.value for e in events), Activity.from_dict, "graph", TOPIC_ACTIVITY, metrics
            )
            in_flight: list[tuple[list[Activity], asyncio.Future[Any]]] = []
            for start in range(0, len(activities), settings.graph_batch_size):
                chunk = activities[start : start + settings.graph_batch_size]
                in_flight.append((chunk, await w.writer.submit(chunk, [], [])))
                while len(in_flight) > 1 and in_flight[0][1].done():
                    done_chunk, fut = in_flight.pop(0)
                    outs.extend(after_write(done_chunk, fut.result()))
            for done_chunk, fut in in_flight:
                outs.extend(after_write(done_chunk, await fut))
            await w.send_all(outs)

    @app.timer(interval=BACKLOG_S)
    async def identity_backlog() -> None:
        lags = await asyncio.to_thread(backlog_probe.lags)
        intake.backlog = sum(lags.values())
        metrics.identity_backlog.set(intake.backlog)

    @app.timer(interval=5.0)
    async def velocity_share() -> None:
        # velocity counts the mentions of this worker's share of social.activity: scale it up
        assigned = sum(1 for tp in app.consumer.assignment() if tp.topic == TOPIC_ACTIVITY)
        signal_stage.mentions.velocity_share = assigned / settings.partitions if assigned else 1.0
