"""The encoder's cache: vectors by the content hash of their text, least recently used first out,
each with the owners (accounts) whose texts it was computed or served for, so an erasure can drop
every vector derived from an erased account's texts (``forget_owners``).

Kept exact, not approximate:
- an owner is noted on a vector each time the vector is used for that owner's text, and the note
  goes when the vector leaves the cache (evicted, dropped, forgotten);
- a vector used for more than ``owners_per_vector`` owners is dropped rather than noted (a text
  copied by many accounts is computed again, with fresh notes): every vector's owners are known;
- an owner once forgotten (the latest ``forgotten_kept``) is not noted again: a vector used for it
  afterwards, by a call that began before the erasure, is dropped instead of kept.

Not thread-safe: ``embedding.encoder.Encoder`` holds its lock around every call.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]

#: owners noted on one vector before it is dropped instead
OWNERS_PER_VECTOR = 32
#: forgotten owners remembered (the latest), whose texts are not cached again
FORGOTTEN_KEPT = 100_000


class VectorCache:
    def __init__(
        self, size: int, *, owners_per_vector: int = OWNERS_PER_VECTOR, forgotten_kept: int = FORGOTTEN_KEPT
    ) -> None:
        if size < 0 or owners_per_vector < 1 or forgotten_kept < 0:
            raise ValueError("size and forgotten_kept must be >= 0, owners_per_vector >= 1")
        self._size = size
        self._owners_per_vector = owners_per_vector
        self._forgotten_kept = forgotten_kept
        self._vectors: OrderedDict[str, Vector] = OrderedDict()
        self._owners: dict[str, set[str]] = {}  # key -> owners noted since it was cached
        self._owned: dict[str, set[str]] = {}  # owner -> keys of cached vectors it was noted on
        self._forgotten: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._vectors)

    def __contains__(self, key: str) -> bool:
        return key in self._vectors

    def get(self, key: str) -> Vector | None:
        """The vector of ``key`` (now the most recently used), or None."""
        vec = self._vectors.get(key)
        if vec is not None:
            self._vectors.move_to_end(key)
        return vec

    def put(self, key: str, vec: Vector) -> None:
        """Cache a vector; the least recently used go beyond ``size``. A key already cached keeps its
        vector (the same text's) and its notes: two calls that computed it at once lose no owner."""
        if key in self._vectors:
            self._vectors.move_to_end(key)
            return
        if self._size == 0:
            return
        self._vectors[key] = vec
        while len(self._vectors) > self._size:
            self.drop(next(iter(self._vectors)))

    def note(self, key: str, owner: str) -> None:
        """``key``'s vector was used for a text of ``owner``: note it, or drop the vector where the
        owner was forgotten or the vector has ``owners_per_vector`` owners already."""
        if key not in self._vectors:
            return  # evicted meanwhile: nothing kept to note
        owners = self._owners.setdefault(key, set())
        if owner in owners:
            return
        if owner in self._forgotten or len(owners) >= self._owners_per_vector:
            self.drop(key)
            return
        owners.add(owner)
        self._owned.setdefault(owner, set()).add(key)

    def owners_of(self, key: str) -> frozenset[str]:
        return frozenset(self._owners.get(key, ()))

    def drop(self, key: str) -> bool:
        """Drop ``key``'s vector and its notes; -> whether it was cached."""
        found = self._vectors.pop(key, None) is not None
        for owner in self._owners.pop(key, ()):
            keys = self._owned.get(owner)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._owned[owner]
        return found

    def forget_owners(self, owners: Iterable[str]) -> int:
        """Drop every vector noted for one of ``owners`` and remember them as forgotten; -> how many
        vectors were dropped."""
        dropped = 0
        for owner in owners:
            self._forgotten[owner] = None
            self._forgotten.move_to_end(owner)
            for key in self._owned.pop(owner, set()):
                dropped += self.drop(key)
        while len(self._forgotten) > self._forgotten_kept:
            self._forgotten.popitem(last=False)
        return dropped
