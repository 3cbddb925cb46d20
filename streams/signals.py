"""The signal stage: what the graph just applied, turned into what the ranker needs.

After the graph stage applies a batch (``applied`` only, so a replayed event moves no score twice),
``SignalStage`` writes ``scores.signals`` records that carry, per chunk of activities:

- ``edges``: the influence edges (``scoring.influence_engine.edges_from_activity``) as
  ``[event_id, src, dst, kind, at, weight, received_at]``;
- ``followers``: followers counts that profile events reported, ``[account_id, followers, at]``;
- ``mentions``: the company and topic mentions with their sentiment, topics, velocity and intent
  (``scoring.priority.MentionSignals``: intent is classified here, one encoder call per chunk).

Every record has the same key (``RANK_KEY``): PageRank is a global computation, so one ranker owns
it, and Kafka gives the single partition those records land in to one worker at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from activity.schema import Activity
from groundswell.metrics import Metrics
from groundswell.settings import TOPIC_SIGNALS, Settings
from scoring.influence_engine import edges_from_activity, followers_from_activity
from scoring.priority import MentionSignals
from streams.pipeline import Out

#: the key of every scores.signals record: one partition, one ranker
RANK_KEY = b"rank"
#: activities per signal record (bounds the record size and the intent batch)
CHUNK = 250


class SignalStage:
    def __init__(self, settings: Settings, metrics: Metrics, mentions: MentionSignals | None = None) -> None:
        self._m = metrics
        self.mentions = mentions or MentionSignals.from_settings(settings)

    def process(self, activities: Iterable[Activity]) -> list[Out]:
        acts = list(activities)
        outs: list[Out] = []
        for start in range(0, len(acts), CHUNK):
            record = self.record(acts[start : start + CHUNK])
            if record is not None:
                outs.append(Out(TOPIC_SIGNALS, RANK_KEY, orjson.dumps(record)))
        return outs

    def record(self, chunk: list[Activity]) -> dict[str, Any] | None:
        edges: list[list[Any]] = []
        followers: list[list[Any]] = []
        for act in chunk:
            self._m.events_in.labels("signals", act.network.value).inc()
            for e in edges_from_activity(act):
                edges.append([e.event_id, e.src, e.dst, e.kind, e.at, e.weight, act.received_at])
            count = followers_from_activity(act)
            if count is not None:
                followers.append([act.actor.id, count, act.created_at])
        mentions = [m for _, m in self.mentions.signals(chunk)]
        if not (edges or followers or mentions):
            return None
        return {"edges": edges, "followers": followers, "mentions": mentions}
