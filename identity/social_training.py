"""Perturbed real social profiles for fitting the matcher, and the split by person that keeps some
real profiles out of training.

Real Mastodon accounts and X users from ``shared/data/social`` (with a few of their real posts), each
given synthetic accounts the ways people's accounts really differ between networks:

- a *twin* (the same person on another network): handle kept, numbered, re-separated, typo'd,
  prefixed or suffixed, rebuilt from the name, a Bluesky domain handle, or unrelated; display name
  kept, stripped of decorations, decorated, nicknamed, cut to the given name or "Anna N.", typo'd,
  re-cased or missing; bio kept, partly dropped, cut short, reworded or missing; websites, location
  and posts kept or dropped; sometimes a link back to the original account;
- a Bridgy-Fed mirror of a fediverse account on Bluesky;
- a *namesake* (a different person): another real profile's bio, websites, place and posts under a
  name close to this person's (the same name, the same given name with another surname, or a typo),
  with a handle of their own.

The rest of the real profiles are each other's negatives.

Split by person (``held_out``): a seeded hash of the person key (the folded user-chosen part of the
handle, so one person's accounts on two instances fall on the same side) puts ``HOLDOUT_SHARE`` of
the real profiles out of training. ``social_dataset`` builds only from the training part by
default; ``benchmarks.identity_crossnet`` reports its numbers on the held-out part separately.
"""

from __future__ import annotations

import glob
import hashlib
import json
import random
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from identity.nicknames import nicknames_of
from identity.normalize import fold
from identity.records import ProfileRecord
from identity.training_data import SHARED

HOLDOUT_SHARE = 0.5
_SPLIT_SALT = "groundswell-identity-holdout-v1"

_TAG = re.compile(r"<[^>]+>")
_HREF = re.compile(r'href="([^"]+)"')
_DECORATION = re.compile(r"[^\w\s'.-]|\b(she|he|they)/(her|him|them)\b", re.IGNORECASE)
_SENTENCES = re.compile(r"(?<=[.!?|])\s+|\n+")
_HASHTAG_OR_MENTION = re.compile(r"[#@]\w[\w.@-]*")
_INSTANCES = ("mastodon.social", "fosstodon.org", "hachyderm.io", "mastodon.online", "social.coop")
_WORDS = ("sun", "moon", "cat", "tree", "wave", "jazz", "fox", "rain", "star", "leaf", "cloud", "stone")


def person_key(handle: str | None, record_id: str) -> str:
    """The folded user-chosen part of a handle (4+ characters), else the record id."""
    local = (handle or "").strip().lstrip("@").split("@")[0]
    for suffix in (".bsky.social", ".bsky.app"):
        local = local.removesuffix(suffix)
    key = re.sub(r"[^a-z0-9]", "", fold(local))
    return key if len(key) >= 4 else record_id


def held_out(handle: str | None, record_id: str) -> bool:
    """Whether this real profile's person is in the held-out part (never used in training)."""
    digest = hashlib.sha256(f"{_SPLIT_SALT}|{person_key(handle, record_id)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < HOLDOUT_SHARE


def real_social_profiles() -> list[ProfileRecord]:
    """Real Mastodon accounts and X users (with a few of their real posts) from the shared data."""
    profiles: list[ProfileRecord] = []
    statuses = SHARED / "social" / "mastodon" / "statuses.jsonl"
    if statuses.exists():
        accounts: dict[str, dict[str, Any]] = {}
        posts: dict[str, list[str]] = defaultdict(list)
        for line in statuses.read_text(encoding="utf-8").split("\n"):
            if not line.strip():
                continue
            status = json.loads(line)
            acct = status["account"]
            accounts[acct["url"]] = acct
            if status.get("content"):
                posts[acct["url"]].append(_TAG.sub(" ", status["content"]))
        for url, a in accounts.items():
            links = tuple(h for f in a.get("fields") or () for h in _HREF.findall(f.get("value", "")))
            acct = a["acct"] if "@" in a["acct"] else f"{a['acct']}@{url.split('/')[2]}"
            profiles.append(
                ProfileRecord(
                    record_id=f"mastodon:{a.get('uri') or url}",
                    source="mastodon",
                    display_name=a.get("display_name") or None,
                    handle="@" + acct,
                    bio=_TAG.sub(" ", a.get("note") or "") or None,
                    links=links,
                    recent_posts=tuple(posts[url][:3]),
                )
            )
    users: dict[str, dict[str, Any]] = {}
    tweets: dict[str, list[str]] = defaultdict(list)
    for path in sorted(glob.glob(str(SHARED / "social" / "twitter_v2" / "*.jsonl"))):
        for line in Path(path).read_text(encoding="utf-8").split("\n"):
            try:
                doc = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(doc, dict):
                continue
            data: list[dict[str, Any]] = doc["data"] if isinstance(doc.get("data"), list) else []
            for u in (doc.get("includes") or {}).get("users", []) + [x for x in data if "username" in x]:
                users[u["id"]] = u
            for t in data:
                if "author_id" in t and t.get("text"):
                    tweets[t["author_id"]].append(t["text"])
    for uid, u in users.items():
        urls = ((u.get("entities") or {}).get("url") or {}).get("urls") or []
        websites = tuple(x.get("expanded_url") for x in urls if x.get("expanded_url"))
        profiles.append(
            ProfileRecord(
                record_id=f"x:{uid}",
                source="x",
                display_name=u.get("name") or None,
                handle="@" + u["username"],
                bio=u.get("description") or None,
                location=u.get("location") or None,
                websites=websites,
                recent_posts=tuple(dict.fromkeys(tweets[uid]))[:3],
            )
        )
    return profiles


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    return (
        word[:i] + word[i + 1] + word[i] + word[i + 2 :] if rng.random() < 0.5 else word[:i] + word[i + 1 :]
    )


def _name_words(name: str) -> list[str]:
    return [w for w in _DECORATION.sub(" ", name).split() if any(c.isalpha() for c in w)]


def _vary_name(rng: random.Random, name: str | None) -> str | None:
    if not name:
        return name
    words = _name_words(name)
    roll = rng.random()
    if roll < 0.4:
        return name
    if roll < 0.52:  # decorations (emoji, pronouns) dropped
        return " ".join(words) or name
    if roll < 0.57:
        return name + rng.choice((" 🌈", " (they/them)", " 🇪🇺", " ☕"))
    if roll < 0.64 and words:
        nicks = sorted(n for n in nicknames_of(words[0]) if n.isalpha())
        return " ".join([rng.choice(nicks).title(), *words[1:]]) if nicks else name
    if roll < 0.72 and words:
        return words[0]
    if roll < 0.8 and len(words) >= 2:
        return f"{words[0]} {words[-1][0]}."
    if roll < 0.88 and words:
        return " ".join(_typo(rng, w) for w in words)
    if roll < 0.95:
        return name.lower() if rng.random() < 0.6 else name.upper()
    return None


def _vary_handle(rng: random.Random, local: str, name: str | None) -> str:
    roll = rng.random()
    words = [re.sub(r"[^a-z0-9]", "", fold(w)) for w in _name_words(name or "")]
    words = [w for w in words if w]
    if roll < 0.45:
        return local
    if roll < 0.55:
        return local + str(rng.randrange(1, 99))
    if roll < 0.62:
        return local.replace("_", "") if "_" in local else "_" + local
    if roll < 0.68:
        return _typo(rng, local)
    if roll < 0.75:
        return rng.choice(("real", "its", "the", "hey")) + local
    if roll < 0.8:
        return local + rng.choice(("_", "")) + rng.choice(("official", "art", "news", "photo"))
    if roll < 0.88 and len(words) >= 2:
        return rng.choice((words[0] + words[-1], words[0][0] + words[-1], words[0] + "_" + words[-1]))
    return rng.choice(_WORDS) + rng.choice(_WORDS) + str(rng.randrange(1, 9999))


def _local_of(handle: str | None) -> str:
    return (handle or "").lstrip("@").split("@")[0].split(".")[0] or "someone"


def _vary_bio(rng: random.Random, bio: str | None) -> str | None:
    if not bio:
        return bio
    roll = rng.random()
    if roll < 0.25:
        return bio
    sentences = [s for s in _SENTENCES.split(bio) if s.strip()]
    if roll < 0.45 and len(sentences) >= 2:
        return " ".join(sentences[: max(1, len(sentences) // 2)])
    if roll < 0.6:
        return bio[: rng.randrange(50, 140)]
    if roll < 0.75:
        plain = " ".join(_HASHTAG_OR_MENTION.sub(" ", bio).split())
        return (plain.lower() if rng.random() < 0.5 else plain) or None
    return None


def _twin(rng: random.Random, p: ProfileRecord, n: int) -> ProfileRecord:
    """The same person's account on another network, as people really vary it."""
    target = rng.choice([s for s in ("bluesky", "mastodon", "x") if s != p.source])
    local = re.sub(r"[^A-Za-z0-9_]", "", _vary_handle(rng, _local_of(p.handle), p.display_name)) or "someone"
    domain = next((re.sub(r"^https?://(www\.)?", "", w).split("/")[0] for w in p.websites), "")
    if target == "bluesky" and domain and rng.random() < 0.25:
        handle = domain.lower()  # a domain handle: the person's own website
    else:
        handle = {
            "bluesky": f"{local.lower().replace('_', '-').strip('-') or 'someone'}.bsky.social",
            "mastodon": f"@{local}@{rng.choice(_INSTANCES)}",
            "x": f"@{local[:15]}",
        }[target]
    bio = _vary_bio(rng, p.bio)
    links: tuple[str, ...] = ()
    if rng.random() < 0.12 and p.handle:
        links = (p.handle if p.source != "x" else f"https://x.com/{_local_of(p.handle)}",)
        if rng.random() < 0.5:
            bio = f"{bio or ''} also {links[0]}".strip()
    return ProfileRecord(
        record_id=f"{target}:twin-{n}",
        source=target,
        display_name=_vary_name(rng, p.display_name),
        handle=handle,
        bio=bio,
        websites=p.websites if rng.random() < 0.5 else (),
        links=links,
        location=p.location if rng.random() < 0.5 else None,
        recent_posts=p.recent_posts[1:] if rng.random() < 0.5 else (),
    )


def _namesake(rng: random.Random, p: ProfileRecord, other: ProfileRecord, n: int) -> ProfileRecord:
    """A different person with a name close to ``p``'s; bio, site, place and posts are ``other``'s.

    Its handle is its own: made from the name, or ``other``'s user name (plain or numbered). Two
    accounts cannot hold one handle on one network, so a plain one puts it on another network.
    """
    name = p.display_name or "someone"
    words = _name_words(name)
    roll = rng.random()
    if roll < 0.25 and len(words) >= 2:
        other_words = _name_words(other.display_name or "")
        surname = other_words[-1] if other_words and other_words[-1] != words[-1] else _typo(rng, words[-1])
        name = f"{words[0]} {surname}"
    elif roll < 0.45 and words:
        i = rng.randrange(len(words))
        name = " ".join(_typo(rng, w) if j == i else w for j, w in enumerate(words))
    source = other.source
    roll = rng.random()
    if roll < 0.3:
        local = "".join(c for c in fold(name) if c.isalnum())[:12] + str(rng.randrange(1, 999))
    elif roll < 0.65:
        local = _local_of(other.handle) + str(rng.randrange(1, 999))
    else:
        local = _local_of(other.handle)
        source = rng.choice([s for s in ("bluesky", "mastodon", "x") if s != other.source])
    handle = {
        "bluesky": f"{local.lower().replace('_', '-').strip('-') or 'someone'}.bsky.social",
        "mastodon": f"@{local}@{rng.choice(_INSTANCES)}",
        "x": f"@{local[:15]}",
    }[source]
    return ProfileRecord(
        record_id=f"{source}:namesake-{n}",
        source=source,
        display_name=name,
        handle=handle,
        bio=other.bio,
        websites=other.websites,
        location=other.location,
        recent_posts=other.recent_posts,
    )


def _bridged_mirror(p: ProfileRecord, n: int) -> ProfileRecord | None:
    """The Bridgy-Fed mirror of a fediverse account on Bluesky (``user.instance.ap.brid.gy``)."""
    if p.source != "mastodon" or not p.handle or p.handle.count("@") != 2:
        return None
    user, instance = p.handle.lstrip("@").split("@")
    if instance.endswith("brid.gy"):
        return None
    return ProfileRecord(
        record_id=f"bluesky:mirror-{n}",
        source="bluesky",
        display_name=p.display_name,
        handle=f"{user.lower()}.{instance}.ap.brid.gy",
        bio=p.bio,
        recent_posts=p.recent_posts,
    )


def social_dataset(
    seed: int = 7, limit: int = 0, part: str = "train"
) -> tuple[list[ProfileRecord], list[str]]:
    """Real profiles plus perturbed twins (same person) and namesakes (other person); cluster per record.

    ``part``: "train" (default) keeps the real profiles outside the held-out part, "held_out" only
    those in it, "all" every one. ``limit`` then keeps that many (a seeded sample; 0 keeps all).
    """
    if part not in {"train", "held_out", "all"}:
        raise ValueError(f"part must be train, held_out or all, not {part!r}")
    rng = random.Random(seed)
    mirrors = random.Random(seed + 1)  # its own stream: adding mirrors leaves the other draws unchanged
    real = real_social_profiles()
    if part != "all":
        real = [p for p in real if held_out(p.handle, p.record_id) == (part == "held_out")]
    if limit and len(real) > limit:
        real = rng.sample(real, limit)
    records: list[ProfileRecord] = []
    clusters: list[str] = []
    for n, p in enumerate(real):
        records.append(p)
        clusters.append(p.record_id)
        if rng.random() < 0.75:
            records.append(_twin(rng, p, n))
            clusters.append(p.record_id)
        mirror = _bridged_mirror(p, n) if mirrors.random() < 0.5 else None
        if mirror is not None:
            records.append(mirror)
            clusters.append(p.record_id)
        if rng.random() < 0.35 and p.display_name:
            other = real[rng.randrange(len(real))]
            if other.record_id != p.record_id:
                ns = _namesake(rng, p, other, n)
                records.append(ns)
                clusters.append(ns.record_id)
    return records, clusters
