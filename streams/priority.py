"""The priority stage: ``scores.mentions`` -> intent, author, priority -> ``scores.priority``.

Mentions arrive keyed by author (all partitions, so this stage scales with the workers), in
batches. ``unseen`` drops the ones this author's memory (``activity.recent``, a table keyed by the
author account) already holds: mentions leave normalize before the graph write, which is what
used to drop a redelivered or replayed event. The alerting stage's own memory is keyed by subject,
which changes once identity links the account to a person, so it cannot be the only one. Then one
graph read gets each author's composite influence (written by the ranker), person and customer
value (written by identity), and whether the account was erased (``identity.erasure``; the graph
keeps its tombstone): such a mention is withheld (``withhold_erased``), neither classified, scored
nor alerted on, and counts in ``groundswell_erased_withheld_total{what="mention"}``. One embedding
call classifies the intent of the remaining texts (in a thread, off the event loop), and
``scoring.priority.score_mention`` scores each one. The encoder's cache notes each text's author:
when an account is erased, ``forget_accounts`` drops the vectors of its texts (every scoring worker
follows the erase events: ``streams.erasure_follower``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from activity.recent import RecentEvents
from graph.scores import StoredAuthor
from groundswell.metrics import Metrics
from groundswell.settings import TOPIC_PRIORITY, Settings
from scoring.intent import IntentClassifier, default_classifier
from scoring.priority import score_mention
from scoring.priority_model import PriorityModel
from streams.records import Out

Clock = Callable[[], float]
#: an author the graph does not know yet (mentions leave normalize before the graph write)
NO_AUTHOR = StoredAuthor()


class PriorityStage:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        clock: Clock = time.time,
        intents: Callable[[], IntentClassifier] | None = None,
    ) -> None:
        self._m = metrics
        self._clock = clock
        self.model = PriorityModel.from_settings(settings)
        if intents is None and settings.intent_enabled:
            intents = default_classifier

        self._intent_factory = intents
        self._classifier: IntentClassifier | None = None

    def unseen(
        self, mentions: Sequence[dict[str, Any]], stored: Callable[[str], bytes | None]
    ) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
        """The mentions their author's memory (``stored(account)``, bytes or None) does not hold,
        in order, and the memories that changed: store them once the outputs are sent, so a crash
        in between repeats the mentions (at least once) rather than losing them."""
        memories: dict[str, RecentEvents] = {}
        changed: set[str] = set()
        fresh: list[dict[str, Any]] = []
        for mention in mentions:
            activity = mention["activity"]
            account = str(activity["actor"]["id"])
            memory = memories.get(account)
            if memory is None:
                memory = memories[account] = RecentEvents.from_bytes(stored(account))
            if memory.add(str(activity["event_id"])):
                fresh.append(mention)
                changed.add(account)
            else:
                self._m.events_repeated.labels("priority").inc()
        return fresh, {account: memories[account].to_bytes() for account in changed}

    def withhold_erased(
        self, mentions: Sequence[dict[str, Any]], authors: dict[str, StoredAuthor]
    ) -> list[dict[str, Any]]:
        """The mentions whose author is not an erased account, in order."""
        kept = [m for m in mentions if not authors.get(str(m["activity"]["actor"]["id"]), NO_AUTHOR).erased]
        if len(kept) < len(mentions):
            self._m.erased_withheld.labels("mention").inc(len(mentions) - len(kept))
        return kept

    def classify(self, mentions: Sequence[dict[str, Any]]) -> None:
        """Fill in each mention's intent, confidence and nearest example, in place (one encoder
        call for the batch; the classifier is built on first use, when the model loads)."""
        if self._intent_factory is None or not mentions:
            return
        if self._classifier is None:
            self._classifier = self._intent_factory()
        results = self._classifier.classify_many(
            [str(m["activity"].get("text") or "") for m in mentions],
            owners=[str(m["activity"]["actor"]["id"]) for m in mentions],  # erasable by author
        )
        for mention, result in zip(mentions, results, strict=True):
            if result.intent is not None:
                mention["intent"] = result.intent
                mention["intent_confidence"] = result.confidence
                mention["intent_evidence"] = result.evidence

    def forget_accounts(self, account_ids: Sequence[str]) -> int:
        """Erase the intent vectors cached for these accounts' texts (any thread); -> how many were
        dropped (``groundswell_erased_forgotten_total{what="intent_vector"}``)."""
        classifier = self._classifier
        dropped = classifier.forget_owners(account_ids) if classifier is not None else 0
        if dropped:
            self._m.erased_forgotten.labels("intent_vector").inc(dropped)
        return dropped

    def score(self, mentions: Sequence[dict[str, Any]], authors: dict[str, StoredAuthor]) -> list[Out]:
        """``scores.priority`` records (keyed by person, else author account)."""
        outs: list[Out] = []
        now = self._clock()
        for mention in mentions:
            account = str(mention["activity"]["actor"]["id"])
            author = authors.get(account, NO_AUTHOR)
            post = score_mention(
                mention,
                author.influence,
                customer_value=author.customer_value,
                person_id=author.person_id,
                model=self.model,  # recency from the post's own receive time: replays score alike
            )
            outs.append(Out(TOPIC_PRIORITY, (author.person_id or account).encode(), post.to_bytes()))
            self._m.events_out.labels("priority", post.network).inc()
            self._m.stage_latency.labels("priority").observe(max(0.0, now - post.received_at))
        return outs
