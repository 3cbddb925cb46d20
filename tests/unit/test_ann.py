"""identity.ann.VectorIndex: search, replace, remove that erases (results and saved files), persistence."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identity.ann import VectorIndex, nlist_for

DIM = 32


@pytest.fixture(autouse=True)
def one_faiss_thread() -> Iterator[None]:
    """One OpenMP thread, as a worker runs it: faiss's thread pool spins badly on a busy shared CPU."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


def unit(rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    out: npt.NDArray[np.float32] = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return out


def clustered(n: int, seed: int = 0, dim: int = DIM) -> npt.NDArray[np.float32]:
    """Vectors around 50 centres, like embeddings of similar profiles."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((50, dim)).astype(np.float32)
    x = centres[rng.integers(0, 50, n)] + 0.4 * rng.standard_normal((n, dim)).astype(np.float32)
    return unit(x)


def ids(n: int, start: int = 0) -> list[str]:
    return [f"acct:{i}" for i in range(start, start + n)]


@pytest.mark.parametrize("train_at", [10_000, 400])  # exact (flat) and IVF
def test_every_vector_finds_itself_first_with_cosine_one(train_at: int) -> None:
    x = clustered(1500)
    ix = VectorIndex(DIM, train_at=train_at, nprobe=16)
    ix.add(ids(1500), x)
    assert ix.is_exact is (train_at > 1500)
    assert len(ix) == 1500
    hits = ix.search(x[:200], k=5)
    assert [h[0][0] for h in hits] == ids(200)
    assert all(abs(h[0][1] - 1.0) < 1e-5 for h in hits)
    assert all(h[i][1] >= h[i + 1][1] for h in hits for i in range(4))


def test_ivf_recall_against_exact_search() -> None:
    x = clustered(6000, seed=1)
    q = clustered(200, seed=2)
    exact = VectorIndex(DIM, train_at=10**9)
    ivf = VectorIndex(DIM, train_at=1000, nprobe=16)
    for ix in (exact, ivf):
        ix.add(ids(6000), x)
    assert exact.is_exact and not ivf.is_exact
    truth = [{i for i, _ in row} for row in exact.search(q, 10)]
    got = [{i for i, _ in row} for row in ivf.search(q, 10)]
    recall = sum(len(t & g) for t, g in zip(truth, got, strict=True)) / (10 * len(q))
    assert recall >= 0.9


def test_cosine_is_the_inner_product_of_normalized_vectors() -> None:
    ix = VectorIndex(3)
    ix.add(["a", "b"], np.array([[3.0, 0, 0], [1.0, 1.0, 0]], dtype=np.float32))
    [[(best, s1), (other, s2)]] = ix.search(np.array([[2.0, 0, 0]], dtype=np.float32), 2)
    assert (best, other) == ("a", "b")
    assert s1 == pytest.approx(1.0, abs=1e-6) and s2 == pytest.approx(2**-0.5, abs=1e-6)


def test_adding_an_existing_id_replaces_its_vector() -> None:
    x = clustered(50)
    ix = VectorIndex(DIM)
    ix.add(ids(50), x)
    ix.add(["acct:0"], x[7:8])
    assert len(ix) == 50
    [hits] = ix.search(x[7:8], 2)
    assert {h[0] for h in hits} == {"acct:0", "acct:7"}
    [own] = ix.search(x[0:1], 1)
    assert own[0][0] != "acct:0"


@pytest.mark.parametrize("train_at", [10_000, 300])
def test_removed_ids_are_never_returned_and_others_still_are(train_at: int) -> None:
    x = clustered(1000, seed=3)
    ix = VectorIndex(DIM, train_at=train_at, nprobe=64)
    ix.add(ids(1000), x)
    gone = ids(1000)[::3]
    assert ix.remove([*gone, "never-added"]) == len(gone)
    assert len(ix) == 1000 - len(gone)
    assert ix.remove(gone) == 0  # idempotent
    for row in ix.search(x, k=50):
        assert not {i for i, _ in row} & set(gone)
    kept = [i for i in ids(1000) if i not in set(gone)]
    [everything] = ix.search(x[1:2], k=len(ix))
    if ix.is_exact:
        assert {i for i, _ in everything} == set(kept)
    assert all(ix.vector(i) is None for i in gone[:20])


@pytest.mark.parametrize("train_at", [10_000, 300])
def test_a_removed_vector_is_gone_from_a_file_saved_afterwards(tmp_path: Path, train_at: int) -> None:
    x = clustered(800, seed=4)
    ix = VectorIndex(DIM, train_at=train_at)
    ix.add(ids(800), x)
    victims = [5, 123, 799, 0]
    stored = {}
    for v in [*victims, 6]:  # the bytes as the index holds them (normalized on the way in)
        vec = ix.vector(f"acct:{v}")
        assert vec is not None
        stored[v] = vec.tobytes()
    ix.remove([f"acct:{v}" for v in victims])
    ix.save(tmp_path / "ix.npz")
    blob = (tmp_path / "ix.npz").read_bytes()
    for v in victims:
        assert stored[v] not in blob
        assert f'acct:{v}"'.encode() not in blob
    assert stored[6] in blob  # a kept vector is stored as it was, so the check above can fail
    loaded = VectorIndex.load(tmp_path / "ix.npz")
    for row in loaded.search(x, k=20):
        assert not {i for i, _ in row} & {f"acct:{v}" for v in victims}


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    x = clustered(700, seed=5)
    ix = VectorIndex(DIM, train_at=300, nprobe=8)
    ix.add(ids(700), x)
    ix.remove(["acct:1"])
    ix.save(tmp_path / "a" / "ix.npz")
    back = VectorIndex.load(tmp_path / "a" / "ix.npz")
    assert len(back) == len(ix) and back.nprobe == 8 and not back.is_exact
    assert back.search(x[:30], 5) == ix.search(x[:30], 5)
    back.add(["new"], x[1:2])  # labels continue; the removed label is not reused
    assert back.search(x[1:2], 1)[0][0][0] == "new"
    kept = back.vector("acct:2")
    assert kept is not None
    np.testing.assert_allclose(kept, x[2], atol=1e-6)


def test_load_rejects_a_file_that_is_not_an_index(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an index")
    with pytest.raises(ValueError, match="not a VectorIndex file"):
        VectorIndex.load(bad)


def test_growth_retrains_and_keeps_every_vector() -> None:
    x = clustered(3000, seed=6)
    ix = VectorIndex(DIM, train_at=200, retrain_growth=4.0, nprobe=nlist_for(3000))
    for start in range(0, 3000, 250):
        ix.add(ids(250, start), x[start : start + 250])
        assert ix.wait_for_retrain(timeout=60)
    assert len(ix) == 3000 and not ix.is_exact
    assert ix._trained_at >= 800  # retrained at least once after the first training at 200
    hits = ix.search(x, 1)
    assert [h[0][0] for h in hits] == ids(3000)


def test_a_retrain_runs_aside_and_keeps_the_writes_made_meanwhile(monkeypatch: pytest.MonkeyPatch) -> None:
    """While a retrain runs on its thread the index answers from its current lists; adds,
    replacements and removals made meanwhile are all in the new index when it takes over."""
    x = clustered(1000, seed=11)
    ix = VectorIndex(DIM, train_at=100, retrain_growth=4.0, nprobe=10_000)  # exhaustive IVF search
    ix.add(ids(100), x[:100])  # the first training: inline
    assert not ix.is_exact and ix._trained_at == 100
    gate, train = threading.Event(), ix._train

    def held_train(labels: Any, vecs: Any) -> Any:
        assert gate.wait(60)
        return train(labels, vecs)

    monkeypatch.setattr(ix, "_train", held_train)
    ix.add(ids(300, 100), x[100:400])  # 400 = 4 x 100: the retrain starts, held at the gate
    assert ix._retraining is not None and ix._trained_at == 100
    ix.add(ids(100, 400), x[400:500])  # meanwhile: new ids ...
    ix.remove(ids(1, 3) + ids(1, 150) + ids(1, 450))  # ... removals from before the snapshot and after it ...
    ix.add(ids(1, 7), x[999:1000])  # ... and a replacement
    assert ix.search(x[999:1000], 1)[0][0][0] == "acct:7"  # searches go on over the current lists
    gate.set()
    assert ix.wait_for_retrain(timeout=60)
    assert ix._retraining is None and ix._trained_at == 400 and len(ix) == 497
    present = [i for i in range(500) if i not in (3, 7, 150, 450)]  # and 7 under a new vector
    assert [row[0][0] for row in ix.search(x[present], 1)] == [f"acct:{i}" for i in present]
    assert ix.search(x[999:1000], 1)[0][0] == ("acct:7", pytest.approx(1.0, abs=1e-5))
    found = {rid for row in ix.search(x[:500], k=497) for rid, _ in row}
    assert found == {f"acct:{i}" for i in [*present, 7]}  # no removed id comes back


def test_bad_input_is_refused_with_a_reason() -> None:
    ix = VectorIndex(DIM)
    good = clustered(2)
    with pytest.raises(ValueError, match="dimension"):
        ix.add(["a"], np.ones((1, DIM + 1), dtype=np.float32))
    with pytest.raises(ValueError, match="NaN"):
        ix.add(["a"], np.full((1, DIM), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="zero vector"):
        ix.add(["a"], np.zeros((1, DIM), dtype=np.float32))
    with pytest.raises(ValueError, match="duplicate"):
        ix.add(["a", "a"], good)
    with pytest.raises(ValueError, match="ids for"):
        ix.add(["a"], good)
    with pytest.raises(ValueError, match="non-empty"):
        ix.add(["", "b"], good)
    with pytest.raises(TypeError):
        ix.add("ab", good)
    with pytest.raises(ValueError, match="k must be positive"):
        ix.search(good, 0)
    assert len(ix) == 0
    assert ix.search(good, 3) == [[], []]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(
        st.tuples(st.sampled_from(["add", "remove"]), st.lists(st.integers(0, 60), min_size=1, max_size=12)),
        min_size=1,
        max_size=25,
    ),
    train_at=st.sampled_from([40, 10_000]),
)
def test_search_matches_a_model_of_what_is_present(ops: list[tuple[str, list[int]]], train_at: int) -> None:
    """After any sequence of adds and removes, exactly the present ids can be found, each by its vector."""
    x = clustered(61, seed=9)
    ix = VectorIndex(DIM, train_at=train_at, nprobe=10_000)  # nprobe >= nlist: IVF search is exhaustive
    present: set[int] = set()
    for op, keys in ops:
        uniq = sorted(set(keys))
        if op == "add":
            ix.add([f"k{k}" for k in uniq], x[uniq])
            present |= set(uniq)
        else:
            ix.remove([f"k{k}" for k in uniq])
            present -= set(uniq)
    assert len(ix) == len(present)
    if present:
        rows = ix.search(x, k=len(present))
        assert all({i for i, _ in row} == {f"k{k}" for k in present} for row in rows)
        for k in present:
            assert ix.search(x[k : k + 1], 1)[0][0][0] == f"k{k}"
