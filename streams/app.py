"""The Faust application: topics, tables and agents, thin loops around the stages.

A worker runs the stages of its role (``Settings.worker_role``): ``ingest`` (``streams.ingest_agents``:
normalize, graph, identity intake), ``scoring`` (``streams.scoring_agents``: ranking, priority,
alerts, the identity resolver; its own consumer group), or ``all`` of them. One Python process
runs its stages on one core (the GIL: a busy event loop and its threads share it), so the
one-machine default runs an ingest and a scoring worker side by side.

Every topic and table uses ``settings.partitions`` partitions (the embedded broker creates
topics with 4 on first use, and Faust needs a table's source topic and changelog to agree).
Records are raw bytes (JSON via orjson). Tables declare ``key_type=str, value_type=bytes``: Faust
derives a changelog's serializers from those types (not from a schema), so recovery decodes exactly
what was written (see ../shared/DESIGN.md "Embedded broker" and README).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import faust
from faust.types import TableT, TopicT

from embedding.encoder import set_model_precision
from groundswell.heap import freeze_long_lived
from groundswell.metrics import Metrics
from groundswell.settings import ALL_TOPICS, TOPIC_IDENTITY_COMMANDS, Settings
from streams import compat
from streams.erasure_follower import Listener, install_follower
from streams.faust_config import faust_settings
from streams.graph_writer import GraphWriter
from streams.records import Out


class InputClock:
    """When the worker's stream stages last had input: the identity resolver decides in larger,
    unpaced groups while they have had none for a while (``identity_commands.resolver_mode``)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last = clock()  # a worker just started is not yet quiet

    def touch(self) -> None:
        self._last = self._clock()

    def quiet_for(self, seconds: float) -> bool:
        return self._clock() - self._last >= seconds


@dataclass
class Wiring:
    """What the role modules share: the app, its settings and metrics, topics, the graph writer."""

    app: faust.App
    settings: Settings
    bootstrap: str
    metrics: Metrics
    topics: dict[str, TopicT]
    writer: GraphWriter
    #: called with the accounts of each erase event (all partitions; ``streams.erasure_follower``)
    erasure_listeners: list[Listener] | None = None
    #: touched by the stages that read the stream (normalize, graph, ranking, priority)
    inputs: InputClock = field(default_factory=InputClock)

    def on_erasure(self, listener: Listener) -> None:
        """Call ``listener`` with the accounts of every erase event on identity.links, on the event
        loop (the process's erasure follower, started by the first listener, reads them)."""
        if self.erasure_listeners is None:
            self.erasure_listeners = install_follower(
                self.app, self.bootstrap, f"{self.settings.worker_app_id}-erasure-follower", self.metrics
            )
        self.erasure_listeners.append(listener)

    def topic(self, name: str) -> TopicT:
        found = self.topics.get(name)
        if found is None:
            found = self.topics[name] = self.app.topic(
                name,
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
                partitions=self.settings.partitions,
            )
        return found

    def table(self, name: str) -> TableT[str, bytes]:
        return self.app.Table(
            name,
            default=None,
            key_type=str,  # Faust derives the changelog serializers from these types (bytes -> raw)
            value_type=bytes,
            partitions=self.settings.partitions,
        )

    async def send_all(self, outs: Sequence[Out]) -> None:
        for o in outs:
            await self.topic(o.topic).send(key=o.key, value=o.value, headers=o.headers, partition=o.partition)

    async def send_outputs(self, outs: Sequence[Out]) -> None:
        """Records for downstream consumers only, straight to the producer: Faust's ``topic.send``
        costs ~70 us of CPU a record, its producer ~20 us (measured)."""
        producer = self.app.producer
        for o in outs:
            await producer.send(o.topic, o.key, o.value, o.partition, None, o.headers)


def create_app(settings: Settings, bootstrap: str, metrics: Metrics) -> faust.App:
    from streams.ingest_agents import install_ingest
    from streams.scoring_agents import install_scoring

    compat.install()
    compat.set_fetch_max_wait(settings.consumer_fetch_max_wait_ms)
    set_model_precision(settings.embedding_precision)
    app = faust.App(settings.worker_app_id, **faust_settings(settings, bootstrap))
    w = Wiring(
        app,
        settings,
        bootstrap,
        metrics,
        {},
        GraphWriter(settings, metrics, io_thread=True),  # round trips not held up by the stream
    )
    for name in (*ALL_TOPICS, TOPIC_IDENTITY_COMMANDS):
        w.topic(name)
    if settings.worker_role in ("all", "ingest"):
        install_ingest(w)
    if settings.worker_role in ("all", "scoring"):
        install_scoring(w)

    @app.task
    async def open_graph() -> None:
        await w.writer.open()  # waits while the graph store is still starting
        freeze_long_lived("the worker's start", metrics)  # what the imports and Faust built

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
