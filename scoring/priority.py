"""Which posts concern the company or its topics, how they feel, and how urgent they are.

``TopicMatcher`` says which topics a post touches (the company itself, by its accounts, handles,
keywords and hashtags, plus configured topics); ``Sentiment`` is VADER; ``score_post`` builds the
``ScoredPost`` (the record on ``scores.priority``) with the priority of
``scoring.priority_model.combine``. Intent comes from ``scoring.intent``, velocity from
``scoring.velocity``; both run in batches upstream and arrive here as plain values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from activity.schema import TEXT_KINDS, Activity
from scoring.priority_model import DEFAULT_MODEL, INTENT_URGENCY, PriorityModel, combine
from scoring.velocity import VelocityTracker

if TYPE_CHECKING:
    from groundswell.settings import Settings
    from scoring.intent import IntentClassifier, IntentResult


class CompanyMatcher:
    """Does an activity mention the company? By its accounts, its handles, keywords or hashtags."""

    def __init__(self, keywords: Iterable[str], accounts: Iterable[str]) -> None:
        words = sorted({k.strip().lower() for k in keywords if k.strip()})
        self._accounts = frozenset(accounts)
        self._words = frozenset(w.lstrip("@#") for w in words)
        self._pattern = (
            re.compile(
                r"(?<![\w])[@#]?(" + "|".join(re.escape(w.lstrip("@#")) for w in words) + r")(?![\w])", re.I
            )
            if words
            else None
        )

    def mentions_company(self, activity: Activity) -> bool:
        if activity.kind not in TEXT_KINDS:
            return False
        if any(m.id in self._accounts for m in activity.mentions):
            return True
        if activity.target_account is not None and activity.target_account.id in self._accounts:
            return True
        if any(
            (m.handle or "").lower().split("@")[0].split(".")[0] in self._words for m in activity.mentions
        ):
            return True
        if any(h.lower() in self._words for h in activity.hashtags):
            return True
        return bool(self._pattern and activity.text and self._pattern.search(activity.text))


class Sentiment:
    """VADER (a lexicon and rules made for social text): compound score in [-1, 1]."""

    def __init__(self) -> None:
        self._analyzer = SentimentIntensityAnalyzer()

    def compound(self, text: str) -> float:
        return float(self._analyzer.polarity_scores(text[:5000])["compound"])


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic besides the company: its name and the keywords, #hashtags and @handles that mean it."""

    name: str
    keywords: tuple[str, ...]

    @classmethod
    def parse(cls, spec: str) -> TopicSpec:
        """``"name:keyword,keyword,#hashtag"`` (the settings form); a clear ValueError otherwise."""
        name, sep, words = spec.partition(":")
        keywords = tuple(w.strip() for w in words.split(",") if w.strip().lstrip("@#"))
        if not sep or not name.strip() or not keywords:
            raise ValueError(f"topic {spec!r} is not 'name:keyword,keyword,...'")
        return cls(name=name.strip().lower(), keywords=keywords)


class TopicMatcher:
    """Which topics an activity touches: the company (named ``company_topic``) by its accounts,
    handles, keywords or hashtags, and each configured topic by its keywords. A post that touches
    any of them is scored; the names travel with it in ``ScoredPost.topics``."""

    def __init__(
        self,
        company_topic: str,
        company_keywords: Iterable[str],
        company_accounts: Iterable[str] = (),
        topics: Iterable[TopicSpec] = (),
    ) -> None:
        self._company_topic = company_topic.strip().lower()
        self._company = CompanyMatcher(company_keywords, company_accounts)
        self._topics = [(t.name, CompanyMatcher(t.keywords, ())) for t in topics]
        names = [self._company_topic, *(name for name, _ in self._topics)]
        if len(set(names)) != len(names):
            raise ValueError(
                f"topic names must be distinct (the company is {self._company_topic!r}): {names}"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> TopicMatcher:
        return cls(
            settings.company_id,
            settings.company_keywords,
            settings.company_accounts,
            [TopicSpec.parse(spec) for spec in settings.priority_topics],
        )

    @property
    def names(self) -> tuple[str, ...]:
        return (self._company_topic, *(name for name, _ in self._topics))

    def topics(self, activity: Activity) -> tuple[str, ...]:
        """The names of the topics this activity touches, company first; () for none (or no text kind)."""
        if activity.kind not in TEXT_KINDS:
            return ()
        found = [self._company_topic] if self._company.mentions_company(activity) else []
        found.extend(name for name, m in self._topics if m.mentions_company(activity))
        return tuple(found)


@dataclass(frozen=True, slots=True)
class ScoredPost:
    """A post that mentions the company or a topic, with its signals, a priority in [0, 1], the
    reasons in words and each signal's contribution (``breakdown``, summing to ``priority``)."""

    event_id: str
    account_id: str
    post_id: str | None
    network: str
    text: str
    created_at: float
    received_at: float
    sentiment: float
    influence: float
    priority: float
    reasons: tuple[str, ...]
    intent: str | None = None  # "complaint", "purchase_intent", "churn_risk", "question" or None
    intent_confidence: float = 0.0
    person_id: str | None = None
    topics: tuple[str, ...] = ()
    customer_value: float | None = None
    velocity: float = 0.0  # mentions/hour of the post's busiest topic
    breakdown: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "account_id": self.account_id,
            "post_id": self.post_id,
            "network": self.network,
            "text": self.text,
            "created_at": self.created_at,
            "received_at": self.received_at,
            "sentiment": self.sentiment,
            "influence": self.influence,
            "priority": self.priority,
            "reasons": list(self.reasons),
            "intent": self.intent,
            "intent_confidence": self.intent_confidence,
            "person_id": self.person_id,
            "topics": list(self.topics),
            "customer_value": self.customer_value,
            "velocity": self.velocity,
            "breakdown": [[name, value] for name, value in self.breakdown],
        }

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScoredPost:
        """Accepts records written before the intent/topic fields existed, and ignores keys it does
        not know (an alert record carries the post's fields next to its own)."""
        known = {k: v for k, v in d.items() if k in _FIELDS}
        known["reasons"] = tuple(d["reasons"])
        known["topics"] = tuple(d.get("topics") or ())
        known["breakdown"] = tuple((str(name), float(value)) for name, value in d.get("breakdown") or ())
        return cls(**known)


_FIELDS = frozenset(ScoredPost.__dataclass_fields__)

#: influence at which the influence part of the priority reaches one half of its weight
INFLUENCE_SCALE = DEFAULT_MODEL.influence_scale


def score_post(
    activity: Activity,
    sentiment: float,
    influence: float,
    *,
    intent: str | None = None,
    intent_confidence: float = 0.0,
    intent_evidence: str | None = None,
    customer_value: float | None = None,
    velocity: float = 0.0,
    topics: tuple[str, ...] = (),
    now: float | None = None,
    person_id: str | None = None,
    model: PriorityModel = DEFAULT_MODEL,
) -> ScoredPost:
    """Score one post. ``now`` (for recency) defaults to when Groundswell received the post, so a
    stream scored late or replayed is judged by how stale it was on arrival, not by the replay's
    clock. ``intent_evidence`` (the nearest labelled example) is added to the reasons."""
    age = (activity.received_at if now is None else now) - activity.created_at
    p = combine(
        sentiment=sentiment,
        influence=influence,
        intent=intent,
        intent_confidence=intent_confidence,
        customer_value=customer_value,
        velocity=velocity,
        age_s=age,
        model=model,
    )
    reasons = list(p.reasons)
    if intent is not None and intent_evidence:
        reasons.append(f'{intent} like "{intent_evidence[:80]}"')
    return ScoredPost(
        event_id=activity.event_id,
        account_id=activity.actor.id,
        post_id=activity.post_id,
        network=activity.network.value,
        text=(activity.text or "")[:1000],
        created_at=activity.created_at,
        received_at=activity.received_at,
        sentiment=round(sentiment, 4),
        influence=round(influence, 4),
        priority=p.value,
        reasons=tuple(reasons),
        intent=intent,
        intent_confidence=round(intent_confidence, 4) if intent is not None else 0.0,
        person_id=person_id,
        topics=tuple(topics),
        customer_value=customer_value,
        velocity=round(velocity, 4),
        breakdown=p.breakdown,
    )


class MentionSignals:
    """The per-post signals the scorer needs, computed once per batch of activities where the
    activities are (the signal stage): topics, sentiment, intent and velocity.

    Intent costs model time, so the texts of a batch's mentions are classified in one encoder call;
    the classifier is built on the first batch that has a mention (the model loads then, not at
    start-up). Velocity is counted from the mentions this instance sees: run on a share of the
    partitions, set ``velocity_share`` (assigned / total) and the rate is scaled up by it.
    """

    def __init__(
        self,
        matcher: TopicMatcher,
        *,
        sentiment: Sentiment | None = None,
        intents: Callable[[], IntentClassifier] | None = None,
        velocity: VelocityTracker | None = None,
    ) -> None:
        self._matcher = matcher
        self._sentiment = sentiment or Sentiment()
        self._intent_factory = intents
        self._classifier: IntentClassifier | None = None
        self.velocity = velocity or VelocityTracker()
        self.velocity_share = 1.0

    @classmethod
    def from_settings(cls, settings: Settings) -> MentionSignals:
        intents: Callable[[], IntentClassifier] | None = None
        if settings.intent_enabled:
            from scoring.intent import default_classifier

            intents = default_classifier

        return cls(
            TopicMatcher.from_settings(settings),
            intents=intents,
            velocity=VelocityTracker(window_s=settings.priority_velocity_window_minutes * 60.0),
        )

    def signals(self, activities: Iterable[Activity]) -> list[tuple[Activity, dict[str, Any]]]:
        """``(activity, mention record)`` for each activity that touches the company or a topic, in
        order. The record is plain JSON (it travels on ``scores.signals``); ``score_mention`` reads it."""
        found = [(a, topics) for a in activities if (topics := self._matcher.topics(a))]
        if not found:
            return []
        texts = [a.text or "" for a, _ in found]
        intents = self._classify(texts)
        share = self.velocity_share if self.velocity_share > 0.0 else 1.0
        out: list[tuple[Activity, dict[str, Any]]] = []
        for (activity, topics), text, intent in zip(found, texts, intents, strict=True):
            for topic in topics:
                self.velocity.observe(topic, activity.event_id, activity.created_at)
            record: dict[str, Any] = {
                "activity": activity.to_dict(),
                "sentiment": self._sentiment.compound(text),
                "topics": list(topics),
                "velocity": self.velocity.rates(topics, activity.created_at) / share,
                "intent": None,
                "intent_confidence": 0.0,
                "intent_evidence": None,
            }
            if intent is not None and intent.intent is not None:
                record["intent"] = intent.intent
                record["intent_confidence"] = intent.confidence
                record["intent_evidence"] = intent.evidence
            out.append((activity, record))
        return out

    def _classify(self, texts: Sequence[str]) -> Sequence[IntentResult | None]:
        if self._intent_factory is None:
            return [None] * len(texts)
        if self._classifier is None:
            self._classifier = self._intent_factory()
        return self._classifier.classify_many(texts)


def score_mention(
    mention: dict[str, Any],
    influence: float,
    *,
    customer_value: float | None = None,
    person_id: str | None = None,
    now: float | None = None,
    model: PriorityModel = DEFAULT_MODEL,
) -> ScoredPost:
    """Score a mention record of ``MentionSignals.signals`` (records written before intent, topics and
    velocity existed carry only ``activity`` and ``sentiment``; they score without them)."""
    intent = mention.get("intent")
    return score_post(
        Activity.from_dict(mention["activity"]),
        float(mention["sentiment"]),
        influence,
        intent=intent if intent in INTENT_URGENCY else None,
        intent_confidence=float(mention.get("intent_confidence") or 0.0),
        intent_evidence=mention.get("intent_evidence"),
        customer_value=customer_value,
        velocity=float(mention.get("velocity") or 0.0),
        topics=tuple(mention.get("topics") or ()),
        now=now,
        person_id=person_id,
        model=model,
    )
