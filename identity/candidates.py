"""Who might this profile be? Candidate records for the matcher: nearest embeddings plus exact keys.

Two routes, unioned, because each misses what the other finds:

- the embedding route (``identity.ann.VectorIndex``) finds profiles that *read* alike: the same person
  with a changed handle, a shortened name, a reworded bio, in another language;
- the exact route (``identity.blocking.blocking_keys`` in an in-memory inverted index) finds profiles
  that share a hard identifier even when their texts differ: a Bridgy-Fed mirror, the same email,
  personal domain, handle or (nickname-expanded) name.

Every candidate comes with its true cosine to the query (for key hits the ANN did not return, read
from the index in O(1)), best first; the query's own record is never its own candidate. Keys shared by
more than ``max_block`` records ("n:john|smith") are skipped: they do not discriminate and would flood
the matcher.

``remove`` is erasure: the vector leaves the index (see ``identity.ann``), the record's keys leave the
inverted index, and the encoder forgets the cached embedding of its text.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from identity.ann import VectorIndex
from identity.blocking import blocking_keys
from identity.profile_text import profile_text
from identity.records import ProfileRecord

Matrix = npt.NDArray[np.float32]
DEFAULT_MAX_BLOCK = 200


class TextEncoder(Protocol):
    def encode(self, texts: Sequence[str]) -> Matrix: ...

    def forget(self, texts_or_hashes: Sequence[str]) -> int: ...


class CandidateSearch:
    """Candidate generation over every record added so far (thread-safe)."""

    def __init__(
        self, encoder: TextEncoder, index: VectorIndex, *, max_block: int = DEFAULT_MAX_BLOCK
    ) -> None:
        self.encoder = encoder
        self.index = index
        self.max_block = max_block
        self._lock = threading.RLock()
        self._postings: dict[str, set[str]] = {}
        self._keys_of: dict[str, frozenset[str]] = {}
        self._text_of: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._keys_of)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._keys_of

    # --- writing ---------------------------------------------------------------------------------

    def add(self, record: ProfileRecord, vector: Matrix | None = None) -> None:
        """Index ``record`` (replacing an earlier version of the same ``record_id``)."""
        self.add_many([record], None if vector is None else np.asarray(vector, dtype=np.float32)[None, :])

    def add_many(self, records: Sequence[ProfileRecord], vectors: Matrix | None = None) -> None:
        """Index many records with one batched encoder call (or the given vectors, one row per record)."""
        last = {r.record_id: i for i, r in enumerate(records)}  # a repeated id: its last version wins
        if len(last) != len(records):
            keep = sorted(last.values())
            records = [records[i] for i in keep]
            vectors = None if vectors is None else np.asarray(vectors, dtype=np.float32)[keep]
        if not records:
            return
        texts = [profile_text(r) for r in records]
        vecs = self.encoder.encode(texts) if vectors is None else np.asarray(vectors, dtype=np.float32)
        if len(vecs) != len(records):
            raise ValueError(f"{len(vecs)} vectors for {len(records)} records")
        keys = [blocking_keys(r) for r in records]
        with self._lock:
            self.index.add([r.record_id for r in records], vecs)
            for r, text, ks in zip(records, texts, keys, strict=True):
                self._drop_keys(r.record_id)
                self._keys_of[r.record_id] = ks
                self._text_of[r.record_id] = text
                for k in ks:
                    self._postings.setdefault(k, set()).add(r.record_id)

    def remove(self, record_id: str) -> bool:
        """Erase ``record_id``: its vector, its keys and its cached embedding. False when unknown."""
        with self._lock:
            known = record_id in self._keys_of
            self.index.remove([record_id])
            self._drop_keys(record_id)
            text = self._text_of.pop(record_id, None)
        if text is not None:
            self.encoder.forget([text])
        return known

    def _drop_keys(self, record_id: str) -> None:
        for k in self._keys_of.pop(record_id, frozenset()):
            members = self._postings.get(k)
            if members is not None:
                members.discard(record_id)
                if not members:
                    del self._postings[k]

    # --- reading ---------------------------------------------------------------------------------

    def candidates(self, record: ProfileRecord, k: int = 20) -> list[tuple[str, float]]:
        """Record ids that may be the same person as ``record``, with cosine, best first."""
        return self.candidates_many([record], k)[0]

    def candidates_many(
        self, records: Sequence[ProfileRecord], k: int = 20, vectors: Matrix | None = None
    ) -> list[list[tuple[str, float]]]:
        """``candidates`` for many records with one batched encoder call and one index search."""
        if not records:
            return []
        if vectors is None:
            vectors = self.encoder.encode([profile_text(r) for r in records])
        with self._lock:
            ann = self.index.search(vectors, k + 1)  # +1: the record itself may be indexed already
            out = []
            for record, vec, hits in zip(records, vectors, ann, strict=True):
                found = {rid: cos for rid, cos in hits if rid != record.record_id}
                extra = [rid for rid in self.key_hits(record) if rid not in found and rid != record.record_id]
                if extra:
                    found.update(self.index.cosines(vec, extra))
                out.append(sorted(found.items(), key=lambda item: (-item[1], item[0])))
            return out

    def key_hits(self, record: ProfileRecord) -> list[str]:
        """Indexed record ids sharing a discriminating blocking key with ``record`` (sorted)."""
        hits: set[str] = set()
        with self._lock:
            for key in blocking_keys(record):
                members = self._postings.get(key)
                if members and len(members) <= self.max_block:
                    hits |= members
        hits.discard(record.record_id)
        return sorted(hits)

    def shared_keys(self, record: ProfileRecord, other_id: str) -> frozenset[str]:
        """The blocking keys ``record`` shares with an indexed record (evidence for reviewers)."""
        with self._lock:
            return blocking_keys(record) & self._keys_of.get(other_id, frozenset())
