"""The simulated population: people, their accounts on several networks, and the company's accounts.

Follower counts and activity are heavy-tailed (Pareto), so a few accounts hold most of the audience
and influencers emerge; a person present on several networks keeps the same display name, a similar
handle and bio, and the same website, which is the evidence identity resolution works from.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass, field
from typing import Any

from sources import _ids

NETWORKS = ("bluesky", "mastodon", "x", "reddit")
MASTODON_HOME = "mastodon.social"  # the server whose streaming API the simulated statuses come from
MASTODON_INSTANCES = ("mastodon.social", "fosstodon.org", "mstdn.social", "hachyderm.io", "chaos.social")

# fmt: off
FIRST = (
    "Amara", "Ben", "Carla", "Diego", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kavya", "Liam",
    "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Samir", "Tara", "Umar", "Vera", "Wes", "Xenia",
    "Yusuf", "Zoe", "Alice", "Bruno", "Chen", "Dana", "Emil", "Fatima", "Gabe", "Hana", "Ivan", "Julia",
    "Kofi", "Lena", "Marco", "Nadia", "Oscar", "Priya", "Rafael", "Sofia", "Tomas", "Uma", "Victor",
    "Wendy", "Yara", "Aiden", "Beatriz", "Cyrus", "Daria", "Eli", "Freya", "Gus", "Helga", "Isaac", "Jade",
    "Kai", "Lucia", "Mateo", "Nora", "Owen", "Pia", "Ravi", "Selma", "Theo", "Ulla", "Vikram", "Willa",
    "Zane",
)
LAST = (
    "Okafor", "Lindqvist", "Moreau", "Haddad", "Novak", "Tanaka", "Silva", "Kowalski", "Fischer", "Osei",
    "Romero", "Becker", "Nguyen", "Patel", "Dubois", "Ivanova", "Larsen", "Murphy", "Costa", "Schmidt",
    "Reyes", "Khan", "Fontaine", "Berg", "Alvarez", "Mensah", "Rossi", "Kim", "Walsh", "Sato", "Ortega",
    "Bauer", "Nakamura", "Oliveira", "Kaur", "Jansen", "Castillo", "Weber", "Ahmed", "Hughes", "Varga",
    "Lopez", "Brennan", "Ito", "Petrov", "Santos", "Vogel", "Mwangi", "Duarte", "Holm", "Quinlan",
    "Ferraro", "Yilmaz", "Abbott", "Carver", "Delgado", "Eriksen", "Farrow",
)
ROLES = (
    "Software engineer", "Product designer", "Nurse", "Teacher", "Data scientist", "Photographer",
    "Small business owner", "Barista", "Marketing lead", "PhD student", "Sysadmin", "Chef", "Journalist",
    "Indie game dev", "Civil engineer", "Musician", "Product manager", "Librarian", "Security researcher",
)
INTERESTS = (
    "coffee", "cycling", "open source", "retro games", "gardening", "climbing", "jazz", "sci-fi books",
    "home automation", "baking", "running", "film photography", "board games", "hiking",
    "mechanical keyboards", "vinyl records", "urban sketching", "birdwatching", "tea", "podcasts",
)
CITIES = (
    "Berlin", "Lisbon", "Toronto", "Austin", "Nairobi", "Melbourne", "Osaka", "Dublin", "Lagos", "Portland",
    "Leeds", "Montreal", "Seattle", "Bristol", "Utrecht", "Chicago", "Denver", "Cape Town", "Oslo",
    "Madrid",
)
# fmt: on
DOMAINS = (".dev", ".com", ".net", ".io", ".blog", ".me")


@dataclass(slots=True)
class Account:
    """One account on one network; ``native`` is the network's own id (DID, user id, actor URI, name)."""

    network: str
    person: int | None  # index into the population; None for the company
    handle: str  # bluesky handle, mastodon username, X username, reddit name
    native: str
    display_name: str
    bio: str
    website: str | None
    location: str
    followers: int
    following: int
    posts: int
    created_at: float
    instance: str = ""  # mastodon only
    numeric_id: str = ""  # mastodon account id / reddit t2 id
    clock_id: int = 0  # bluesky TID clock id
    activity: float = 1.0
    cache: dict[str, Any] = field(default_factory=dict, repr=False)  # encoders' per-account memo

    @property
    def account_id(self) -> str:
        """The network-qualified account id of ``activity.schema``."""
        if self.network == "bluesky":
            return f"bluesky:{self.native}"
        if self.network == "mastodon":
            return f"mastodon:{self.native}"
        if self.network == "reddit":
            return f"reddit:u/{self.handle}"
        return f"x:{self.native}"


@dataclass(slots=True)
class Person:
    index: int
    first: str
    last: str
    display_name: str
    website: str | None
    city: str
    role: str
    interests: tuple[str, str]
    accounts: dict[str, Account] = field(default_factory=dict)


class Pool:
    """The accounts of one network with cumulative weights for power-law choice."""

    def __init__(self, accounts: list[Account]) -> None:
        self.accounts = accounts
        self._attention = list(itertools.accumulate(a.followers + 1.0 for a in accounts))
        self._activity = list(itertools.accumulate(a.activity for a in accounts))

    def by_attention(self, rng: random.Random) -> Account:
        """An account chosen proportionally to its audience (who gets mentioned, liked, followed)."""
        i = bisect.bisect(self._attention, rng.random() * self._attention[-1])
        return self.accounts[min(i, len(self.accounts) - 1)]

    def by_activity(self, rng: random.Random) -> Account:
        """An account chosen proportionally to how active it is (who acts next)."""
        i = bisect.bisect(self._activity, rng.random() * self._activity[-1])
        return self.accounts[min(i, len(self.accounts) - 1)]


def _handle_variants(first: str, last: str, rng: random.Random) -> list[str]:
    f, la = first.lower(), last.lower()
    n = rng.randrange(10, 99)
    return [f + la, f"{f}_{la}", f"{f[0]}{la}", f"{f}{la}{n}", f"{la}{f[0]}", f"{f}.{la}"]


def _unique(name: str, taken: set[str], rng: random.Random) -> str:
    while name in taken:
        name = f"{name}{rng.randrange(10)}"
    taken.add(name)
    return name


def _bio(p: Person, rng: random.Random) -> str:
    a, b = p.interests
    forms = (
        f"{p.role} in {p.city}. Into {a} and {b}.",
        f"{p.role} · {p.city} · {a}, {b}",
        f"{p.role} based in {p.city}. I post about {a} and {b}.",
        f"{a.capitalize()} and {b}. {p.role}, {p.city}.",
    )
    return rng.choice(forms)


def build_population(
    rng: random.Random,
    n_people: int,
    networks: tuple[str, ...],
    company_name: str,
    company_handles: tuple[str, ...],
    start: float,
) -> tuple[list[Person], dict[str, Account], dict[str, Pool]]:
    people: list[Person] = []
    taken: dict[str, set[str]] = {n: set(company_handles) for n in NETWORKS}
    by_net: dict[str, list[Account]] = {n: [] for n in networks}
    for i in range(n_people):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        site = None
        if rng.random() < 0.7:
            site = f"https://{first.lower()}{last.lower()}{rng.choice(DOMAINS)}"
        interests = tuple(rng.sample(INTERESTS, 2))
        p = Person(
            i,
            first,
            last,
            f"{first} {last}",
            site,
            rng.choice(CITIES),
            rng.choice(ROLES),
            (interests[0], interests[1]),
        )
        if rng.random() < 0.1:
            p.display_name = f"{first} {last[0]}."
        k = rng.choices((1, 2, 3, 4), weights=(0.3, 0.35, 0.22, 0.13))[0]
        nets = _weighted_sample(rng, networks, (0.35, 0.2, 0.3, 0.15)[: len(networks)], min(k, len(networks)))
        followers = 20.0 * rng.paretovariate(1.15)
        activity = rng.paretovariate(1.6)
        variants = _handle_variants(first, last, rng)
        base = rng.choice(variants[:3])
        for net in nets:
            h = base if rng.random() < 0.6 else rng.choice(variants)
            acc = _make_account(rng, p, net, h, taken[net], followers, activity, start)
            p.accounts[net] = acc
            by_net[net].append(acc)
        people.append(p)
    company: dict[str, Account] = {}
    for net in networks:
        acc = _company_account(rng, net, company_name, company_handles[0], start)
        company[net] = acc
        by_net[net].append(acc)
    return people, company, {n: Pool(a) for n, a in by_net.items()}


def _weighted_sample(
    rng: random.Random, items: tuple[str, ...], weights: tuple[float, ...], k: int
) -> list[str]:
    pool, w, out = list(items), list(weights), []
    for _ in range(k):
        j = rng.choices(range(len(pool)), weights=w)[0]
        out.append(pool.pop(j))
        w.pop(j)
    return out


def _make_account(
    rng: random.Random,
    p: Person,
    net: str,
    handle: str,
    taken: set[str],
    followers: float,
    activity: float,
    start: float,
) -> Account:
    created = start - rng.uniform(30, 4000) * 86400
    fol = max(0, int(followers * rng.lognormvariate(0, 0.5)))
    acc = Account(
        network=net,
        person=p.index,
        handle="",
        native="",
        display_name=p.display_name,
        bio=_bio(p, rng),
        website=p.website if rng.random() < 0.8 else None,
        location=p.city,
        followers=fol,
        following=int(rng.uniform(20, 900)),
        posts=int(rng.uniform(10, 20000)),
        created_at=created,
        activity=activity * rng.uniform(0.5, 1.5),
    )
    if net == "bluesky":
        dom = p.website[8:] if p.website else None
        if dom and dom not in taken and rng.random() < 0.25:
            acc.handle = _unique(dom, taken, rng)
        else:
            base = handle.replace("_", "-").replace(".", "-")
            while f"{base}.bsky.social" in taken:
                base = f"{base}{rng.randrange(10)}"
            acc.handle = _unique(f"{base}.bsky.social", taken, rng)
        acc.native = _ids.did_plc(rng)
        acc.clock_id = rng.getrandbits(10)
    elif net == "mastodon":
        acc.handle = _unique(handle.replace(".", "_"), taken, rng)
        acc.instance = rng.choice(MASTODON_INSTANCES)
        acc.native = f"https://{acc.instance}/users/{acc.handle}"
        acc.numeric_id = _ids.mastodon_id(created * 1000, rng)
    elif net == "x":
        name = (p.first + p.last) if rng.random() < 0.5 else handle.replace(".", "_")
        acc.handle = _unique(name[:15], taken, rng)
        acc.native = (
            _ids.snowflake(created * 1000, rng) if created > 1.3e9 else str(rng.randrange(10**7, 10**9))
        )
    else:
        name = rng.choice(
            (f"{p.first}_{p.last}", handle.replace(".", "_"), f"{p.first.lower()}{rng.randrange(1, 9999)}")
        )
        acc.handle = _unique(name, taken, rng)
        acc.native = acc.handle
        acc.numeric_id = "t2_" + _ids.reddit_id(rng, 8)
    return acc


def _company_account(rng: random.Random, net: str, name: str, handle: str, start: float) -> Account:
    site = f"https://{handle.lower()}.com"
    acc = Account(
        network=net,
        person=None,
        handle=handle,
        native="",
        display_name=name,
        bio=f"Official {name} account. Support, news and updates. Need help? Reply here or DM us.",
        website=site,
        location="Everywhere",
        followers=int(rng.uniform(30_000, 80_000)),
        following=120,
        posts=25_000,
        created_at=start - 3000 * 86400,
        activity=25.0,
    )
    if net == "bluesky":
        acc.handle, acc.native, acc.clock_id = f"{handle}.bsky.social", _ids.did_plc(rng), rng.getrandbits(10)
    elif net == "mastodon":
        acc.instance = MASTODON_HOME
        acc.native = f"https://{MASTODON_HOME}/users/{handle}"
        acc.numeric_id = _ids.mastodon_id(acc.created_at * 1000, rng)
    elif net == "x":
        acc.native = _ids.snowflake(acc.created_at * 1000, rng)
    else:
        acc.native, acc.numeric_id = handle, "t2_" + _ids.reddit_id(rng, 8)
    return acc
