"""The signal stage: activities turned into what the ranker and the priority stage need.

``SignalStage`` writes two kinds of records:

- ``ranking(activities)``: ``scores.signals`` records that carry, per chunk of activities,
  ``edges``, the influence edges (``scoring.influence_engine.edges_from_activity``) as
  ``[event_id, src, dst, kind, at, weight, received_at]``, and ``followers``, the followers counts
  that profile events reported, ``[account_id, followers, at]``. They leave at normalize, before the
  graph write: the influence engine applies each event id once by itself (its applied window, also
  filled when it seeds from the graph's event markers), so a replay moves no score twice, and an
  interaction moves the scores without waiting for a graph batch (at 1,000 events/s the graph
  stage held them back by seconds);
- ``mentions_of(activities)``: for each company or topic mention, keyed by its author, an item of a
  ``scores.mentions`` batch record (``streams.records``) with its sentiment, topics and velocity
  (``scoring.priority.MentionSignals``). These too leave at normalize: the velocity counts each
  event id once within its window (``scoring.velocity``), and the alerting stage remembers each
  subject's latest decided event ids (``alerts.rules.SubjectState``), so a redelivered mention
  neither alerts nor counts twice. The priority stage reads the author from the graph: an account
  the graph has not written yet reads as a new one (no influence, no person), as it would right
  after its first write. Intent is classified by the priority stage (``streams.priority``), so the
  embedding model is never on the graph's path.

Every ``scores.signals`` record has the same key (``RANK_KEY``): PageRank is a global computation,
so one ranker owns it, and Kafka gives the single partition those records land in to one worker at
a time. Mentions spread over all partitions by author.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from activity.schema import Activity
from groundswell.metrics import Metrics
from groundswell.settings import TOPIC_MENTIONS, TOPIC_SIGNALS, Settings
from scoring.influence_engine import edges_from_activity, followers_from_activity
from scoring.priority import MentionSignals, TopicMatcher
from scoring.velocity import VelocityTracker
from streams.records import Out, batch_records

#: the key of every scores.signals record: one partition, one ranker
RANK_KEY = b"rank"
#: activities per signal record (bounds the record size and the intent batch)
CHUNK = 250


class SignalStage:
    def __init__(self, settings: Settings, metrics: Metrics, mentions: MentionSignals | None = None) -> None:
        self._m = metrics
        self._partitions = settings.partitions
        self.mentions = mentions or MentionSignals(
            TopicMatcher.from_settings(settings),
            velocity=VelocityTracker(window_s=settings.priority_velocity_window_minutes * 60.0),
        )  # no intent classifier here: streams.priority classifies

    def ranking(self, activities: Sequence[Activity]) -> list[Out]:
        """``scores.signals`` records for the ranker, one per chunk that has edges or followers."""
        outs: list[Out] = []
        for start in range(0, len(activities), CHUNK):
            record = self.record(activities[start : start + CHUNK])
            if record is not None:
                outs.append(Out(TOPIC_SIGNALS, RANK_KEY, orjson.dumps(record)))
        return outs

    def mentions_of(self, activities: Sequence[Activity]) -> list[Out]:
        """``scores.mentions`` batch records for the company and topic mentions among ``activities``."""
        found = self.mentions.signals(activities)
        mentions = [(act.actor.id.encode(), orjson.dumps(mention)) for act, mention in found]
        return batch_records(TOPIC_MENTIONS, mentions, self._partitions)

    def record(self, chunk: Sequence[Activity]) -> dict[str, Any] | None:
        edges: list[list[Any]] = []
        followers: list[list[Any]] = []
        for act in chunk:
            self._m.events_in.labels("signals", act.network.value).inc()
            for e in edges_from_activity(act):
                edges.append([e.event_id, e.src, e.dst, e.kind, e.at, e.weight, act.received_at])
            count = followers_from_activity(act)
            if count is not None:
                followers.append([act.actor.id, count, act.created_at])
        if not (edges or followers):
            return None
        return {"edges": edges, "followers": followers}
