"""Incremental weighted PageRank by residual push, with age decay that never rewrites old edges.

What is computed
----------------
The same vector as ``networkx.pagerank(G, alpha, weight="weight")`` on a directed graph whose edge
``u -> v`` weighs the (decayed) sum of the interactions ``u`` addressed to ``v``: uniform
teleport, and a dangling node (no out-weight) spreads its rank uniformly, as networkx does.

Why a local algorithm works with networkx's dangling rule
----------------------------------------------------------
Let ``P`` be the row-normalized out-weights, with the rows of dangling nodes left at zero, and
``y`` the solution of ``y = (1 - alpha) 1 + alpha P^T y``. networkx's fixed point solves
``pi = c 1 + alpha P^T pi`` with the one scalar ``c = ((1 - alpha) + alpha * dangling_mass) / n``
(uniform teleport plus the uniformly spread dangling rank), so ``pi = y / sum(y)``. The dangling rule
is only a normalization, and ``y`` is a local quantity: ``y_v / (1 - alpha)`` is "how many times
the baseline of an account nobody interacts with", the value the composite score uses, while
``pagerank(v) = y_v / sum(y)`` matches networkx.

Residual push (the invariant)
-----------------------------
Keep estimates ``p`` and residuals ``r`` with ``r = (1 - alpha) 1 - p + alpha P^T p``; then
``y = p + (I - alpha P^T)^-1 r``. Pushing a node moves ``r_u`` into ``p_u`` and hands
``alpha r_u w_uv / W_u`` to each out-neighbour, which keeps the invariant. When every ``|r_u| <=
eps`` the error of every node is at most ``eps * y_v / (1 - alpha)``: a *relative* error bound, so
``eps = tol * (1 - alpha)`` gives every account its rank to ``tol`` relative accuracy.

An edge insert or weight increase ``u -> t`` by ``d`` (out-weight ``W -> W + d``) keeps the
invariant by scaling ``p_u`` by ``(W + d) / W`` (so what ``u`` sends to every *other* neighbour is
unchanged), subtracting that scaling from ``r_u`` and adding ``alpha p_u d / W`` to ``r_t``: two
residuals change, whatever ``u``'s degree, and pushes spread only as far as residuals exceed
``eps`` (the approach of Zhang, Lofgren and Goel, "Approximate personalized PageRank on dynamic
graphs", KDD 2016, applied to the global vector). When ``d`` exceeds ``W`` (a fresh interaction
after the old ones decayed) that scaling would amplify rounding, so the change of the row is
applied to each neighbour's residual instead (O(degree), exact). A dangling ``u`` gaining its first
out-edge adds ``alpha p_u`` to ``r_t``. A new node starts at ``p = 0, r = 1 - alpha``.

Decay without rewriting
-----------------------
An interaction of weight ``w`` at time ``t`` is stored as ``w * 2^((t - T0) / half_life)``. At any
later time every stored weight is off by the same factor ``2^((now - T0)/half_life)``; PageRank
depends only on each node's *relative* out-weights, so the stored graph has exactly the
PageRank of the decayed graph, and ageing needs no work at all. When the exponent grows large
(``RESCALE_EXPONENT`` half-lives), every weight is divided by the same power of two and ``T0``
moves forward: rows stay proportional, so ``p`` and ``r`` stay valid (a rare O(edges) pass).
"""

from __future__ import annotations

import copy
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: rescale stored weights once an inflation factor would exceed 2**this (floats reach 2**1023)
RESCALE_EXPONENT = 400.0
#: events older than T0 by more than this many half-lives are too old to matter (weight underflow)
OLDEST_EXPONENT = -400.0


@dataclass(frozen=True, slots=True)
class WeightedEdge:
    """One interaction: ``src`` addressed ``dst`` with ``weight`` at event time ``at`` (seconds)."""

    src: str
    dst: str
    weight: float
    at: float = 0.0


class IncrementalPageRank:
    """Weighted PageRank kept current edge by edge (see the module docstring for the why)."""

    def __init__(self, alpha: float = 0.85, tol: float = 1e-4, half_life_s: float | None = None) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        if tol <= 0.0:
            raise ValueError(f"tol must be positive, got {tol}")
        if half_life_s is not None and half_life_s <= 0.0:
            raise ValueError(f"half_life_s must be positive, got {half_life_s}")
        self.alpha = alpha
        self.tol = tol
        self.half_life_s = half_life_s
        self._eps = tol * (1.0 - alpha)
        self._t0: float | None = None
        self._index: dict[str, int] = {}
        self._ids: list[str] = []
        self._out: list[dict[int, float]] = []
        self._wsum: list[float] = []
        self._p: list[float] = []
        self._r: list[float] = []
        self._p_seen: list[float] = []  # p when the node was last returned by add_edges
        self._sum_p = 0.0
        self.pushes = 0

    # ---- reading -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, node: object) -> bool:
        return node in self._index

    def nodes(self) -> list[str]:
        return list(self._ids)

    def raw(self, node: str) -> float:
        """``y_v``: ``1 - alpha`` for an account nobody points to; 0.0 for an unknown one."""
        i = self._index.get(node)
        return 0.0 if i is None else self._p[i]

    def ratio(self, node: str) -> float:
        """Rank as a multiple of the baseline of an account nobody interacts with (>= 1 when known)."""
        return self.raw(node) / (1.0 - self.alpha)

    def pagerank(self, node: str) -> float:
        """networkx-normalized PageRank (all nodes sum to 1)."""
        return self.raw(node) / self._sum_p if self._sum_p > 0.0 else 0.0

    def pageranks(self) -> dict[str, float]:
        total = math.fsum(self._p)
        if total <= 0.0:
            return {}
        return {node: self._p[i] / total for node, i in self._index.items()}

    def out_weights(self, node: str) -> dict[str, float]:
        """The current relative out-weights of ``node`` (summing to 1; empty when dangling)."""
        i = self._index.get(node)
        if i is None or self._wsum[i] <= 0.0:
            return {}
        w = self._wsum[i]
        return {self._ids[j]: x / w for j, x in self._out[i].items()}

    # ---- writing -------------------------------------------------------------------------------

    def add_edge(self, src: str, dst: str, weight: float, at: float = 0.0) -> set[str]:
        return self.add_edges([WeightedEdge(src, dst, weight, at)])

    def add_edges(self, edges: Iterable[WeightedEdge], report_ratio_delta: float = 0.0) -> set[str]:
        """Apply a batch of interactions, then settle residuals once. Returns the nodes whose
        ``ratio`` moved by more than ``report_ratio_delta`` since they were last returned (0: every
        node whose estimate changed), so a caller re-scores only those and no drift accumulates
        unseen. Weights must be positive and finite (a ValueError names the bad edge before
        anything of the batch is applied)."""
        batch = list(edges)
        for e in batch:
            if not (math.isfinite(e.weight) and e.weight > 0.0 and math.isfinite(e.at)):
                raise ValueError(f"edge {e.src}->{e.dst}: weight must be > 0 and finite, time finite: {e}")
        queue: deque[int] = deque()
        alpha = self.alpha
        for e in batch:
            u = self._node(e.src, queue)
            t = self._node(e.dst, queue)
            d = e.weight * self._inflation(e.at)
            if d <= 0.0:
                continue  # older than OLDEST_EXPONENT half-lives before T0: decayed to nothing
            w_u = self._wsum[u]
            pu = self._p[u]
            row = self._out[u]
            if w_u <= 0.0:
                self._r[t] += alpha * pu  # u stops dangling: its whole flow goes to t
            elif d <= w_u:
                # O(1): scale p_u so the flow to every other neighbour is unchanged
                c = pu * d / w_u
                self._p[u] = pu + c
                self._sum_p += c
                self._r[u] -= c
                self._r[t] += alpha * c
            else:
                # the new weight dominates the row (e.g. a fresh interaction after old ones decayed):
                # scaling p_u by (W + d) / W would amplify rounding, so move each neighbour's flow
                f = alpha * pu
                w_new = w_u + d
                for v, x in row.items():
                    self._r[v] += f * (x / w_new - x / w_u)
                    queue.append(v)
                self._r[t] += f * d / w_new
            row[t] = row.get(t, 0.0) + d
            self._wsum[u] = w_u + d
            queue.append(u)
            queue.append(t)
        touched = self._settle(queue)
        p, seen, ids = self._p, self._p_seen, self._ids
        delta = report_ratio_delta * (1.0 - alpha)
        moved: set[str] = set()
        for i in touched:
            if abs(p[i] - seen[i]) > delta:
                seen[i] = p[i]
                moved.add(ids[i])
        return moved

    def settle(self, tol: float | None = None) -> int:
        """Push every residual above ``tol`` (default: this instance's) - e.g. a tighter pass before
        a report. Returns the number of nodes whose estimate changed."""
        saved = self._eps
        if tol is not None:
            self._eps = tol * (1.0 - self.alpha)
        try:
            queue = deque(i for i, x in enumerate(self._r) if abs(x) > self._eps)
            return len(self._settle(queue))
        finally:
            self._eps = saved

    def _node(self, node: str, queue: deque[int]) -> int:
        i = self._index.get(node)
        if i is not None:
            return i
        i = len(self._ids)
        self._index[node] = i
        self._ids.append(node)
        self._out.append({})
        self._wsum.append(0.0)
        self._p.append(0.0)
        self._r.append(1.0 - self.alpha)
        self._p_seen.append(-1.0)  # never returned yet: any estimate counts as moved
        queue.append(i)
        return i

    def _inflation(self, at: float) -> float:
        h = self.half_life_s
        if h is None:
            return 1.0
        if self._t0 is None:
            self._t0 = at
        x = (at - self._t0) / h
        if x > RESCALE_EXPONENT:
            self._rescale(math.floor(x))
            x = (at - self._t0) / h
        if x < OLDEST_EXPONENT:
            return 0.0
        return math.pow(2.0, x)

    def _rescale(self, halvings: int) -> None:
        """Divide every stored weight by ``2**halvings`` and move T0 forward by as many half-lives;
        rows stay proportional, so estimates and residuals stay valid."""
        assert self.half_life_s is not None and self._t0 is not None
        f = 2.0**-halvings
        for row in self._out:
            for j in row:
                row[j] *= f
        self._wsum = [w * f for w in self._wsum]
        self._t0 += halvings * self.half_life_s

    def _settle(self, queue: deque[int]) -> set[int]:
        """Push until every residual is within eps. Invariant: every node whose residual exceeds
        eps is in the queue (it is appended when its residual crosses eps; a node may appear more
        than once, and a stale entry is skipped)."""
        p, r, out, wsum = self._p, self._r, self._out, self._wsum
        alpha, eps = self.alpha, self._eps
        touched: set[int] = set()
        touch, pop, append = touched.add, queue.popleft, queue.append
        pushes = 0
        pushed_mass = 0.0
        while queue:
            u = pop()
            ru = r[u]
            if -eps <= ru <= eps:
                continue
            pushes += 1
            p[u] += ru
            pushed_mass += ru
            r[u] = 0.0
            touch(u)
            w = wsum[u]
            if w > 0.0:
                f = alpha * ru / w
                for v, x in out[u].items():
                    old = r[v]
                    rv = old + f * x
                    r[v] = rv
                    if (rv > eps or rv < -eps) and -eps <= old <= eps:
                        append(v)
        self._sum_p += pushed_mass
        self.pushes += pushes
        return touched

    # ---- persistence ---------------------------------------------------------------------------

    def copy(self) -> IncrementalPageRank:
        """An independent copy (C-level container copies), so the owner's loop can hand a snapshot
        to a thread and go on."""
        pr = copy.copy(self)
        pr._index = dict(self._index)
        pr._ids = list(self._ids)
        pr._out = [dict(row) for row in self._out]
        pr._wsum = list(self._wsum)
        pr._p = list(self._p)
        pr._r = list(self._r)
        pr._p_seen = list(self._p_seen)
        return pr

    def to_state(self) -> dict[str, Any]:
        """Everything needed to resume, as plain JSON-able data (node order preserved). It shares
        lists with this object: a snapshot taken while the engine goes on uses ``copy`` first."""
        return {
            "alpha": self.alpha,
            "tol": self.tol,
            "half_life_s": self.half_life_s,
            "t0": self._t0,
            "ids": self._ids,
            "out": [[[j, x] for j, x in row.items()] for row in self._out],
            "p": self._p,
            "r": self._r,
            "p_seen": self._p_seen,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> IncrementalPageRank:
        pr = cls(float(state["alpha"]), float(state["tol"]), state["half_life_s"])
        pr._t0 = state["t0"]
        pr._ids = [str(x) for x in state["ids"]]
        pr._index = {node: i for i, node in enumerate(pr._ids)}
        pr._out = [{int(j): float(x) for j, x in row} for row in state["out"]]
        pr._wsum = [math.fsum(row.values()) for row in pr._out]
        pr._p = [float(x) for x in state["p"]]
        pr._r = [float(x) for x in state["r"]]
        pr._p_seen = [float(x) for x in state["p_seen"]]
        if not (len(pr._out) == len(pr._p) == len(pr._r) == len(pr._p_seen) == len(pr._ids)):
            raise ValueError("inconsistent PageRank state: arrays of different lengths")
        pr._sum_p = math.fsum(pr._p)
        return pr
