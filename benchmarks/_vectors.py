"""Real MiniLM profile embeddings, and synthetic vectors derived from them for 100k-1M scale runs.

Real: every real profile from ``benchmarks._real_profiles`` (about 2,050 Mastodon and X accounts) is
turned into its profile text (``identity.profile_text`` when importable) and embedded with the
project's ``Encoder`` (all-MiniLM-L6-v2). The vectors are cached in ``benchmarks/out`` by a hash of
the texts, so a re-run skips the model.

Synthetic (how the real set is replicated): vector ``k`` is
``normalize(w1 r_a + w2 r_b + w3 r_c + g)`` with ``a, b, c`` drawn uniformly from the real vectors,
``(w1, w2, w3) ~ Dirichlet(1, 1, 1)`` (a blend that stays on the real embeddings' manifold: names,
languages and topics mix as in real bios) and ``g`` a normal vector of norm about 0.5 (the noise, so no
two synthetic people coincide). Seeded (numpy PCG64), generated in chunks so 1M x 384 float32 (1.5 GB)
is never held twice. Queries ("new profiles") come from the same process with another seed.
Why blends of three and not "real vector + tiny noise": the latter makes ~500 near-copies of each real
profile at 1M, a tightly clustered set on which every library scores recall 1.0 (measured; it tells
nothing). With this generator a query's nearest neighbour has a median cosine of about 0.69 at 100k
(real profiles to their nearest other real profile: 0.57 among 2,040), so neighbours are close but
not trivially separated, which is what a large person index looks like.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from benchmarks._real_profiles import RealProfile, load_real_profiles, simple_text

OUT = Path(__file__).resolve().parent / "out"
Matrix = npt.NDArray[np.float32]
NOISE = 0.5
COMPONENTS = 3


def profile_texts(profiles: list[RealProfile]) -> list[str]:
    try:
        from benchmarks._records import to_record
        from identity.profile_text import profile_text
    except ImportError:
        return [simple_text(p) for p in profiles]
    return [profile_text(to_record(p)) for p in profiles]


def real_vectors() -> tuple[list[RealProfile], Matrix]:
    profiles = load_real_profiles()
    return profiles, encode_cached(profile_texts(profiles))


def encode_cached(texts: list[str], name: str = "text_vectors") -> Matrix:
    """Embeddings of ``texts`` with the project's Encoder, cached per text (by content hash) in
    ``benchmarks/out/<name>.npz``, so re-runs and overlapping text sets skip the model."""
    from embedding.encoder import DIMENSIONS, content_hash

    cache = OUT / f"{name}.npz"
    known: dict[str, Matrix] = {}
    if cache.exists():
        with np.load(cache) as z:
            known = dict(zip(z["hashes"].tolist(), z["vectors"], strict=True))
    hashes = [content_hash(t) for t in texts]
    missing = {h: t for h, t in zip(hashes, texts, strict=True) if h not in known}
    if missing:
        from embedding.encoder import Encoder

        t0 = time.perf_counter()
        print(f"embedding {len(missing)} texts with all-MiniLM-L6-v2 ...", file=sys.stderr, flush=True)
        enc = Encoder()
        todo = list(missing.items())
        for start in range(0, len(todo), 256):
            chunk = todo[start : start + 256]
            for (h, _), v in zip(chunk, enc.encode([t for _, t in chunk]), strict=True):
                known[h] = v
            print(
                f"  {start + len(chunk)}/{len(todo)} ({time.perf_counter() - t0:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
        OUT.mkdir(parents=True, exist_ok=True)
        np.savez(cache, hashes=np.array(list(known)), vectors=np.vstack(list(known.values())))
    out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
    for i, h in enumerate(hashes):
        out[i] = known[h]
    return out


def _normalize(m: Matrix) -> Matrix:
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    return m


def synthetic(real: Matrix, n: int, seed: int = 7, chunk: int = 100_000) -> Matrix:
    rng = np.random.default_rng(seed)
    d = real.shape[1]
    out = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        idx = rng.integers(0, len(real), (m, COMPONENTS))
        w = rng.dirichlet(np.ones(COMPONENTS), m).astype(np.float32)
        v = np.einsum("mc,mcd->md", w, real[idx])
        v += rng.standard_normal((m, d), dtype=np.float32) * np.float32(NOISE / np.sqrt(d))
        out[start : start + m] = _normalize(v)
    return out


def queries(real: Matrix, n: int, seed: int = 11) -> Matrix:
    """New profiles: the same generator as the indexed set, another seed."""
    return synthetic(real, n, seed=seed)


def exact_top_k(base: Matrix, q: Matrix, k: int, chunk: int = 200_000) -> npt.NDArray[np.int64]:
    """Exact cosine top-k (vectors are unit length) by blocked matrix products."""
    best_s = np.full((len(q), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(q), k), dtype=np.int64)
    for start in range(0, len(base), chunk):
        s = q @ base[start : start + chunk].T
        kk = min(k, s.shape[1])
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        cand_s = np.concatenate([best_s, np.take_along_axis(s, part, 1)], axis=1)
        cand_i = np.concatenate([best_i, part + start], axis=1)
        order = np.argsort(-cand_s, axis=1)[:, :k]
        best_s = np.take_along_axis(cand_s, order, 1)
        best_i = np.take_along_axis(cand_i, order, 1)
    return best_i
