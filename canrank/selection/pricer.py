"""Exact pricing for the CAN column generation: the best CAN under the master's duals.

Given the duals of the master (see :mod:`canrank.selection.master`), the reduced cost of a
candidate CAN ``S`` (connected, ``L <= pop(S) <= U``, only eligible areas of open boroughs,
each locked group wholly inside or wholly outside, at most one locked group) is

    rc(S) = sum_{i in S} net_i - sum_{edges e touching S} u_e - sum_{boroughs b of S} rho_b
            - sum_{locked groups g inside S} gamma_g - mu

where ``net_i = w_i - tau p_i`` (minus the area's own conflict dual when CANs may touch; the
edge duals are then zero). :func:`price` finds ``max rc`` exactly, or every CAN with
``rc >= threshold`` (:func:`price` with ``enumerate_all``), by a per-root branch and bound:

* Areas are ordered by an optimistic density ``opt_i / p_i`` (best first), with
  ``opt_i = net_i - 0.5 * sum_{e at i} u_e + max(0, -gamma_{g(i)})``: an edge touched by ``S``
  has at most two endpoints in ``S``, so half of its dual is charged to each. A CAN is
  enumerated once, from its best-ordered member (its *root*), inside the root's "ball" (areas
  ordered after the root and reachable from it through such areas within ``U`` residents).
* Binary branching on a frontier area (include / exclude) enumerates every connected set in
  the ball containing the root exactly once.
* A node is pruned when ``value(S) + 0.5 * (duals of edges with one endpoint in S) +`` a
  fractional knapsack of ``opt`` over the free ball areas (capacity ``U - pop(S)``) cannot beat
  the best found (or the threshold). Roots are visited in density order; since every member of
  a CAN has at most its root's density, ``rc <= max(d_r U, d_r L) - mu`` and the loop stops at
  the first root that cannot reach the threshold.
* A root whose search hits ``node_limit`` contributes its root-level bound instead of its
  exact maximum: still a valid upper bound, and deterministic (no clock).
* The roots to search are known before any search, so they are searched on several threads
  (:func:`_search_roots` releases the GIL; roots interleaved) and merged in root order: the
  columns, bound and counters do not depend on the thread count or timing.

Checked against brute force on random small graphs (tests/test_selection_pricer.py).
"""

from __future__ import annotations

import hashlib
import heapq
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

__all__ = ["PricingGraph", "PricingResult", "price", "valid_columns"]


@dataclass(frozen=True)
class PricingGraph:
    """The contiguity graph and per-area data the pricer needs, as flat typed arrays."""

    indptr: np.ndarray  # CSR over all areas (int64)
    indices: np.ndarray
    edge_of_arc: np.ndarray  # undirected edge id of each CSR arc
    n_edges: int
    population: np.ndarray  # float64
    borough: np.ndarray  # int64
    allowed: np.ndarray  # bool: eligible, free and in a borough with room
    group_of: np.ndarray  # int64 locked-group index per area, -1 when not locked
    group_ptr: np.ndarray  # CSR of the locked groups' members
    group_members: np.ndarray
    min_population: float
    max_population: float

    @classmethod
    def build(
        cls,
        indptr: np.ndarray,
        indices: np.ndarray,
        population: np.ndarray,
        borough: np.ndarray,
        allowed: np.ndarray,
        groups: tuple[np.ndarray, ...],
        min_population: float,
        max_population: float,
    ) -> PricingGraph:
        """Index the undirected edges and flatten the locked groups."""
        indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        indices = np.ascontiguousarray(indices, dtype=np.int64)
        n = len(population)
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
        key = np.minimum(rows, indices) * max(n, 1) + np.maximum(rows, indices)
        uniq, edge_of_arc = np.unique(key, return_inverse=True)
        group_of = np.full(n, -1, dtype=np.int64)
        ptr = [0]
        members: list[int] = []
        for k, grp in enumerate(groups):
            g = np.sort(np.asarray(grp, dtype=np.int64))
            group_of[g] = k
            members.extend(g.tolist())
            ptr.append(len(members))
        return cls(
            indptr=indptr,
            indices=indices,
            edge_of_arc=np.ascontiguousarray(edge_of_arc, dtype=np.int64),
            n_edges=len(uniq),
            population=np.ascontiguousarray(population, dtype=np.float64),
            borough=np.ascontiguousarray(borough, dtype=np.int64),
            allowed=np.ascontiguousarray(allowed, dtype=np.bool_),
            group_of=group_of,
            group_ptr=np.asarray(ptr, dtype=np.int64),
            group_members=np.asarray(members, dtype=np.int64),
            min_population=float(min_population),
            max_population=float(max_population),
        )

    @property
    def n(self) -> int:
        """Number of areas."""
        return len(self.population)


@dataclass(frozen=True)
class PricingResult:
    """Columns found (best first) with their reduced costs, and a proven bound on ``max rc``."""

    bound: float  # >= max rc over every valid CAN (>= the threshold asked for)
    columns: list[np.ndarray]  # sorted member arrays
    reduced_costs: np.ndarray
    nodes: int
    roots_searched: int
    roots_at_limit: int  # roots whose search stopped at the node limit (bound still valid)
    overflow: bool  # enumeration stopped at max_records: the list is incomplete

    @property
    def complete(self) -> bool:
        """True when every root was searched to the end (an enumeration is then exhaustive)."""
        return self.roots_at_limit == 0 and not self.overflow


@njit(cache=True)
def _ball(
    r: int,
    rank: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    pop: np.ndarray,
    allowed: np.ndarray,
    upper: float,
    dist: np.ndarray,
    stamp: np.ndarray,
    tag: int,
) -> np.ndarray:  # pragma: no cover - compiled
    """Allowed areas ordered after ``r`` reachable from it within ``upper`` residents."""
    out = []
    heap = [(pop[r], r)]
    dist[r] = pop[r]
    stamp[r] = tag
    while heap:
        d, v = heapq.heappop(heap)
        if d > dist[v]:
            continue
        out.append(v)
        for a in range(indptr[v], indptr[v + 1]):
            w = indices[a]
            if not allowed[w] or rank[w] <= rank[r]:
                continue
            nd = d + pop[w]
            if nd > upper:
                continue
            if stamp[w] != tag or nd < dist[w]:
                stamp[w] = tag
                dist[w] = nd
                heapq.heappush(heap, (nd, w))
    res = np.empty(len(out), np.int64)
    for t in range(len(out)):
        res[t] = out[t]
    return res


@njit(cache=True)
def _include(
    v: int,
    fs: np.ndarray,
    ist: np.ndarray,
    status: np.ndarray,
    s_list: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    edge_of_arc: np.ndarray,
    u_edge: np.ndarray,
    te: np.ndarray,
    cnt_s: np.ndarray,
    borough: np.ndarray,
    rho: np.ndarray,
    bcnt: np.ndarray,
    group_of: np.ndarray,
    gamma: np.ndarray,
    pop: np.ndarray,
    net: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Add ``v`` to S. fs = [value, boundary edge duals, population]; ist = [|S|, group, in]."""
    status[v] = 1
    s_list[ist[0]] = v
    ist[0] += 1
    fs[2] += pop[v]
    fs[0] += net[v]
    for a in range(indptr[v], indptr[v + 1]):
        e = edge_of_arc[a]
        if te[e] == 0:
            fs[0] -= u_edge[e]
            fs[1] += u_edge[e]
        elif te[e] == 1:
            fs[1] -= u_edge[e]
        te[e] += 1
        cnt_s[indices[a]] += 1
    b = borough[v]
    if bcnt[b] == 0:
        fs[0] -= rho[b]
    bcnt[b] += 1
    g = group_of[v]
    if g >= 0:
        if ist[2] == 0:
            ist[1] = g
            fs[0] -= gamma[g]
        ist[2] += 1


@njit(cache=True)
def _remove(
    v: int,
    fs: np.ndarray,
    ist: np.ndarray,
    status: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    edge_of_arc: np.ndarray,
    u_edge: np.ndarray,
    te: np.ndarray,
    cnt_s: np.ndarray,
    borough: np.ndarray,
    rho: np.ndarray,
    bcnt: np.ndarray,
    group_of: np.ndarray,
    gamma: np.ndarray,
    pop: np.ndarray,
    net: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Undo :func:`_include` of ``v`` (the last area added)."""
    status[v] = 0
    ist[0] -= 1
    fs[2] -= pop[v]
    fs[0] -= net[v]
    for a in range(indptr[v], indptr[v + 1]):
        e = edge_of_arc[a]
        te[e] -= 1
        if te[e] == 0:
            fs[0] += u_edge[e]
            fs[1] -= u_edge[e]
        elif te[e] == 1:
            fs[1] += u_edge[e]
        cnt_s[indices[a]] -= 1
    b = borough[v]
    bcnt[b] -= 1
    if bcnt[b] == 0:
        fs[0] += rho[b]
    g = group_of[v]
    if g >= 0:
        ist[2] -= 1
        if ist[2] == 0:
            ist[1] = -1
            fs[0] += gamma[g]


@njit(cache=True)
def _prepare(
    indptr: np.ndarray,
    edge_of_arc: np.ndarray,
    u_edge: np.ndarray,
    group_of: np.ndarray,
    gamma: np.ndarray,
    pop: np.ndarray,
    net: np.ndarray,
    allowed: np.ndarray,
    lower: float,
    upper: float,
    mu: float,
    thr: float,
    enum_all: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Optimistic values, the density order and the roots to search (in that order).

    The roots are the allowed areas, best density first, up to the first one whose
    density bound cannot reach the threshold: known before any search, so the roots can be
    searched independently (in parallel) and the results merged in this order.
    """
    n = pop.shape[0]
    opt = np.empty(n)
    dens = np.empty(n)
    for v in range(n):
        s = 0.0
        for a in range(indptr[v], indptr[v + 1]):
            s += u_edge[edge_of_arc[a]]
        o = net[v] - 0.5 * s
        g = group_of[v]
        if g >= 0 and gamma[g] < 0.0:
            o -= gamma[g]
        opt[v] = o
        if pop[v] > 0.0:
            dens[v] = o / pop[v]
        elif o > 0.0:
            dens[v] = np.inf
        elif o < 0.0:
            dens[v] = -np.inf
        else:
            dens[v] = 0.0
    order = np.argsort(-dens, kind="mergesort")
    rank = np.empty(n, np.int64)
    for k in range(n):
        rank[order[k]] = k
    roots = np.empty(n, np.int64)  # positions k in ``order``
    n_roots = 0
    for k in range(n):
        r = order[k]
        if not allowed[r]:
            continue
        d = dens[r]
        if d >= 0.0:
            potential = d * upper - mu
        elif lower > 0.0:
            potential = d * lower - mu
        else:
            potential = -mu
        if (enum_all and potential < thr) or (not enum_all and potential <= thr):
            break  # no CAN rooted here or later can reach the threshold
        roots[n_roots] = k
        n_roots += 1
    return opt, order, rank, roots[:n_roots].copy()


@njit(cache=True, nogil=True)
def _distance_rows(
    first: int,
    last: int,
    indptr: np.ndarray,
    indices: np.ndarray,
    pop: np.ndarray,
    upper: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """For each area ``v`` in ``first..last-1``: every area ``w`` a connected set holding
    ``v`` and ``w`` could reach within ``upper`` residents, with the fewest residents on a path
    from ``v`` to ``w`` (``w`` counted, ``v`` not). CSR rows (ptr, area, residents)."""
    n = pop.shape[0]
    dist = np.full(n, np.inf)
    touched = np.empty(n, np.int64)
    ptr = np.zeros(last - first + 1, np.int64)
    idx = []
    val = []
    for v in range(first, last):
        nt = 0
        dist[v] = 0.0
        touched[nt] = v
        nt += 1
        heap = [(0.0, v)]
        while heap:
            d, x = heapq.heappop(heap)
            if d > dist[x]:
                continue
            if x != v:
                idx.append(x)
                val.append(d)
            for a in range(indptr[x], indptr[x + 1]):
                w = indices[a]
                nd = d + pop[w]
                if nd <= upper and nd < dist[w]:
                    if dist[w] == np.inf:
                        touched[nt] = w
                        nt += 1
                    dist[w] = nd
                    heapq.heappush(heap, (nd, w))
        for t in range(nt):
            dist[touched[t]] = np.inf
        ptr[v - first + 1] = len(idx)
    out_i = np.empty(len(idx), np.int64)
    out_v = np.empty(len(idx))
    for t in range(len(idx)):
        out_i[t] = idx[t]
        out_v[t] = val[t]
    return ptr, out_i, out_v


#: Distance rows of recent graphs (re-selections with new scores reuse their graph's).
_DISTANCE_CACHE: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def distance_rows(
    pg: PricingGraph, threads: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_distance_rows` of every area (CSR), computed once per graph and population
    bound, on ``threads`` threads (the result does not depend on them)."""
    digest = hashlib.sha1(usedforsecurity=False)
    for arr in (pg.indptr, pg.indices, pg.population):
        digest.update(np.ascontiguousarray(arr).tobytes())
    digest.update(np.float64(pg.max_population).tobytes())
    key = digest.digest()
    hit = _DISTANCE_CACHE.get(key)
    if hit is not None:
        return hit
    n = pg.n
    n_threads = max(1, min(_threads(threads), n))
    cuts = np.linspace(0, n, n_threads + 1).astype(np.int64)

    def run(t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _distance_rows(int(cuts[t]), int(cuts[t + 1]), pg.indptr, pg.indices,
                              pg.population, pg.max_population)

    if n_threads == 1:
        parts = [run(0)]
    else:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            parts = list(pool.map(run, range(n_threads)))
    offsets = np.cumsum([0] + [len(p[1]) for p in parts])
    ptr = np.concatenate([[0]] + [p[0][1:] + off for p, off in zip(parts, offsets, strict=False)])
    rows = (ptr.astype(np.int64), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]))
    while len(_DISTANCE_CACHE) >= 4:
        _DISTANCE_CACHE.pop(next(iter(_DISTANCE_CACHE)))
    _DISTANCE_CACHE[key] = rows
    return rows


@njit(cache=True)
def _reach_from(
    dep: int,
    t_new: int,
    bl: np.ndarray,
    pos: np.ndarray,
    dmat: np.ndarray,
    dfilled: np.ndarray,
    reach: np.ndarray,
    reach_d: np.ndarray,
    reach_n: np.ndarray,
    inball: np.ndarray,
    dptr: np.ndarray,
    didx: np.ndarray,
    dval: np.ndarray,
    cap: float,
    first: bool,
) -> None:  # pragma: no cover - compiled
    """The reachable list of ``S + {bl[t_new]}`` (level ``dep + 1``) from level ``dep``.

    An area ``w`` can join a connected ``S`` holding at most ``upper`` residents only if a
    path from some member reaches it within the free residents ``cap``: the list keeps the
    ball areas (in ball order) whose fewest-residents path from ``S`` is at most ``cap``
    (paths may use any area, so this only ever keeps too many: the bound stays valid).
    ``first``: level 1 from the root alone.
    """
    nb = bl.shape[0]
    if not dfilled[t_new]:
        row = dmat[t_new]
        for t in range(nb):
            row[t] = np.inf
        row[t_new] = 0.0
        v = bl[t_new]
        for q in range(dptr[v], dptr[v + 1]):
            w = didx[q]
            if inball[w]:
                row[pos[w]] = dval[q]
        dfilled[t_new] = True
    row = dmat[t_new]
    m = 0
    if first:
        for t in range(nb):
            if t != t_new and row[t] <= cap:
                reach[dep + 1, m] = t
                reach_d[dep + 1, m] = row[t]
                m += 1
    else:
        for q in range(reach_n[dep]):
            t = reach[dep, q]
            if t == t_new:
                continue
            d = reach_d[dep, q]
            if row[t] < d:
                d = row[t]
            if d <= cap:
                reach[dep + 1, m] = t
                reach_d[dep + 1, m] = d
                m += 1
    reach_n[dep + 1] = m


@njit(cache=True)
def _edges_to(
    v: int,
    in_s: bool,
    status: np.ndarray,
    inball: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    edge_of_arc: np.ndarray,
    u_edge: np.ndarray,
) -> float:  # pragma: no cover - compiled
    """Sum of the duals of ``v``'s edges to members of S (``in_s``), or else to areas that can
    never join (excluded, or outside the root's ball)."""
    total = 0.0
    for a in range(indptr[v], indptr[v + 1]):
        w = indices[a]
        st = status[w]
        if in_s:
            if st == 1:
                total += u_edge[edge_of_arc[a]]
        elif st == 2 or (st == 0 and not inball[w]):
            total += u_edge[edge_of_arc[a]]
    return total


@njit(cache=True, nogil=True)
def _search_roots(
    roots: np.ndarray,
    order: np.ndarray,
    rank: np.ndarray,
    opt: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    edge_of_arc: np.ndarray,
    u_edge: np.ndarray,
    borough: np.ndarray,
    rho: np.ndarray,
    group_of: np.ndarray,
    gamma: np.ndarray,
    group_ptr: np.ndarray,
    group_members: np.ndarray,
    pop: np.ndarray,
    net: np.ndarray,
    allowed: np.ndarray,
    lower: float,
    upper: float,
    mu: float,
    node_limit: int,
    thr: float,
    enum_all: bool,
    per_root: int,
    max_records: int,
    dptr: np.ndarray,
    didx: np.ndarray,
    dval: np.ndarray,
) -> tuple[
    int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray
]:  # pragma: no cover - compiled
    """The branch and bound of each root in ``roots`` (see the module docstring).

    Maximum mode (``enum_all`` False): per root, sets with rc > max(thr, best so far of that
    root); the last ``per_root`` improvements of each root are kept. Enumeration mode: every
    set with rc >= thr. Each call owns its work arrays and releases the GIL, so disjoint root
    lists can be searched on several threads. Stops early once more than ``max_records``
    records are kept (the merged enumeration has then overflowed at or before that root).
    Returns (roots done, per-root nodes, hit node limit, root bound, records kept,
    members, member_ptr, rc).
    """
    n = pop.shape[0]
    n_edges = u_edge.shape[0]
    n_roots = roots.shape[0]
    dist = np.zeros(n)
    stamp = np.full(n, -1, np.int64)
    status = np.zeros(n, np.int8)  # 0 free, 1 in S, 2 excluded
    inball = np.zeros(n, np.bool_)
    cnt_s = np.zeros(n, np.int64)
    te = np.zeros(max(n_edges, 1), np.int64)
    bcnt = np.zeros(max(rho.shape[0], 1), np.int64)
    fs = np.zeros(3)
    ist = np.zeros(3, np.int64)
    pos = np.zeros(n, np.int64)
    r_nodes = np.zeros(n_roots, np.int64)
    r_hit = np.zeros(n_roots, np.bool_)
    r_bound = np.zeros(n_roots)
    r_kept = np.zeros(n_roots, np.int64)
    out_members = []
    out_ptr = [0]
    out_rc = []
    done = 0
    for j in range(n_roots):
        k = roots[j]
        r = order[k]
        ball = _ball(r, rank, indptr, indices, pop, allowed, upper, dist, stamp, k)
        bl = ball[np.argsort(rank[ball], kind="mergesort")]  # density order (root first)
        nb = bl.shape[0]
        for t in range(nb):
            inball[bl[t]] = True
            pos[bl[t]] = t
        # the areas still reachable from S within the free residents, per |S| (in ball order)
        dmat = np.empty((nb, nb))
        dfilled = np.zeros(nb, np.bool_)
        reach = np.empty((nb + 1, nb), np.int64)
        reach_d = np.empty((nb + 1, nb))
        reach_n = np.zeros(nb + 2, np.int64)
        stack_v = np.empty(nb + 1, np.int64)
        stack_phase = np.empty(nb + 1, np.int8)
        stack_q = np.empty(nb + 1, np.int64)
        scan_from = 0
        chosen_q = 0
        s_list = np.empty(nb + 1, np.int64)
        sp = 0
        fs[0] = 0.0
        fs[1] = 0.0
        fs[2] = 0.0
        ist[0] = 0
        ist[1] = -1
        ist[2] = 0
        best = thr
        found = False
        root_ub = -np.inf
        nodes = 0
        hit = False
        loc_members = []
        loc_ptr = [0]
        loc_rc = []
        _reach_from(0, 0, bl, pos, dmat, dfilled, reach, reach_d, reach_n, inball, dptr, didx,
                    dval, upper - pop[r], True)
        _include(r, fs, ist, status, s_list, indptr, indices, edge_of_arc, u_edge, te, cnt_s,
                 borough, rho, bcnt, group_of, gamma, pop, net)
        # duals of boundary edges whose outer end can never join (excluded or outside the
        # ball): the bound may not count half of them back
        lost = _edges_to(r, False, status, inball, indptr, indices, edge_of_arc, u_edge)
        descend = True
        while True:
            if descend:
                nodes += 1
                prune = False
                complete = True
                tg = ist[1]
                if tg >= 0 and ist[2] < group_ptr[tg + 1] - group_ptr[tg]:
                    complete = False
                    pend = 0.0
                    for q in range(group_ptr[tg], group_ptr[tg + 1]):
                        m = group_members[q]
                        if status[m] == 1:
                            continue
                        if status[m] == 2 or not inball[m]:
                            prune = True
                            break
                        pend += pop[m]
                    if fs[2] + pend > upper:
                        prune = True
                if not prune:
                    if complete and fs[2] >= lower:
                        rc = fs[0] - mu
                        if enum_all:
                            if rc >= thr:
                                if rc > best:
                                    best = rc
                                    found = True
                                for t in range(ist[0]):
                                    loc_members.append(s_list[t])
                                loc_ptr.append(len(loc_members))
                                loc_rc.append(rc)
                        elif rc > best:
                            best = rc
                            found = True
                            for t in range(ist[0]):
                                loc_members.append(s_list[t])
                            loc_ptr.append(len(loc_members))
                            loc_rc.append(rc)
                    cap = upper - fs[2]
                    ub = fs[0] + 0.5 * max(fs[1] - lost, 0.0)
                    dep = ist[0]
                    for q in range(reach_n[dep]):
                        w = bl[reach[dep, q]]
                        if opt[w] <= 0.0:
                            break
                        if status[w] != 0:
                            continue
                        if pop[w] <= cap:
                            ub += opt[w]
                            cap -= pop[w]
                        else:
                            ub += opt[w] * cap / pop[w]
                            break
                    if nodes == 1:
                        root_ub = ub - mu
                    prune = ub - mu < thr if enum_all else ub - mu <= best
                if nodes >= node_limit and not prune:
                    hit = True
                    break
                chosen = -1
                if not prune:
                    # the first free frontier area in density order; after an exclusion S is
                    # unchanged, so the areas before the excluded one are still unusable
                    dep = ist[0]
                    for q in range(scan_from, reach_n[dep]):
                        w = bl[reach[dep, q]]
                        if status[w] != 0 or cnt_s[w] == 0 or fs[2] + pop[w] > upper:
                            continue
                        gw = group_of[w]
                        if gw >= 0 and ist[1] >= 0 and gw != ist[1]:
                            continue  # a CAN holds at most one locked group
                        chosen = w
                        chosen_q = q
                        break
                if chosen >= 0:
                    stack_v[sp] = chosen
                    stack_q[sp] = chosen_q
                    stack_phase[sp] = 1
                    scan_from = 0
                    sp += 1
                    _reach_from(ist[0], pos[chosen], bl, pos, dmat, dfilled, reach, reach_d,
                                reach_n, inball, dptr, didx, dval,
                                upper - fs[2] - pop[chosen], False)
                    _include(chosen, fs, ist, status, s_list, indptr, indices, edge_of_arc,
                             u_edge, te, cnt_s, borough, rho, bcnt, group_of, gamma, pop, net)
                    lost += _edges_to(chosen, False, status, inball, indptr, indices,
                                      edge_of_arc, u_edge)
                    continue
                descend = False
            if sp == 0:
                break
            v = stack_v[sp - 1]
            if stack_phase[sp - 1] == 1:
                lost -= _edges_to(v, False, status, inball, indptr, indices, edge_of_arc,
                                  u_edge)
                _remove(v, fs, ist, status, indptr, indices, edge_of_arc, u_edge, te, cnt_s,
                        borough, rho, bcnt, group_of, gamma, pop, net)
                status[v] = 2
                lost += _edges_to(v, True, status, inball, indptr, indices, edge_of_arc,
                                  u_edge)
                stack_phase[sp - 1] = 2
                scan_from = stack_q[sp - 1] + 1
                descend = True
            else:
                lost -= _edges_to(v, True, status, inball, indptr, indices, edge_of_arc,
                                  u_edge)
                status[v] = 0
                sp -= 1
        while sp > 0:  # unwind after a node-limit stop
            v = stack_v[sp - 1]
            if stack_phase[sp - 1] == 1:
                _remove(v, fs, ist, status, indptr, indices, edge_of_arc, u_edge, te, cnt_s,
                        borough, rho, bcnt, group_of, gamma, pop, net)
            else:
                status[v] = 0
            sp -= 1
        _remove(r, fs, ist, status, indptr, indices, edge_of_arc, u_edge, te, cnt_s,
                borough, rho, bcnt, group_of, gamma, pop, net)
        for t in range(nb):
            inball[bl[t]] = False
        r_nodes[j] = nodes
        r_hit[j] = hit
        if hit:
            r_bound[j] = max(root_ub, best)
        else:
            r_bound[j] = best if found else thr
        n_rec = len(loc_rc)
        first = 0 if enum_all else max(0, n_rec - per_root)
        for q in range(first, n_rec):
            for t in range(loc_ptr[q], loc_ptr[q + 1]):
                out_members.append(loc_members[t])
            out_ptr.append(len(out_members))
            out_rc.append(loc_rc[q])
        r_kept[j] = n_rec - first
        done = j + 1
        if len(out_rc) > max_records:
            break  # the merged list overflows at or before this root
    mem = np.empty(len(out_members), np.int64)
    for t in range(len(out_members)):
        mem[t] = out_members[t]
    ptr = np.empty(len(out_ptr), np.int64)
    for t in range(len(out_ptr)):
        ptr[t] = out_ptr[t]
    rcs = np.empty(len(out_rc))
    for t in range(len(out_rc)):
        rcs[t] = out_rc[t]
    return done, r_nodes, r_hit, r_bound, r_kept, mem, ptr, rcs


def _threads(threads: int | None) -> int:
    """Worker threads for pricing: ``threads`` or, by default, the cores available (<= 2)."""
    if threads is not None:
        return max(1, int(threads))
    from canrank.cores import available_cores

    return min(2, available_cores())


def price(
    pg: PricingGraph,
    net: np.ndarray,
    u_edge: np.ndarray,
    rho: np.ndarray,
    gamma: np.ndarray,
    mu: float,
    *,
    threshold: float = 0.0,
    node_limit: int = 2_000_000,
    enumerate_all: bool = False,
    per_root: int = 3,
    max_records: int = 1_000_000,
    threads: int | None = None,
) -> PricingResult:
    """Price exactly: the best CANs with ``rc > threshold``, or every one with ``rc >= threshold``.

    ``net`` is the per-area value (weight minus the population price, minus the area's own
    conflict dual when CANs may touch), ``u_edge`` the edge duals (zeros when CANs may touch),
    ``rho`` the borough duals, ``gamma`` the locked-group duals and ``mu`` the count dual.
    The returned ``bound`` is at least ``threshold`` and at least the reduced cost of every
    valid CAN; it is exact when no root reached ``node_limit``.

    The roots are searched on ``threads`` threads (default: the cores available, at most 2),
    interleaved, and merged in root order: the result is identical for any thread count.
    """
    u_e = np.ascontiguousarray(np.maximum(u_edge, 0.0), dtype=np.float64)
    rho_c = np.ascontiguousarray(np.maximum(rho, 0.0), dtype=np.float64)
    gamma_c = np.ascontiguousarray(gamma, dtype=np.float64).reshape(-1)
    net_c = np.ascontiguousarray(net, dtype=np.float64)
    lower, upper = pg.min_population, pg.max_population
    thr = float(threshold)
    enum_all = bool(enumerate_all)
    opt, order, rank, roots = _prepare(
        pg.indptr, pg.edge_of_arc, u_e, pg.group_of, gamma_c, pg.population, net_c,
        pg.allowed, lower, upper, float(mu), thr, enum_all,
    )
    n_threads = max(1, min(_threads(threads), len(roots)))
    dptr, didx, dval = distance_rows(pg, threads)

    def run(part: np.ndarray) -> tuple[Any, ...]:
        return _search_roots(
            part, order, rank, opt, pg.indptr, pg.indices, pg.edge_of_arc, u_e, pg.borough,
            rho_c, pg.group_of, gamma_c, pg.group_ptr, pg.group_members, pg.population, net_c,
            pg.allowed, lower, upper, float(mu), int(node_limit), thr, enum_all,
            int(per_root), int(max_records), dptr, didx, dval,
        )

    parts = [np.ascontiguousarray(roots[t::n_threads]) for t in range(n_threads)]
    if n_threads == 1:
        outs = [run(parts[0])]
    else:
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            outs = list(pool.map(run, parts))
    # merge in root order (root j was searched by thread j % n_threads, as its j // n_threads-th)
    bound = thr
    nodes = searched = n_limit = 0
    overflow = False
    cols: list[np.ndarray] = []
    rc_list: list[float] = []
    first = [np.concatenate([[0], np.cumsum(o[4][: o[0]])]) for o in outs]
    for j in range(len(roots)):
        t, i = j % n_threads, j // n_threads
        done, r_nodes, r_hit, r_bound, _, mem, ptr, rcs = outs[t]
        if i >= done:  # pragma: no cover - only after the merged overflow root
            break
        searched += 1
        nodes += int(r_nodes[i])
        if r_hit[i]:
            n_limit += 1
        if r_bound[i] > bound:
            bound = float(r_bound[i])
        for q in range(int(first[t][i]), int(first[t][i + 1])):
            if len(rc_list) >= max_records:
                overflow = True
                break
            cols.append(np.sort(mem[ptr[q] : ptr[q + 1]]))
            rc_list.append(float(rcs[q]))
        if overflow:
            break
    if overflow:
        bound = np.inf  # an incomplete enumeration proves nothing
    rc_arr = np.asarray(rc_list, dtype=np.float64)
    srt = np.argsort(-rc_arr, kind="mergesort")
    return PricingResult(
        bound=float(bound),
        columns=[cols[q] for q in srt],
        reduced_costs=rc_arr[srt],
        nodes=int(nodes),
        roots_searched=int(searched),
        roots_at_limit=int(n_limit),
        overflow=bool(overflow),
    )


@njit(cache=True)
def _valid_kernel(
    members: np.ndarray,
    ptr: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    pop: np.ndarray,
    allowed: np.ndarray,
    group_of: np.ndarray,
    group_ptr: np.ndarray,
    lower: float,
    upper: float,
) -> np.ndarray:  # pragma: no cover - compiled
    """Per column: connected, population in bounds, allowed areas, whole locked group(s) <= 1."""
    n = pop.shape[0]
    mark = np.full(n, -1, np.int64)
    seen = np.full(n, -1, np.int64)
    ok = np.zeros(ptr.shape[0] - 1, np.bool_)
    queue = np.empty(n, np.int64)
    for c in range(ptr.shape[0] - 1):
        lo, hi = ptr[c], ptr[c + 1]
        if hi == lo:
            continue
        good = True
        p = 0.0
        grp = -1
        ing = 0
        for t in range(lo, hi):
            v = members[t]
            if v < 0 or v >= n or not allowed[v] or mark[v] == c:
                good = False
                break
            mark[v] = c
            p += pop[v]
            g = group_of[v]
            if g >= 0:
                if grp >= 0 and g != grp:
                    good = False
                    break
                grp = g
                ing += 1
        if not good or p < lower or p > upper:
            continue
        if grp >= 0 and ing != group_ptr[grp + 1] - group_ptr[grp]:
            continue
        head = 0
        tail = 1
        queue[0] = members[lo]
        seen[members[lo]] = c
        while head < tail:
            v = queue[head]
            head += 1
            for a in range(indptr[v], indptr[v + 1]):
                w = indices[a]
                if mark[w] == c and seen[w] != c:
                    seen[w] = c
                    queue[tail] = w
                    tail += 1
        ok[c] = tail == hi - lo
    return ok


def valid_columns(pg: PricingGraph, columns: list[np.ndarray]) -> np.ndarray:
    """Which candidate CANs are valid columns of this pricing graph's master (bool mask)."""
    if not columns:
        return np.zeros(0, dtype=bool)
    lens = np.array([len(c) for c in columns], dtype=np.int64)
    ptr = np.zeros(len(columns) + 1, dtype=np.int64)
    np.cumsum(lens, out=ptr[1:])
    members = np.concatenate([np.asarray(c, dtype=np.int64) for c in columns])
    return np.asarray(
        _valid_kernel(
            members, ptr, pg.indptr, pg.indices, pg.population, pg.allowed, pg.group_of,
            pg.group_ptr, pg.min_population, pg.max_population,
        ),
        dtype=bool,
    )
