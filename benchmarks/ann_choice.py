"""Which approximate nearest-neighbour library backs ``identity.ann.VectorIndex``: measured side by side.

Candidates (all pinned in the venv): hnswlib HNSW, usearch HNSW, faiss ``IndexHNSWFlat`` and faiss
``IndexIVFFlat``; all over inner product on unit vectors (= cosine).

Vectors: real all-MiniLM-L6-v2 embeddings of the ~2,050 real Mastodon and X profiles in
``../shared/data/social``, replicated to N with blending and small noise (``benchmarks._vectors``
says exactly how); queries are real vectors with fresh noise; truth is exact top-10 by matrix product.

For each size the parent process generates base/queries/truth once (``benchmarks/out``), then runs
each library in its own child process on the same files, so memory is the child's RSS growth while
building (plus the saved file's size) and no library's allocations bleed into another's. Per library:

- build: seconds to add N vectors (all cores; IVF includes k-means training on a 50k sample);
- recall@10 vs exact and single-query p50/p95 latency (one thread, like one worker), for a sweep
  of the search knob (HNSW ``ef``; IVF ``nprobe``);
- incremental add: p50 seconds per single-vector add after the build;
- delete: does the library remove at all, is a removed id ever returned afterwards, and are the removed
  vectors' bytes gone from a file saved afterwards (erasure needs all three).

    python -m benchmarks.ann_choice                     # 100k, all libraries (about 4 min on 2 cores)
    python -m benchmarks.ann_choice --sizes 100000,1000000 --libs faiss-ivf,usearch
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks._vectors import OUT, exact_top_k, queries, real_vectors, synthetic
from identity.ann import nlist_for

K = 10
LIBS = ("hnswlib", "usearch", "faiss-hnsw", "faiss-ivf")
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 100
EF_SWEEP = (32, 64, 128)
NPROBE_SWEEP = (8, 16, 32, 64)
N_QUERIES = 500
N_ADD = 300
N_REMOVE = 500


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Adapter:
    name = ""
    knob = ""
    knobs: tuple[int, ...] = ()

    def build(self, base: npt.NDArray[np.float32]) -> None: ...
    def set_knob(self, value: int) -> None: ...
    def search1(self, q: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        raise NotImplementedError

    def add1(self, key: int, v: npt.NDArray[np.float32]) -> None: ...
    def remove(self, keys: npt.NDArray[np.int64]) -> bool:  # False: not supported
        raise NotImplementedError

    def save(self, path: str) -> None: ...


class Hnswlib(Adapter):
    name, knob, knobs = "hnswlib", "ef", EF_SWEEP

    def build(self, base: npt.NDArray[np.float32]) -> None:
        import hnswlib  # type: ignore[import-untyped]

        self.ix = hnswlib.Index(space="ip", dim=base.shape[1])
        self.ix.init_index(len(base) + N_ADD + 10, M=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION)
        self.ix.add_items(base, np.arange(len(base)))
        self.ix.set_num_threads(1)

    def set_knob(self, value: int) -> None:
        self.ix.set_ef(value)

    def search1(self, q: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        labels, _ = self.ix.knn_query(q, k=K)
        return np.asarray(labels[0], dtype=np.int64)

    def add1(self, key: int, v: npt.NDArray[np.float32]) -> None:
        self.ix.add_items(v[None, :], [key])

    def remove(self, keys: npt.NDArray[np.int64]) -> bool:
        for k in keys:
            self.ix.mark_deleted(int(k))
        return True

    def save(self, path: str) -> None:
        self.ix.save_index(path)


class Usearch(Adapter):
    name, knob, knobs = "usearch", "ef", EF_SWEEP

    def build(self, base: npt.NDArray[np.float32]) -> None:
        from usearch.index import Index

        self.ix = Index(
            ndim=base.shape[1],
            metric="ip",
            dtype="f32",
            connectivity=HNSW_M,
            expansion_add=HNSW_EF_CONSTRUCTION,
        )
        self.ix.add(np.arange(len(base)), base)

    def set_knob(self, value: int) -> None:
        self.ix.expansion_search = value  # type: ignore[misc]

    def search1(self, q: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        return np.asarray(self.ix.search(q, K, threads=1).keys, dtype=np.int64)

    def add1(self, key: int, v: npt.NDArray[np.float32]) -> None:
        self.ix.add(key, v, threads=1)

    def remove(self, keys: npt.NDArray[np.int64]) -> bool:
        self.ix.remove(keys)
        return True

    def save(self, path: str) -> None:
        self.ix.save(path)


class FaissHnsw(Adapter):
    name, knob, knobs = "faiss-hnsw", "ef", EF_SWEEP

    def build(self, base: npt.NDArray[np.float32]) -> None:
        import faiss

        self.faiss = faiss
        self.ix = faiss.IndexHNSWFlat(base.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
        self.ix.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        self.ix.add(base)
        faiss.omp_set_num_threads(1)

    def set_knob(self, value: int) -> None:
        self.ix.hnsw.efSearch = value

    def search1(self, q: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        _, i = self.ix.search(q[None, :], K)
        return np.asarray(i[0], dtype=np.int64)

    def add1(self, key: int, v: npt.NDArray[np.float32]) -> None:
        self.ix.add(v[None, :])  # positional ids only: key == ntotal here

    def remove(self, keys: npt.NDArray[np.int64]) -> bool:
        try:
            self.ix.remove_ids(keys)  # type: ignore[arg-type]
        except RuntimeError:
            return False
        return True

    def save(self, path: str) -> None:
        self.faiss.write_index(self.ix, path)


class FaissIvf(Adapter):
    name, knob, knobs = "faiss-ivf", "nprobe", NPROBE_SWEEP

    def build(self, base: npt.NDArray[np.float32]) -> None:
        import faiss

        self.faiss = faiss
        d = base.shape[1]
        self.quantizer = faiss.IndexFlatIP(d)
        self.ix = faiss.IndexIVFFlat(self.quantizer, d, nlist_for(len(base)), faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(3)
        sample = base[rng.choice(len(base), min(len(base), 50_000), replace=False)]
        self.ix.train(sample)
        self.ix.add_with_ids(base, np.arange(len(base), dtype=np.int64))
        faiss.omp_set_num_threads(1)

    def set_knob(self, value: int) -> None:
        self.ix.nprobe = value

    def search1(self, q: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        _, i = self.ix.search(q[None, :], K)
        return np.asarray(i[0], dtype=np.int64)

    def add1(self, key: int, v: npt.NDArray[np.float32]) -> None:
        self.ix.add_with_ids(v[None, :], np.array([key], dtype=np.int64))

    def remove(self, keys: npt.NDArray[np.int64]) -> bool:
        self.ix.remove_ids(np.asarray(keys, dtype=np.int64))  # type: ignore[arg-type]
        return True

    def save(self, path: str) -> None:
        self.faiss.write_index(self.ix, path)


ADAPTERS: dict[str, type[Adapter]] = {a.name: a for a in (Hnswlib, Usearch, FaissHnsw, FaissIvf)}


def run_worker(lib: str, prefix: Path) -> dict[str, Any]:
    base = np.load(f"{prefix}_base.npy")
    q = np.load(f"{prefix}_queries.npy")
    truth = np.load(f"{prefix}_truth.npy")
    extra = np.load(f"{prefix}_extra.npy")
    gc.collect()
    rss0 = rss_mb()
    ad = ADAPTERS[lib]()
    t0 = time.perf_counter()
    ad.build(base)
    build_s = time.perf_counter() - t0
    rss_build = rss_mb() - rss0
    res: dict[str, Any] = {"lib": lib, "n": len(base), "build_s": build_s, "rss_mb": rss_build}
    sweep = []
    for value in ad.knobs:
        ad.set_knob(value)
        lat, hits = [], 0
        for qi in range(len(q)):
            t = time.perf_counter()
            got = ad.search1(q[qi])
            lat.append(time.perf_counter() - t)
            hits += len(set(got.tolist()) & set(truth[qi].tolist()))
        sweep.append(
            {
                ad.knob: value,
                "recall": hits / (len(q) * K),
                "p50_ms": float(np.percentile(lat, 50) * 1e3),
                "p95_ms": float(np.percentile(lat, 95) * 1e3),
            }
        )
    res["sweep"] = sweep
    add_lat = []
    for i in range(len(extra)):
        t = time.perf_counter()
        ad.add1(len(base) + i, extra[i])
        add_lat.append(time.perf_counter() - t)
    res["add_p50_ms"] = float(np.median(add_lat) * 1e3)
    # delete the ids that are the queries' true top-1, then look for them in results and in the file
    victims = np.unique(truth[:, 0])[:N_REMOVE]
    res["remove_supported"] = ad.remove(victims)
    if res["remove_supported"]:
        gone = set(victims.tolist())
        returned = sum(len(gone & set(ad.search1(q[qi]).tolist())) for qi in range(len(q)))
        res["removed_ids_returned"] = returned
        with tempfile.TemporaryDirectory() as tmp:
            path = f"{tmp}/ix"
            ad.save(path)
            blob = Path(path).read_bytes()
            res["file_mb"] = len(blob) / 1e6
            res["removed_vectors_in_file"] = sum(base[v].tobytes()[:64] in blob for v in victims[:50])
            res["erasure_sample"] = min(50, len(victims))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            ad.save(f"{tmp}/ix")
            res["file_mb"] = Path(f"{tmp}/ix").stat().st_size / 1e6
    return res


def prepare(n: int) -> Path:
    _, real = real_vectors()
    tag = hashlib.sha256(real.tobytes() + Path(sys.modules[synthetic.__module__].__file__ or "").read_bytes())
    prefix = OUT / f"ann_{n}_{tag.hexdigest()[:10]}"
    if not Path(f"{prefix}_truth.npy").exists():
        t0 = time.perf_counter()
        base = synthetic(real, n)
        q = queries(real, N_QUERIES)
        np.save(f"{prefix}_base.npy", base)
        np.save(f"{prefix}_queries.npy", q)
        np.save(f"{prefix}_extra.npy", synthetic(real, N_ADD, seed=99))
        truth = exact_top_k(base, q, K)
        np.save(f"{prefix}_truth.npy", truth)
        top1 = np.einsum("qd,qd->q", q, base[truth[:, 0]])
        top10 = np.einsum("qd,qd->q", q, base[truth[:, -1]])
        print(
            f"  {n:,} vectors + exact truth in {time.perf_counter() - t0:.1f} s; queries' nearest cosine: "
            f"median top-1 {np.median(top1):.3f}, top-10 {np.median(top10):.3f}",
            flush=True,
        )
        del base
    return prefix


def summarize(results: list[dict[str, Any]], target_recall: float) -> None:
    print(
        f"\n{'lib':<11}{'N':>9}{'build s':>9}{'RSS MB':>8}{'file MB':>8}{'add ms':>8}  "
        f"{'knob':<11}{'recall@10':>9}{'p50 ms':>8}{'p95 ms':>8}  delete (returned / bytes left)"
    )
    for r in results:
        if r.get("remove_supported"):
            dele = (
                f"yes ({r['removed_ids_returned']} / {r['removed_vectors_in_file']} of {r['erasure_sample']})"
            )
        else:
            dele = "NOT SUPPORTED"
        ok = [s for s in r["sweep"] if s["recall"] >= target_recall]
        pick = ok[0] if ok else r["sweep"][-1]
        knob = next(k for k in pick if k not in ("recall", "p50_ms", "p95_ms"))
        print(
            f"{r['lib']:<11}{r['n']:>9,}{r['build_s']:>9.1f}{r['rss_mb']:>8.0f}{r['file_mb']:>8.0f}"
            f"{r['add_p50_ms']:>8.3f}  {knob + '=' + str(pick[knob]):<11}{pick['recall']:>9.3f}"
            f"{pick['p50_ms']:>8.2f}{pick['p95_ms']:>8.2f}  {dele}"
        )
    print(f"(knob: the smallest setting reaching recall@10 >= {target_recall}, else the largest tried)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000")
    ap.add_argument("--libs", default=",".join(LIBS))
    ap.add_argument("--target-recall", type=float, default=0.95)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--prefix", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(run_worker(args.worker, Path(args.prefix))))
        return
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        print(f"size {n:,}: generating vectors (real MiniLM embeddings, blended + noise) ...", flush=True)
        prefix = prepare(n)
        for lib in args.libs.split(","):
            print(f"  {lib} @ {n:,} ...", flush=True)
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.ann_choice", "--worker", lib, "--prefix", str(prefix)],
                stdout=subprocess.PIPE,
                text=True,
            )
            last = t0
            while proc.poll() is None:
                time.sleep(0.5)
                if time.perf_counter() - last >= 15:
                    last = time.perf_counter()
                    print(f"    ... {last - t0:.0f} s", flush=True)
            out = proc.stdout.read() if proc.stdout else ""
            if proc.returncode != 0:
                print(f"    {lib} failed (exit {proc.returncode})", flush=True)
                continue
            r = json.loads(out.strip().splitlines()[-1])
            results.append(r)
            print(f"    done in {time.perf_counter() - t0:.0f} s", flush=True)
            OUT.mkdir(parents=True, exist_ok=True)
            (OUT / "ann_choice.json").write_text(json.dumps(results, indent=1))
    summarize(results, args.target_recall)
    print("\nfull sweep:")
    for r in results:
        print(
            f"  {r['lib']} @ {r['n']:,}: "
            + "; ".join(
                f"{k}={s[k]} r={s['recall']:.3f} p50={s['p50_ms']:.2f} p95={s['p95_ms']:.2f}"
                for s in r["sweep"]
                for k in s
                if k not in ("recall", "p50_ms", "p95_ms")
            )
        )


if __name__ == "__main__":
    main()
