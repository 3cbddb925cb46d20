"""A synthetic social firehose in the four real wire formats, for load tests and the demo.

``Simulator(seed, company_name, company_handles)`` is an endless, deterministic iterator of
:class:`~activity.raw.RawEvent`: Bluesky Jetstream v1 commits (posts, replies, likes, reposts,
follows, profile updates) and identity events, Mastodon Status entities, X API v2 filtered-stream
frames and Reddit ``t1`` comments. Follower counts and attention are heavy-tailed, people own
accounts on several networks with the same name, similar handles and bios and the same website,
and a share of the posts mention the company with complaints, praise, questions or purchase
intent; nearly every text is distinct, as a real firehose's are (templates end in a neutral detail,
``sources._text.detail``), so caches keyed by text do not flatter a benchmark. ``labeled()``
yields each event with its ground truth (:class:`Truth`), which tests and benchmarks use to score
intent detection and identity resolution.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from activity.raw import RawEvent, RawFormat
from sources import _bluesky, _ids, _mastodon, _reddit, _text, _x
from sources._common import Action, PostRef
from sources._crm import CrmContact, crm_contacts, crm_export_csv
from sources._people import NETWORKS, Account, Person, build_population

#: the default simulated clock start, 2026-07-04T14:00:00Z (pass ``start_time`` for a live demo)
SIM_EPOCH = 1_783_173_600.0

FORMATS = {
    "bluesky": RawFormat.JETSTREAM,
    "mastodon": RawFormat.MASTODON,
    "x": RawFormat.TWITTER_V2,
    "reddit": RawFormat.REDDIT,
}
DEFAULT_NETWORK_WEIGHTS = {"bluesky": 0.4, "mastodon": 0.2, "x": 0.25, "reddit": 0.15}
KIND_MIX: dict[str, tuple[tuple[str, float], ...]] = {
    "bluesky": (
        ("post", 0.22),
        ("reply", 0.14),
        ("like", 0.37),
        ("repost", 0.12),
        ("follow", 0.10),
        ("profile", 0.03),
        ("identity", 0.02),
    ),
    "mastodon": (("post", 0.5), ("reply", 0.35), ("repost", 0.15)),
    "x": (("post", 0.45), ("reply", 0.3), ("repost", 0.2), ("quote", 0.05)),
    "reddit": (("post", 0.4), ("reply", 0.6)),
}
MALFORMED_KINDS = ("truncated", "not_json", "invalid_utf8", "wrong_type", "empty_object")


@dataclass(frozen=True, slots=True)
class Truth:
    """What the simulator meant by one event (ground truth for tests and benchmarks)."""

    network: str  # bluesky, mastodon, x, reddit
    kind: str  # post, reply, like, repost, quote, follow, profile, identity, or a MALFORMED_KINDS value
    account_id: str  # the actor, network-qualified as in activity.schema
    person: int | None  # the person behind the actor (None: the company)
    intent: str | None = None  # complaint, praise, question, purchase_intent, announcement, support
    mentions_company: bool = False
    malformed: bool = False
    target_account_id: str | None = None


class Simulator:
    def __init__(
        self,
        seed: int = 0,
        company_name: str = "Acme",
        company_handles: Sequence[str] = ("acme",),
        *,
        n_people: int = 2000,
        networks: Sequence[str] = NETWORKS,
        network_weights: dict[str, float] | None = None,
        company_share: float = 0.15,
        malformed_share: float = 0.0,
        events_per_second: float = 50.0,
        start_time: float | None = None,
        source: str = "sim",
    ) -> None:
        unknown = set(networks) - set(NETWORKS)
        if unknown or not networks:
            raise ValueError(f"networks must be a non-empty subset of {NETWORKS}, got {list(networks)}")
        if not company_handles:
            raise ValueError("company_handles must name at least one handle")
        if not 0.0 <= malformed_share <= 1.0 or not 0.0 <= company_share <= 1.0:
            raise ValueError("shares must lie in [0, 1]")
        if n_people < 1 or events_per_second <= 0:
            raise ValueError("n_people and events_per_second must be positive")
        self.seed = seed
        self.source = source
        self.company_name = company_name
        self.company_share = company_share
        self.malformed_share = malformed_share
        self.networks = tuple(n for n in NETWORKS if n in networks)
        self._rate = events_per_second
        self._t = SIM_EPOCH if start_time is None else float(start_time)
        pop_rng = random.Random(f"groundswell-sim:{seed}:population")
        self.people: list[Person]
        self.company: dict[str, Account]
        self.people, self.company, self._pools = build_population(
            pop_rng, n_people, self.networks, company_name, tuple(company_handles), self._t
        )
        self._rng = random.Random(f"groundswell-sim:{seed}:events")
        weights = network_weights or DEFAULT_NETWORK_WEIGHTS
        self._net_cum = list(itertools.accumulate(weights.get(n, 0.0) for n in self.networks))
        if self._net_cum[-1] <= 0:
            raise ValueError("network_weights give every chosen network zero weight")
        self._kind_cum = {
            n: (tuple(k for k, _ in mix), list(itertools.accumulate(w for _, w in mix)))
            for n, mix in KIND_MIX.items()
        }
        self._recent: dict[str, dict[str, deque[PostRef]]] = {n: {} for n in self.networks}
        self._complaints: dict[str, deque[PostRef]] = {n: deque(maxlen=50) for n in self.networks}
        self._subs = _reddit.submissions(self._rng, company_name)
        self._rule = _ids.snowflake(self._t * 1000 - 86_400_000, self._rng)

    # -- public API ---------------------------------------------------------------------------

    def __iter__(self) -> Iterator[RawEvent]:
        while True:
            yield self.next_labeled()[0]

    def labeled(self) -> Iterator[tuple[RawEvent, Truth]]:
        """The same endless stream, each event with its ground truth."""
        while True:
            yield self.next_labeled()

    def take(self, n: int) -> list[RawEvent]:
        return [self.next_labeled()[0] for _ in range(n)]

    def crm_export(self, share: float = 0.15) -> bytes:
        """The simulated company's CRM contact export (CSV): about ``share`` of its people, made up
        like them (``sources._crm``); the same for the same seed."""
        return crm_export_csv(self.people, self._crm_seed, share)

    def crm_contacts(self, share: float = 0.15) -> list[CrmContact]:
        """The rows of :meth:`crm_export`, each with the person it is (the ground truth)."""
        return crm_contacts(self.people, self._crm_seed, share)

    @property
    def _crm_seed(self) -> str:
        return f"groundswell-sim:{self.seed}:crm"

    @property
    def now(self) -> float:
        """The simulated clock (epoch seconds of the last event)."""
        return self._t

    def company_account_ids(self) -> tuple[str, ...]:
        """The company's own accounts, network-qualified (for ``Settings.company_accounts``)."""
        return tuple(self.company[n].account_id for n in self.networks)

    def accounts(self) -> dict[str, int | None]:
        """Every account id mapped to its person (None for the company): identity ground truth."""
        out: dict[str, int | None] = {a.account_id: None for a in self.company.values()}
        for p in self.people:
            for a in p.accounts.values():
                out[a.account_id] = p.index
        return out

    def next_labeled(self) -> tuple[RawEvent, Truth]:
        rng = self._rng
        self._t += rng.expovariate(self._rate)
        net = self.networks[bisect.bisect(self._net_cum, rng.random() * self._net_cum[-1])]
        payload, truth = self._event(net)
        if self.malformed_share and rng.random() < self.malformed_share:
            payload, truth = self._corrupt(payload, truth)
        received = self._t + rng.uniform(0.001, 0.05)
        return RawEvent(FORMATS[net].value, self.source, received, payload), truth

    # -- internals -----------------------------------------------------------------------------

    def _event(self, net: str) -> tuple[bytes, Truth]:
        rng = self._rng
        pool = self._pools[net]
        actor = pool.by_activity(rng)
        kinds, cum = self._kind_cum[net]
        kind = kinds[min(bisect.bisect(cum, rng.random() * cum[-1]), len(kinds) - 1)]
        action = Action(kind, actor, self._t)
        intent: str | None = None
        if kind in ("like", "repost", "follow"):
            target_acc = self._other(net, actor)
            if kind == "follow":
                action.target_account = target_acc
            else:
                action.target = self._post_of(net, target_acc)
        elif kind in ("post", "reply", "quote"):
            intent = self._compose(net, action)
        payload, ref = self._encode(net, action)
        if ref is not None:
            self._remember(net, ref)
            if intent == "complaint":
                self._complaints[net].append(ref)
        tgt_acc = action.target.author if action.target is not None else action.target_account
        truth = Truth(
            net,
            action.kind,
            actor.account_id,
            actor.person,
            intent,
            action.company is not None,
            False,
            tgt_acc.account_id if tgt_acc is not None else None,
        )
        return orjson.dumps(payload), truth

    def _compose(self, net: str, action: Action) -> str | None:
        """Choose the text (and what it answers or mentions); return the intent, if any."""
        rng = self._rng
        actor = action.actor
        interest = self.people[actor.person].interests[0] if actor.person is not None else None
        intent: str | None = None
        if actor.person is None:  # the company speaks
            if action.kind == "reply" and self._complaints[net]:
                action.target = rng.choice(self._complaints[net])
                action.mentioned = action.target.author
                template, intent = rng.choice(_text.SUPPORT_REPLY), "support"
            else:
                action.kind = "post"
                template, intent = rng.choice(_text.ANNOUNCE), "announcement"
        elif rng.random() < self.company_share:
            intent = rng.choices(tuple(_text.INTENTS), weights=_text.INTENT_WEIGHTS)[0]
            template = rng.choice(_text.INTENTS[intent])
            action.company = self.company[net]
            if action.kind != "post":
                action.target = self._post_of(net, self.company[net])
        elif action.kind == "post":
            template = rng.choice(_text.CHATTER)
            if "{p}" in template:
                action.mentioned = self._other(net, actor)
        else:
            action.target = self._post_of(net, self._other(net, actor))
            template = rng.choice(_text.REPLY_CHATTER if action.kind == "reply" else _text.CHATTER)
            if "{p}" in template and net != "bluesky":
                action.mentioned = action.target.author
        if "{tag}" in template:
            action.tag = rng.choice(_text.TAGS)
        action.template = _text.fill(template, rng, interest) + _text.detail(rng)
        return intent

    def _encode(self, net: str, action: Action) -> tuple[dict[str, Any], PostRef | None]:
        if net == "bluesky":
            return _bluesky.encode(action, self._rng)
        if net == "mastodon":
            return _mastodon.encode(action, self._rng)
        if net == "x":
            return _x.encode(action, self._rng, self._rule)
        return _reddit.encode(action, self._rng, self._subs)

    def _other(self, net: str, actor: Account) -> Account:
        """Someone else, chosen by audience size (preferential attachment)."""
        pool = self._pools[net]
        for _ in range(4):
            acc = pool.by_attention(self._rng)
            if acc is not actor:
                return acc
        return acc

    def _post_of(self, net: str, author: Account) -> PostRef:
        """One of the author's recent posts, or an older one made up on the spot."""
        recent = self._recent[net].get(author.native)
        if recent:
            return self._rng.choice(recent)
        rng = self._rng
        person = self.people[author.person] if author.person is not None else None
        template = rng.choice(_text.ANNOUNCE if person is None else _text.CHATTER).replace("{p}", "")
        text = _text.fill(template.strip(), rng, person.interests[1] if person else None)
        t = self._t - rng.uniform(3600, 3 * 86400)
        if net == "bluesky":
            ref = _bluesky.synth_post(author, text, t, rng)
        elif net == "mastodon":
            ref = _mastodon.synth_post(author, text, t, rng)
        elif net == "x":
            ref = _x.synth_post(author, text, t, rng)
        else:
            ref = _reddit.synth_post(author, text, t, rng, self._subs)
        self._remember(net, ref)
        return ref

    def _remember(self, net: str, ref: PostRef) -> None:
        recent = self._recent[net].get(ref.author.native)
        if recent is None:
            recent = self._recent[net][ref.author.native] = deque(maxlen=3)
        recent.append(ref)

    def _corrupt(self, payload: bytes, truth: Truth) -> tuple[bytes, Truth]:
        how = self._rng.choice(MALFORMED_KINDS)
        if how == "truncated":
            bad = payload[: max(1, len(payload) // 2)]
        elif how == "not_json":
            bad = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        elif how == "invalid_utf8":
            bad = b'{"text": "\xff\xfe\xfa broken \xc3("}'
        elif how == "wrong_type":
            bad = b'["not", "an", "object", 42]'
        else:
            bad = b"{}"
        return bad, Truth(truth.network, how, truth.account_id, truth.person, None, False, True, None)
