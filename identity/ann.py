"""Approximate nearest-neighbour search over person embeddings (cosine), with deletes that erase.

Library: faiss (``faiss-cpu``) ``IndexIVFFlat``, chosen by measurement: ``python -m benchmarks.ann_choice``
runs hnswlib, usearch, faiss HNSW and faiss IVF side by side in one run on the same 100k vectors (real
all-MiniLM-L6-v2 embeddings of the real Mastodon/X profiles, blended with noise; 500 queries; HNSW M=16,
ef_construction=100). Measured on the shared 2-core machine (load ~15, so medians and ratios count,
not absolute times):

====================  ========  ==========  ========  ==================  ===========================
library               build s   add/vector  file MB   recall@10 (knob)    p50 ms   delete
====================  ========  ==========  ========  ==================  ===========================
hnswlib               265       0.81 ms     169       0.967 (ef 64)       0.41     tombstone: bytes stay
usearch               1057      4.3 ms      169       0.966 (ef 64)       1.07     tombstone: bytes stay
faiss HNSW            281       0.58 ms     169       0.956 (ef 64)       0.32     not supported
faiss IVF             48        0.05 ms     156       0.980 (nprobe 8)    0.35     removed, bytes gone
                                                      0.994 (nprobe 32)   1.12
====================  ========  ==========  ========  ==================  ===========================

At 1M vectors (``--sizes 1000000 --libs faiss-ivf``; 2048 lists): build 104 s, recall@10 0.996 /
0.997 / 0.998 at nprobe 8 / 16 / 32, p50 1.2 / 3.1 / 8.4 ms, p95 6.4 / 10.2 / 13.4 ms; RSS 2.0 GB, file
1.5 GB. The default nprobe is 16. (The HNSW libraries were not built at 1M: at 100k they already took
4-18 minutes on this machine.) Since 2026-12-06 the index keeps 4,096 lists at 1M, not 2,048
(``nlist_for``): batched search 2.12 -> 0.96 ms a query at recall@10 0.9973 -> 0.9953 (nprobe 16;
as this index grows to 1M, trained at 320k: 0.9957 against 0.9961), ``benchmarks/RESULTS.md``.

- Erasure decides it: hnswlib and usearch only tombstone a removed vector; the benchmark finds all 50
  sampled removed vectors' bytes in files saved afterwards. faiss HNSW cannot remove at all. A person's
  erasure request must make their vector unrecoverable, and rebuilding a 1M-vector graph per erasure
  is not an option. faiss IVF removes for real: the inverted list shrinks, a saved file holds none of the
  removed bytes, and no removed id is ever returned (0 of 500 in the benchmark, as for the others).
- It also wins or ties everywhere else: 5-20x faster build (k-means on a sample plus one assignment pass,
  no graph), 10-80x faster incremental add, the smallest file, and the best recall at equal latency.
  p95 latencies were ~20 ms for every library: that is the scheduler on a machine with load 15, not
  the index (p50 is ~0.3-1 ms for all).

How it is used here:
- below ``train_at`` vectors the index is exact (``IndexFlatIP`` behind an id map): no training data
  exists yet and exact search over 20k vectors costs about a millisecond;
- at ``train_at`` it trains an IVF (``nlist`` ~ 8 sqrt(n), a power of two, <= 4096) on the vectors it
  holds and moves them over (inside that ``add``: 0.4 s at 20k); it retrains when the collection has
  grown ``retrain_growth`` (4) times since, so lists stay short: 1,024 lists at 80k persons, 4,096 at
  320k and after. Those retrains run on a thread of their own (46 s at 320k on one core) while
  searches go on over the current lists; writes made meanwhile are replayed onto the new index;
- ids are strings; each gets a fresh int64 label that is never reused, so a stale label can never alias
  another person. ``add`` of an existing id replaces its vector;
- vectors are L2-normalized on the way in, so inner product is cosine;
- ``save`` writes one ``.npz`` (the faiss index serialized, the labels and ids) atomically; ``load`` is
  a classmethod returning a new index.

Erasure: ``remove`` deletes the vector from the faiss structures, so searches never return it and files
saved afterwards never contain it (tested). Files saved *before* the removal are the caller's to
delete or overwrite; freed capacity inside faiss's buffers may hold stale bytes in process memory until
reused (never written out).
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int64]
log = logging.getLogger(__name__)

DEFAULT_TRAIN_AT = 20_000
DEFAULT_NPROBE = 16  # recall@10 0.996 at 1M with 4,096 lists (~1 ms a query, one thread)
TRAIN_SAMPLE = 64_000  # k-means sample, at least 40 points a list (faiss itself caps it at 256)
MAX_NLIST = 4096  # 1M vectors: ~250 per list; nprobe 16 then scans ~4k vectors (~1 ms)
DEFAULT_RETRAIN_GROWTH = 4.0
_FORMAT = 1


def nlist_for(n: int) -> int:
    """IVF list count for ``n`` vectors: about 8 sqrt(n), a power of two, at least 16, at most
    n / 40 (k-means needs ~40 training points per centroid) and at most ``MAX_NLIST`` (training and
    re-assignment cost grow with it). 8 sqrt(n), not the textbook 4: the index keeps the lists it was
    trained with until it has grown ``retrain_growth`` times, and a batch of queries finds its lists
    with one matrix product, so short lists are cheap. Measured at 1M vectors, batches of 32, one
    thread: 2048 lists 2.12 ms a query (recall@10 0.9973 at nprobe 16), 4096 lists 0.96 ms (0.9953)."""
    n = max(n, 1)
    target = 2 ** round(math.log2(8 * math.sqrt(n)))
    cap = 2 ** math.floor(math.log2(max(n / 40, 1)))
    return int(max(16, min(target, cap, MAX_NLIST)))


def _as_matrix(vectors: Any, dim: int) -> Matrix:
    m = np.array(vectors, dtype=np.float32, copy=True, ndmin=2)
    if m.ndim != 2 or m.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError("vectors contain NaN or infinity")
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError("a zero vector has no direction (cosine undefined)")
    m /= norms
    return m


class VectorIndex:
    """String ids -> unit vectors; cosine k-NN search; add, replace, remove (erasing), save, load."""

    def __init__(
        self,
        dim: int = 384,
        *,
        nprobe: int = DEFAULT_NPROBE,
        train_at: int = DEFAULT_TRAIN_AT,
        retrain_growth: float = DEFAULT_RETRAIN_GROWTH,
    ) -> None:
        if dim <= 0 or nprobe <= 0 or train_at < 1 or retrain_growth <= 1:
            raise ValueError("dim, nprobe and train_at must be positive and retrain_growth > 1")
        self.dim = dim
        self.nprobe = nprobe
        self.train_at = train_at
        self.retrain_growth = retrain_growth
        self._lock = threading.RLock()
        self._label_of: dict[str, int] = {}
        self._id_of: dict[int, str] = {}
        self._next_label = 0
        self._trained_at = 0  # collection size when the IVF was last trained; 0 = exact (flat) mode
        #: a retrain in progress on its own thread, and the writes made since its snapshot
        self._retraining: threading.Thread | None = None
        self._since_snapshot: list[tuple[Labels, Matrix | None]] = []  # (labels, vectors) or removal
        self._index: Any = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    # --- reading ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._label_of)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._label_of

    @property
    def is_exact(self) -> bool:
        """True while the index is a flat (exact) one, i.e. before the first IVF training."""
        return self._trained_at == 0

    def search(self, vectors: Any, k: int = 10) -> list[list[tuple[str, float]]]:
        """For each query vector, up to ``k`` (id, cosine) pairs, best first."""
        if k <= 0:
            raise ValueError("k must be positive")
        q = _as_matrix(vectors, self.dim)
        with self._lock:
            if not self._label_of:
                return [[] for _ in range(len(q))]
            if not self.is_exact:
                faiss.extract_index_ivf(self._index).nprobe = self.nprobe
            scores, labels = self._index.search(q, min(k, len(self._label_of)))
            out: list[list[tuple[str, float]]] = []
            for row_s, row_l in zip(scores, labels, strict=True):
                hits = []
                for s, lab in zip(row_s, row_l, strict=True):
                    rid = self._id_of.get(int(lab)) if lab >= 0 else None
                    if rid is not None:
                        hits.append((rid, float(min(1.0, max(-1.0, s)))))
                out.append(hits)
            return out

    def vector(self, record_id: str) -> Matrix | None:
        """The stored (normalized) vector of ``record_id``, or None."""
        with self._lock:
            label = self._label_of.get(record_id)
            if label is None:
                return None
            vec: Matrix = np.asarray(self._index.reconstruct(label), dtype=np.float32)
            return vec

    def cosines(self, query: Any, ids: Sequence[str]) -> dict[str, float]:
        """Exact cosine of one query vector to each stored id in ``ids`` (absent ids are left out).

        O(1) per id (faiss's id map or hash-table direct map), so exact-key candidates that the
        approximate search missed still get a true cosine.
        """
        q = _as_matrix(query, self.dim)[0]
        out: dict[str, float] = {}
        with self._lock:
            for rid in ids:
                label = self._label_of.get(rid)
                if label is not None and rid not in out:
                    v = self._index.reconstruct(label)
                    out[rid] = float(min(1.0, max(-1.0, float(np.dot(q, v)))))
        return out

    # --- writing ---------------------------------------------------------------------------------

    def add(self, ids: Sequence[str], vectors: Any) -> None:
        """Add (or replace) one vector per id. Ids must be non-empty strings, unique within the call."""
        if isinstance(ids, str):
            raise TypeError("ids must be a sequence of strings, not one string")
        m = _as_matrix(vectors, self.dim)
        if len(ids) != len(m):
            raise ValueError(f"{len(ids)} ids for {len(m)} vectors")
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate ids in one add()")
        if any(not isinstance(i, str) or not i for i in ids):
            raise ValueError("ids must be non-empty strings")
        if not ids:
            return
        with self._lock:
            self._remove_labels([self._label_of[i] for i in ids if i in self._label_of])
            labels = np.arange(self._next_label, self._next_label + len(ids), dtype=np.int64)
            self._next_label += len(ids)
            for rid, lab in zip(ids, labels.tolist(), strict=True):
                self._label_of[rid] = lab
                self._id_of[lab] = rid
            self._index.add_with_ids(m, labels)
            if self._retraining is not None:
                self._since_snapshot.append((labels, m))
            n = len(self._label_of)
            if self.is_exact and n >= self.train_at:
                self._swap_in(*self._train(*self._all_vectors()))  # small: 0.4 s at 20k
            elif (
                not self.is_exact and n >= self._trained_at * self.retrain_growth and self._retraining is None
            ):
                self._start_retrain()

    def remove(self, ids: Sequence[str]) -> int:
        """Delete the vectors of ``ids`` (unknown ids are ignored); returns how many were removed."""
        if isinstance(ids, str):
            raise TypeError("ids must be a sequence of strings, not one string")
        with self._lock:
            labels = [self._label_of[i] for i in ids if i in self._label_of]
            self._remove_labels(labels)
            return len(labels)

    def _remove_labels(self, labels: list[int]) -> None:
        if not labels:
            return
        arr = np.asarray(labels, dtype=np.int64)
        removed = self._index.remove_ids(arr)
        if removed != len(labels):
            raise RuntimeError(f"faiss removed {removed} of {len(labels)} vectors")
        if self._retraining is not None:
            self._since_snapshot.append((arr, None))
        for lab in labels:
            rid = self._id_of.pop(lab)
            del self._label_of[rid]

    def _all_vectors(self) -> tuple[npt.NDArray[np.int64], Matrix]:
        """Every stored (label, vector), copied out of faiss's storage (for retraining)."""
        if self.is_exact:
            labels = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            inner = self._index.index
            return labels, np.asarray(inner.reconstruct_n(0, inner.ntotal), dtype=np.float32)
        invlists: Any = faiss.extract_index_ivf(self._index).invlists
        all_labels, all_vecs = [], []
        for lst in range(invlists.nlist):
            size = invlists.list_size(lst)
            if size:
                all_labels.append(faiss.rev_swig_ptr(invlists.get_ids(lst), size).copy())
                codes = faiss.rev_swig_ptr(invlists.get_codes(lst), size * self.dim * 4)
                all_vecs.append(codes.view(np.float32).reshape(size, self.dim).copy())
        if not all_labels:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(all_labels).astype(np.int64), np.vstack(all_vecs)

    def _train(self, labels: Labels, vecs: Matrix) -> tuple[Any, Any, int]:
        """A new IVF over ``(labels, vecs)``: k-means on a sample, then every vector assigned.
        -> (index, its quantizer, the collection size it was trained at). Touches nothing shared."""
        n = len(labels)
        quantizer = faiss.IndexFlatIP(self.dim)
        nlist = nlist_for(n)
        ivf = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(n)
        size = max(TRAIN_SAMPLE, 40 * nlist)
        sample = vecs[rng.choice(n, size, replace=False)] if n > size else vecs
        ivf.train(sample)
        # a hash-table direct map: O(1) reconstruct by label, and compatible with remove_ids
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
        ivf.add_with_ids(vecs, labels)
        ivf.nprobe = self.nprobe
        return ivf, quantizer, n

    def _swap_in(self, ivf: Any, quantizer: Any, trained_at: int) -> None:
        self._index = ivf
        self._quantizer = quantizer  # keep the Python owner alive alongside the index
        self._trained_at = trained_at

    def _start_retrain(self) -> None:
        """Retrain on a thread of its own (k-means and re-assigning every vector took 46 s at 320k
        persons on one core), while this index keeps answering from its current lists. Writes
        made meanwhile are logged and replayed onto the new index before it takes over, removals
        included (until then the snapshot copy in that thread's memory still holds a vector
        removed meanwhile; it is never written out)."""
        labels, vecs = self._all_vectors()
        self._since_snapshot = []
        self._retraining = threading.Thread(
            target=self._retrain, args=(labels, vecs), name="vector-index-retrain", daemon=True
        )
        self._retraining.start()

    def _retrain(self, labels: Labels, vecs: Matrix) -> None:
        try:
            ivf, quantizer, trained_at = self._train(labels, vecs)  # faiss releases the GIL
            with self._lock:
                for op_labels, op_vecs in self._since_snapshot:
                    if op_vecs is None:
                        ivf.remove_ids(op_labels)
                    else:
                        ivf.add_with_ids(op_vecs, op_labels)
                self._swap_in(ivf, quantizer, trained_at)
        except Exception:  # the current lists stay in use; the next add past the threshold retries
            log.exception("vector index retrain failed")
        finally:
            with self._lock:
                self._since_snapshot = []
                self._retraining = None

    def wait_for_retrain(self, timeout: float | None = None) -> bool:
        """Block until a retrain in progress has finished (tests, benchmarks, a clean shutdown).
        -> False if one is still running after ``timeout`` seconds."""
        thread = self._retraining
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    # --- persistence -----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index to ``path`` atomically (temp file + rename): faiss index, labels, ids."""
        target = Path(path)
        with self._lock:
            blob = faiss.serialize_index(self._index)
            labels = np.fromiter(self._id_of.keys(), dtype=np.int64, count=len(self._id_of))
            meta = {
                "format": _FORMAT,
                "dim": self.dim,
                "nprobe": self.nprobe,
                "train_at": self.train_at,
                "retrain_growth": self.retrain_growth,
                "next_label": self._next_label,
                "trained_at": self._trained_at,
                "ids": [self._id_of[int(lab)] for lab in labels],
            }
            buf = io.BytesIO()
            np.savez(
                buf,
                faiss=blob,
                labels=labels,
                meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(buf.getvalue())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> VectorIndex:
        """A new index read from a file ``save`` wrote (ValueError when it is not one)."""
        try:
            with np.load(Path(path), allow_pickle=False) as z:
                blob, labels, meta_raw = z["faiss"], z["labels"], z["meta"]
            meta = json.loads(bytes(meta_raw).decode("utf-8"))
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"{path}: not a VectorIndex file ({exc})") from exc
        if meta.get("format") != _FORMAT:
            raise ValueError(f"{path}: unsupported VectorIndex format {meta.get('format')!r}")
        ix = cls(
            int(meta["dim"]),
            nprobe=int(meta["nprobe"]),
            train_at=int(meta["train_at"]),
            retrain_growth=float(meta["retrain_growth"]),
        )
        ix._index = faiss.deserialize_index(blob)
        ix._next_label = int(meta["next_label"])
        ix._trained_at = int(meta["trained_at"])
        ids = meta["ids"]
        if len(ids) != len(labels) or ix._index.ntotal != len(labels):
            raise ValueError(f"{path}: ids, labels and vectors disagree")
        for rid, lab in zip(ids, labels.tolist(), strict=True):
            ix._label_of[rid] = lab
            ix._id_of[lab] = rid
        return ix
