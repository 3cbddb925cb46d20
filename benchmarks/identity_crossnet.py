"""Cross-network identity benchmark: can we tell the same person on two networks from look-alikes?

The labelled set (``benchmarks/data/crossnet_pairs.jsonl.gz``, provenance in ``benchmarks/data/README.md``)
is built from the REAL Mastodon accounts (Bridgy-Fed mirrors of Bluesky accounts included) and X users
in ``../shared/data/social``. Side A is each real profile as its network delivers it. Side B holds, for
each of them, a generated account of the same person on another network (``benchmarks._crossnet_gen``:
handle changes, shortened names, reworded bios, missing fields; a Bridgy-Fed mirror's twin is its Bluesky
original), plus hard negatives: different real people given a name close to a side-A person's.

Pairs are what resolution would actually look at: for every side-A profile, the candidates
``identity.candidates.CandidateSearch`` returns from side B (k nearest embeddings + exact blocking-key
hits), labelled 1 when the candidate is the same person; true pairs the candidate search missed are
added with ``via="missed"`` and count against recall (they can never be merged).

Measured on that set (every pair scored, recall over ALL true pairs):
- candidate recall (true pairs the candidate search finds);
- precision at recall >= 0.90 (best threshold), for the cosine alone and for the matcher's probability;
- precision and recall at the matcher's merge threshold (and its review threshold).
- the same, when each side-A profile may link only its best-scoring candidate (one account per person
  per network), with recall over all side-A profiles.
Goal: precision >= 0.95 at recall >= 0.90.

Overlap to keep in mind: the matcher (``identity.train_matcher``) is fitted, among others, on its own
perturbations of real profiles (``identity.social_training.social_dataset``), but only of the TRAINING
part of a seeded split by person (``identity.social_training.held_out``, half of the people). This set's
generator is independent (other handle/name/bio changes, Bridgy-Fed originals, other namesakes) and no
pair is shared; the numbers are also reported on the held-out part alone: pairs whose side-A person was
never used in training, and (stricter) pairs where every real profile behind side B's record is held
out too (that subset has fewer negatives per true pair, so its precision reads higher).

    python -m benchmarks.identity_crossnet             # evaluate the saved set (builds it if missing)
    python -m benchmarks.identity_crossnet --rebuild   # regenerate the set from ../shared (seeded)
    python -m benchmarks.identity_crossnet --model M   # evaluate another match model document
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks._crossnet_gen import local_part, namesake, twin
from benchmarks._real_profiles import RealProfile, load_real_profiles
from benchmarks._records import to_record
from benchmarks._vectors import encode_cached
from identity.normalize import fold
from identity.profile_text import profile_text
from identity.records import ProfileRecord

DATA = Path(__file__).resolve().parent / "data"
SET_PATH = DATA / "crossnet_pairs.jsonl.gz"
SEED = 20_260_704
K = 10
NAMESAKE_SHARE = 0.5
GOAL_RECALL, GOAL_PRECISION = 0.90, 0.95
_TUPLE_FIELDS = {f.name for f in fields(ProfileRecord)} - {
    "record_id", "source", "display_name", "first_name", "last_name", "handle", "bio", "location",
    "company", "customer_value", "tier",
}  # fmt: skip


def record_to_json(r: ProfileRecord) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(r).items() if v not in (None, ())}


def record_from_json(d: dict[str, Any]) -> ProfileRecord:
    kw = dict(d)
    for name in _TUPLE_FIELDS & kw.keys():
        kw[name] = tuple(tuple(x) if isinstance(x, list) else x for x in kw[name])
    return ProfileRecord(**kw)


def usable(p: RealProfile) -> bool:
    """A profile someone could be recognised by (withheld placeholders and empty profiles are not)."""
    if p.bio and "account has been withheld" in p.bio:
        return False
    return bool((p.display_name and len(p.display_name.strip()) > 1) or p.bio)


def same_person_groups(profiles: list[RealProfile]) -> list[int]:
    """Group ids over the real profiles: one person may hold several real accounts in the data (a
    Mastodon account and the Bridgy-Fed mirror of their Bluesky one, two Mastodon instances). Same
    folded handle (>= 4 characters) and the same first name word, or a name missing -> same person."""
    parent = list(range(len(profiles)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_handle: dict[str, list[int]] = {}
    for i, p in enumerate(profiles):
        local = re.sub(r"[^a-z0-9]", "", fold(local_part(p.handle)))
        if len(local) >= 4:
            by_handle.setdefault(local, []).append(i)
    for members in by_handle.values():
        for i in members[1:]:
            a, b = profiles[members[0]], profiles[i]
            na, nb = fold(a.display_name).split()[:1], fold(b.display_name).split()[:1]
            if not na or not nb or na == nb:
                parent[root(i)] = root(members[0])
    return [root(i) for i in range(len(profiles))]


def generate_side_b(
    profiles: list[RealProfile], side_a: list[ProfileRecord]
) -> tuple[list[ProfileRecord], list[tuple[str, ProfileRecord, str]]]:
    """Side B: each real profile's twin, and the namesakes as (side-A id, namesake, content source id)."""
    twins = [twin(p, a, SEED) for p, a in zip(profiles, side_a, strict=True)]
    rng = random.Random(SEED)
    namesakes = []
    for i, (p, a) in enumerate(zip(profiles, side_a, strict=True)):
        if rng.random() < NAMESAKE_SHARE:
            j = rng.randrange(len(side_a) - 1)
            other = side_a[j + 1 if j >= i else j]
            if (ns := namesake(p, a, other, SEED)) is not None:
                namesakes.append((a.record_id, ns, other.record_id))
    return twins, namesakes


def build_set() -> list[dict[str, Any]]:
    from embedding.encoder import Encoder
    from identity.ann import VectorIndex
    from identity.candidates import CandidateSearch

    profiles = [p for p in load_real_profiles() if usable(p)]
    side_a = [to_record(p) for p in profiles]
    twins, named = generate_side_b(profiles, side_a)
    namesakes = [(a_id, ns) for a_id, ns, _ in named]
    group = same_person_groups(profiles)
    twins_of_group: dict[int, set[str]] = {}
    for g, t in zip(group, twins, strict=True):
        twins_of_group.setdefault(g, set()).add(t.record_id)
    print(f"{len(profiles) - len(twins_of_group)} real profiles are a second account of another real person")
    namesake_of = {ns.record_id: a_id for a_id, ns in namesakes}
    side_b = twins + [ns for _, ns in namesakes]
    print(f"side A: {len(side_a)} real profiles; side B: {len(twins)} twins + {len(namesakes)} namesakes")
    encoder = Encoder()
    vec_a = encode_cached([profile_text(r) for r in side_a])
    vec_b = encode_cached([profile_text(r) for r in side_b])
    search = CandidateSearch(encoder, VectorIndex(vec_b.shape[1]))
    search.add_many(side_b, vec_b)
    b_by_id = {r.record_id: r for r in side_b}
    ann_ids = [{rid for rid, _ in row} for row in search.index.search(vec_a, K)]
    rows = []
    for a, g, ann, cands in zip(
        side_a, group, ann_ids, search.candidates_many(side_a, K, vec_a), strict=True
    ):
        found = {rid for rid, _ in cands}
        keyed = set(search.key_hits(a))
        true = twins_of_group[g]
        for rid in sorted(found | true):
            via = (
                "missed"
                if rid not in found
                else ("both" if rid in ann and rid in keyed else "ann" if rid in ann else "key")
            )
            label = int(rid in true)
            kind = "twin" if label else ("namesake" if namesake_of.get(rid) == a.record_id else "other")
            rows.append(
                {
                    "a": record_to_json(a),
                    "b": record_to_json(b_by_id[rid]),
                    "label": label,
                    "kind": kind,
                    "via": via,
                }
            )
    return rows


def held_out_masks(rows: list[dict[str, Any]]) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Which pairs the matcher's training never saw the people of (``identity.social_training.held_out``):
    (side-A person held out; and, strictly, every real profile side B's record was made from too)."""
    from identity.social_training import held_out

    profiles = [p for p in load_real_profiles() if usable(p)]
    side_a = [to_record(p) for p in profiles]
    twins, named = generate_side_b(profiles, side_a)
    held = {r.record_id: held_out(r.handle, r.record_id) for r in side_a}
    sources = {t.record_id: {a.record_id} for t, a in zip(twins, side_a, strict=True)}
    for a_id, ns, other_id in named:
        sources[ns.record_id] = {a_id, other_id}
    mask_a = np.array([held.get(r["a"]["record_id"], False) for r in rows])
    strict = [
        bool(held.get(r["a"]["record_id"])) and r["b"]["record_id"] in sources
        and all(held.get(x, False) for x in sources[r["b"]["record_id"]])
        for r in rows
    ]  # fmt: skip
    return mask_a, np.array(strict)


def save_set(rows: list[dict[str, Any]]) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    with gzip.open(SET_PATH, "wt", encoding="utf-8", compresslevel=9) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"wrote {len(rows)} pairs to {SET_PATH} ({SET_PATH.stat().st_size / 1e3:.0f} kB)")


def load_set() -> list[dict[str, Any]]:
    with gzip.open(SET_PATH, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def precision_at_recall(
    scores: npt.NDArray[np.float64], labels: npt.NDArray[np.int8], recall: float
) -> tuple[float, float]:
    """Best precision over thresholds with recall (over ALL true pairs) >= ``recall``, and that threshold."""
    positives = int(labels.sum())
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(labels[order])
    prec = tp / np.arange(1, len(order) + 1)
    rec = tp / positives
    ok = np.flatnonzero((rec >= recall) & np.isfinite(scores[order]))
    if len(ok) == 0:
        return float("nan"), float("nan")
    best = ok[np.argmax(prec[ok])]
    return float(prec[best]), float(scores[order][best])


def pr_at(
    scores: npt.NDArray[np.float64], labels: npt.NDArray[np.int8], threshold: float
) -> tuple[float, float]:
    pred = scores >= threshold
    tp = int((pred & (labels == 1)).sum())
    return (tp / max(int(pred.sum()), 1), tp / max(int(labels.sum()), 1))


def best_per_profile(
    scores: npt.NDArray[np.float64], labels: npt.NDArray[np.int8], a_ids: list[str]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    """Each side-A profile's highest-scoring candidate (a person has one account per network, so a
    resolver links at most the best one): its score and whether it is the same person."""
    best: dict[str, tuple[float, int]] = {}
    for s, lab, a in zip(scores.tolist(), labels.tolist(), a_ids, strict=True):
        if a not in best or s > best[a][0]:
            best[a] = (s, lab)
    return np.array([v[0] for v in best.values()]), np.array([v[1] for v in best.values()], dtype=np.int8)


def best_top1(
    top_s: npt.NDArray[np.float64], top_l: npt.NDArray[np.int8], recall: float
) -> tuple[float, float]:
    """Precision at recall >= ``recall`` when each profile links only its best candidate; recall is
    over all side-A profiles (every one has a true twin)."""
    order = np.argsort(-top_s, kind="stable")
    tp = np.cumsum(top_l[order])
    prec = tp / np.arange(1, len(order) + 1)
    rec = tp / len(top_s)
    ok = np.flatnonzero((rec >= recall) & np.isfinite(top_s[order]))
    if len(ok) == 0:
        return float("nan"), float("nan")
    i = ok[np.argmax(prec[ok])]
    return float(prec[i]), float(top_s[order][i])


def best_top1_at(
    top_s: npt.NDArray[np.float64], top_l: npt.NDArray[np.int8], t: float
) -> tuple[float, float]:
    pred = top_s >= t
    tp = int((pred & (top_l == 1)).sum())
    return tp / max(int(pred.sum()), 1), tp / len(top_s)


def _part(
    prob: npt.NDArray[np.float64], labels: npt.NDArray[np.int8], mask: npt.NDArray[np.bool_], merge: float
) -> dict[str, Any]:
    p90, t90 = precision_at_recall(prob[mask], labels[mask], GOAL_RECALL)
    pm, rm = pr_at(prob[mask], labels[mask], merge)
    return {
        "pairs": int(mask.sum()),
        "true_pairs": int(labels[mask].sum()),
        "precision_at_r90": p90,
        "threshold_at_r90": t90,
        "precision_at_merge": pm,
        "recall_at_merge": rm,
    }


def evaluate(rows: list[dict[str, Any]], model: Path | None = None) -> dict[str, Any]:
    a = [record_from_json(r["a"]) for r in rows]
    b = [record_from_json(r["b"]) for r in rows]
    labels = np.array([r["label"] for r in rows], dtype=np.int8)
    missed = np.array([r["via"] == "missed" for r in rows])
    texts = sorted({profile_text(r) for r in a + b})
    vecs = dict(zip(texts, encode_cached(texts), strict=True))
    cos = np.array(
        [float(np.dot(vecs[profile_text(x)], vecs[profile_text(y)])) for x, y in zip(a, b, strict=True)]
    )
    out: dict[str, Any] = {
        "pairs": len(rows),
        "true_pairs": int(labels.sum()),
        "namesake_pairs": sum(r["kind"] == "namesake" for r in rows),
        "candidate_recall": float(1 - (missed & (labels == 1)).sum() / labels.sum()),
        "via": {
            v: sum(r["via"] == v and r["label"] == 1 for r in rows) for v in ("ann", "key", "both", "missed")
        },
    }
    a_ids = [r["a"]["record_id"] for r in rows]
    cos_scores = np.where(missed, -np.inf, cos)
    top_s, top_l = best_per_profile(cos_scores, labels, a_ids)
    out["cosine_best_per_profile"] = dict(
        zip(("precision_at_r90", "threshold"), best_top1(top_s, top_l, GOAL_RECALL), strict=True)
    )
    out["cosine"] = dict(
        zip(
            ("precision_at_r90", "threshold"),
            precision_at_recall(cos_scores, labels, GOAL_RECALL),
            strict=True,
        )
    )
    try:
        from identity.matcher import Matcher, load_models, load_social_models

        if model is None:
            matcher = Matcher()
        else:
            matcher = Matcher(None, *load_models(model), *load_social_models(model))
    except Exception as exc:  # the matcher or its trained model is not there yet
        out["matcher"] = f"not available ({exc.__class__.__name__}: {exc}); cosine only"
        return out
    t0 = time.perf_counter()
    decisions = [matcher.decide(x, y, float(c)) for x, y, c in zip(a, b, cos, strict=True)]
    dt = time.perf_counter() - t0
    prob = np.where(missed, -np.inf, np.array([d.probability for d in decisions]))
    th = matcher.thresholds if hasattr(matcher, "thresholds") else None
    merge = float(getattr(th, "merge", 0.9))
    review = float(getattr(th, "review", 0.5))
    p90, t90 = precision_at_recall(prob, labels, GOAL_RECALL)
    pm, rm = pr_at(prob, labels, merge)
    pv, rv = pr_at(prob, labels, review)
    ns = np.array([r["kind"] == "namesake" for r in rows])
    top_s, top_l = best_per_profile(prob, labels, a_ids)
    bp90, bt90 = best_top1(top_s, top_l, GOAL_RECALL)
    bpm, brm = best_top1_at(top_s, top_l, merge)
    out["matcher"] = {
        "precision_at_r90": p90,
        "threshold_at_r90": t90,
        "merge_threshold": merge,
        "precision_at_merge": pm,
        "recall_at_merge": rm,
        "review_threshold": review,
        "precision_at_review": pv,
        "recall_at_review": rv,
        "namesakes_merged": int((prob[ns] >= merge).sum()),
        "best_per_profile": {
            "best_is_true_share": float(top_l.mean()),
            "precision_at_r90": bp90,
            "threshold_at_r90": bt90,
            "precision_at_merge": bpm,
            "recall_at_merge": brm,
        },
        "decisions_per_s": len(rows) / dt,
    }
    mask_a, strict = held_out_masks(rows)
    out["matcher"]["held_out"] = {
        "side_a_person_held_out": _part(prob, labels, mask_a, merge),
        "all_people_held_out": _part(prob, labels, strict, merge),
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rebuild", action="store_true", help="regenerate the labelled set from ../shared")
    ap.add_argument("--model", type=Path, help="a match model document other than the shipped one")
    args = ap.parse_args()
    if args.rebuild or not SET_PATH.exists():
        save_set(build_set())
    rows = load_set()
    res = evaluate(rows, args.model)
    print(json.dumps(res, indent=1))
    m = res["matcher"]
    print(
        f"\npairs {res['pairs']} ({res['true_pairs']} true, {res['namesake_pairs']} namesakes); "
        f"candidate recall {res['candidate_recall']:.3f}"
    )
    print(
        f"cosine only: precision {res['cosine']['precision_at_r90']:.3f} at recall >= {GOAL_RECALL} "
        "over all pairs, "
        f"{res['cosine_best_per_profile']['precision_at_r90']:.3f} linking each profile's best candidate only"
    )
    if isinstance(m, dict):
        print(
            f"matcher: precision {m['precision_at_r90']:.3f} at recall >= {GOAL_RECALL} "
            f"(threshold {m['threshold_at_r90']:.3f}); "
            f"at merge {m['merge_threshold']}: P {m['precision_at_merge']:.3f} R {m['recall_at_merge']:.3f}; "
            f"at review {m['review_threshold']}: "
            f"P {m['precision_at_review']:.3f} R {m['recall_at_review']:.3f}"
        )
        b = m["best_per_profile"]
        print(
            f"matcher, each profile's best candidate only: precision {b['precision_at_r90']:.3f} "
            "at recall >= "
            f"{GOAL_RECALL}; at merge: P {b['precision_at_merge']:.3f} R {b['recall_at_merge']:.3f}"
        )
        for label, h in m["held_out"].items():
            print(
                f"held out ({label.replace('_', ' ')}; {h['pairs']} pairs, {h['true_pairs']} true): "
                f"precision {h['precision_at_r90']:.3f} at recall >= {GOAL_RECALL}; "
                f"at merge: P {h['precision_at_merge']:.3f} R {h['recall_at_merge']:.3f}"
            )
        met = m["precision_at_r90"] >= GOAL_PRECISION
        print(f"goal precision >= {GOAL_PRECISION} at recall >= {GOAL_RECALL}: {'MET' if met else 'NOT MET'}")
    else:
        print(f"matcher: {m}")
        met = res["cosine"]["precision_at_r90"] >= GOAL_PRECISION
        verdict = "MET" if met else "NOT MET"
        print(f"goal (cosine only) precision >= {GOAL_PRECISION} at recall >= {GOAL_RECALL}: {verdict}")
    (Path(__file__).resolve().parent / "out").mkdir(exist_ok=True)
    (Path(__file__).resolve().parent / "out" / "identity_crossnet.json").write_text(json.dumps(res, indent=1))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
