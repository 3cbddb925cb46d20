"""Turn a batch of activities and identity links into a ``WritePlan`` (pure: no I/O, no clock).

The plan is what one graph write transaction does: de-duplicated node upserts, edge increments
keyed by ``(kind, src, dst)`` with a count delta and the first/last event time, one ``Event``
marker per applied event (with the edges it contributed, so a later delete can undo them) and the
ids that DELETE activities name.

Edge kinds (``EDGE_KINDS``) are the fixed whitelist the store builds its Cypher from. A kind is
the relationship type, except ``MENTIONED_COMPANY``: ``(Account)-[:MENTIONED]->(Company)``, kept
apart because its target label differs from ``(Account)-[:MENTIONED]->(Account)``.

``count`` on an edge is the number of distinct events that produced it: one event contributes at
most 1 to any edge (a post naming the same account twice mentions it once). Account-to-account
self-edges (replying to or liking oneself) are not recorded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from activity.schema import AccountRef, Activity, ActivityKind

MAX_TEXT_CHARS = 2_000

#: node labels the store may write, in upsert order
NODE_LABELS = ("Person", "Company", "Account", "Post", "Event")


@dataclass(frozen=True, slots=True)
class EdgeSpec:
    rel_type: str
    src_label: str
    dst_label: str


#: the whitelist: edge kind -> relationship type and endpoint labels
EDGE_KINDS: dict[str, EdgeSpec] = {
    "AUTHORED": EdgeSpec("AUTHORED", "Account", "Post"),
    "MENTIONED": EdgeSpec("MENTIONED", "Account", "Account"),
    "MENTIONED_COMPANY": EdgeSpec("MENTIONED", "Account", "Company"),
    "REPLIED_TO": EdgeSpec("REPLIED_TO", "Account", "Account"),
    "REPOSTED": EdgeSpec("REPOSTED", "Account", "Account"),
    "QUOTED": EdgeSpec("QUOTED", "Account", "Account"),
    "LIKED": EdgeSpec("LIKED", "Account", "Account"),
    "FOLLOWS": EdgeSpec("FOLLOWS", "Account", "Account"),
    "ACCOUNT_OF": EdgeSpec("ACCOUNT_OF", "Account", "Person"),
    "REPLY_TO": EdgeSpec("REPLY_TO", "Post", "Post"),
    "QUOTES": EdgeSpec("QUOTES", "Post", "Post"),
}
#: relationship types (distinct), for counts and views
REL_TYPES = tuple(dict.fromkeys(spec.rel_type for spec in EDGE_KINDS.values()))

#: (kind, src id, dst id)
EdgeKey = tuple[str, str, str]

_ACCOUNT_EDGE_BY_KIND = {
    ActivityKind.REPLY: "REPLIED_TO",
    ActivityKind.REPOST: "REPOSTED",
    ActivityKind.QUOTE: "QUOTED",
    ActivityKind.LIKE: "LIKED",
    ActivityKind.FOLLOW: "FOLLOWS",
    ActivityKind.MENTION: "MENTIONED",
}
_POST_KINDS = frozenset({ActivityKind.POST, ActivityKind.REPLY, ActivityKind.MENTION, ActivityKind.QUOTE})


class LinkLike(Protocol):
    """What the planner reads from an identity link (``identity.resolver.IdentityLink`` fits)."""

    @property
    def account_id(self) -> str: ...
    @property
    def person_id(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def event_id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class IdentityLink:
    """An account belongs to a person, as decided while processing ``event_id``."""

    account_id: str
    person_id: str
    confidence: float
    event_id: str
    at: float | None = None  # when it was decided (epoch seconds); None: the event's time or ``now``


@dataclass(frozen=True, slots=True)
class Company:
    id: str
    name: str


@dataclass(slots=True)
class EdgeDelta:
    count: int
    first_seen: float
    last_seen: float
    confidence: float | None = None  # ACCOUNT_OF only: the highest link confidence


@dataclass(frozen=True, slots=True)
class EventMarker:
    """One applied event: what it contributed, so that replays skip it and deletes undo it."""

    id: str
    kind: str
    at: float
    edges: tuple[EdgeKey, ...] = ()
    post_id: str | None = None  # the post this event created
    deletes: str | None = None  # DELETE: the record id it names


@dataclass(slots=True)
class WritePlan:
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    persons: dict[str, dict[str, Any]] = field(default_factory=dict)
    companies: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: dict[EdgeKey, EdgeDelta] = field(default_factory=dict)
    events: list[EventMarker] = field(default_factory=list)
    #: record ids named by DELETE activities (post ids and/or event ids)
    delete_targets: list[str] = field(default_factory=list)
    activity_events: int = 0  # distinct activities planned
    link_events: int = 0  # distinct links planned

    def nodes(self, label: str) -> dict[str, dict[str, Any]]:
        return {
            "Account": self.accounts,
            "Post": self.posts,
            "Person": self.persons,
            "Company": self.companies,
        }[label]

    @property
    def is_empty(self) -> bool:
        return not self.events


def link_marker_id(link: LinkLike) -> str:
    """Event-marker id of a link: apart from the activity's own marker (links come later)."""
    return f"link:{link.event_id}:{link.account_id}:{link.person_id}"


def dedupe_activities(activities: Iterable[Activity]) -> list[Activity]:
    """First occurrence of each event id, in event-time order (stable)."""
    seen: dict[str, Activity] = {}
    for act in activities:
        seen.setdefault(act.event_id, act)
    return sorted(seen.values(), key=lambda a: a.created_at)


def company_matcher(
    keywords: Sequence[str], company_accounts: Sequence[str] = ()
) -> Callable[[Activity], bool]:
    """A predicate: the activity's text names a keyword (whole word, any case) or it mentions,
    replies to, reposts or quotes one of the company's own accounts."""
    words = [k.strip() for k in keywords if k.strip()]
    pattern = (
        re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)", re.I)
        if words
        else None
    )
    own = frozenset(company_accounts)

    def matches(act: Activity) -> bool:
        if act.kind not in _POST_KINDS and act.kind not in (ActivityKind.REPOST,):
            return False
        if pattern is not None and act.text and pattern.search(act.text):
            return True
        refs = [*act.mentions, *([act.target_account] if act.target_account else [])]
        return any(r.id in own for r in refs)

    return matches


def build_plan(
    activities: Iterable[Activity],
    links: Iterable[LinkLike] = (),
    *,
    company: Company | None = None,
    mentions_company: Callable[[Activity], bool] | None = None,
    now: float = 0.0,
) -> WritePlan:
    """Plan the writes for a batch. Duplicated event ids count once; ``now`` dates links that
    carry no time of their own and whose event is not in the batch."""
    builder = _Builder()
    acts = dedupe_activities(activities)
    times = {a.event_id: a.created_at for a in acts}
    for act in acts:
        builder.add_activity(act, company if mentions_company and company and mentions_company(act) else None)
    seen_links: set[str] = set()
    for link in links:
        marker = link_marker_id(link)
        if marker in seen_links or not link.account_id or not link.person_id:
            continue
        seen_links.add(marker)
        at = getattr(link, "at", None)
        builder.add_link(link, marker, float(at) if at is not None else times.get(link.event_id, now))
    builder.plan.activity_events = len(acts)
    builder.plan.link_events = len(seen_links)
    return builder.plan


class _Builder:
    def __init__(self) -> None:
        self.plan = WritePlan()

    # -- nodes -------------------------------------------------------------------------------
    def account(self, ref: AccountRef, **props: Any) -> str:
        props = {
            "network": ref.network.value,
            "handle": ref.handle,
            "display_name": ref.display_name,
            **props,
        }
        node = self.plan.accounts.setdefault(ref.id, {})
        node.update({k: v for k, v in props.items() if v is not None})
        return ref.id

    def bare(self, label: str, node_id: str, **props: Any) -> str:
        node = self.plan.nodes(label).setdefault(node_id, {})
        node.update({k: v for k, v in props.items() if v is not None})
        return node_id

    # -- edges -------------------------------------------------------------------------------
    def edge(self, contributed: dict[EdgeKey, None], kind: str, src: str, dst: str) -> None:
        spec = EDGE_KINDS[kind]
        if not src or not dst or (src == dst and spec.src_label == spec.dst_label == "Account"):
            return
        contributed[(kind, src, dst)] = None

    def commit(self, contributed: dict[EdgeKey, None], at: float, confidence: float | None = None) -> None:
        for key in contributed:
            delta = self.plan.edges.get(key)
            if delta is None:
                self.plan.edges[key] = EdgeDelta(1, at, at, confidence)
                continue
            delta.count += 1
            delta.first_seen = min(delta.first_seen, at)
            delta.last_seen = max(delta.last_seen, at)
            if confidence is not None and (delta.confidence is None or confidence > delta.confidence):
                delta.confidence = confidence

    # -- events ------------------------------------------------------------------------------
    def add_activity(self, act: Activity, company: Company | None) -> None:
        at = act.created_at
        contributed: dict[EdgeKey, None] = {}
        if not act.actor.id:
            self.plan.events.append(EventMarker(act.event_id, act.kind.value, at))
            return
        if act.kind is ActivityKind.DELETE:
            self.account(act.actor)
            if act.post_id:
                self.plan.delete_targets.append(act.post_id)
            self.plan.events.append(EventMarker(act.event_id, act.kind.value, at, deletes=act.post_id))
            return
        if act.kind is ActivityKind.PROFILE:
            p = act.profile
            extra: dict[str, Any] = {}
            if p is not None:
                extra = {
                    "display_name": p.display_name,
                    "bio": p.bio,
                    "followers": p.followers,
                    "following": p.following,
                    "active": p.active,
                }
            self.account(act.actor, **extra)
            self.plan.events.append(EventMarker(act.event_id, act.kind.value, at))
            return

        actor = self.account(act.actor)
        post_id: str | None = None
        if act.kind in _POST_KINDS and act.post_id:
            post_id = self.bare(
                "Post",
                act.post_id,
                network=act.network.value,
                text=act.text[:MAX_TEXT_CHARS] if act.text is not None else None,
                created_at=at,
                lang=act.lang,
                event_id=act.event_id,
            )
            self.edge(contributed, "AUTHORED", actor, post_id)
        if act.kind in _POST_KINDS:
            for ref in act.mentions:
                self.edge(contributed, "MENTIONED", actor, self.account(ref))
        target_kind = _ACCOUNT_EDGE_BY_KIND.get(act.kind)
        if target_kind is not None and act.target_account is not None and act.target_account.id:
            self.edge(contributed, target_kind, actor, self.account(act.target_account))
        if post_id and act.target_post_id and act.kind in (ActivityKind.REPLY, ActivityKind.QUOTE):
            target_post = self.bare("Post", act.target_post_id)
            kind = "REPLY_TO" if act.kind is ActivityKind.REPLY else "QUOTES"
            self.edge(contributed, kind, post_id, target_post)
        if company is not None:
            self.bare("Company", company.id, name=company.name)
            self.edge(contributed, "MENTIONED_COMPANY", actor, company.id)
        # endpoints created only for an edge that was then dropped (self-edges) stay as bare
        # nodes: harmless, and the planner stays simple.
        self.commit(contributed, at)
        edges = tuple(contributed)
        self.plan.events.append(EventMarker(act.event_id, act.kind.value, at, edges, post_id))

    def add_link(self, link: LinkLike, marker: str, at: float) -> None:
        contributed: dict[EdgeKey, None] = {}
        self.plan.accounts.setdefault(link.account_id, {})
        self.bare("Person", link.person_id)
        self.edge(contributed, "ACCOUNT_OF", link.account_id, link.person_id)
        self.commit(contributed, at, float(link.confidence))
        self.plan.events.append(EventMarker(marker, "link", at, tuple(contributed)))


class EndpointFrequency:
    """How often each node was an edge endpoint in what this process wrote, decayed: which end of
    an edge is the dense one. ArcadeDB expands a MERGE from the end named first and reads that
    node's edges one by one (``graph.cypher``), so each row should start from its sparser end.
    A node's share of the write stream is what makes it expensive to start from (a hub appears
    in many rows), so the stream's own counts are the measure; nothing is stored, and a restart
    relearns within a few batches (a row's own batch is counted before it is routed).

    Bounded: past ``max_ids`` entries every count is halved and the zeros are dropped."""

    def __init__(self, max_ids: int = 200_000) -> None:
        self._n: dict[str, int] = {}
        self._max = max(1, max_ids)

    def observe(self, ids: Iterable[str]) -> None:
        n = self._n
        for i in ids:
            n[i] = n.get(i, 0) + 1
        if len(n) > self._max:
            self._n = {k: v // 2 for k, v in n.items() if v > 1}

    def count(self, node_id: str) -> int:
        return self._n.get(node_id, 0)

    def from_source(self, src: str, dst: str) -> bool:
        """Expand from the source (it is not the denser end)?"""
        return self._n.get(src, 0) <= self._n.get(dst, 0)

    def __len__(self) -> int:
        return len(self._n)
