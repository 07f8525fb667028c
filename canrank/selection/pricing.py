"""Pricing for the CAN column generation: which new CAN could still improve the master LP?

Given the master's duals, the *reduced cost* of a candidate CAN ``S`` is

    rc(S) = sum_{i in S} w_i - sum_{conflict rows r touched by S} u_r - sum_{boroughs b of S} rho_b
            - sum_{locked groups g in S} gamma_g - mu

Two routines: :func:`grow_columns`, a fast region-growing heuristic that finds CANs with
positive reduced cost, and :func:`price_exactly`, which proves an upper bound on
``max_S rc(S)`` over *every* connected CAN obeying the rules. The exact step solves a
single-CAN MILP with Shirabe's (2005) single-commodity-flow contiguity constraints (flow
capacity tightened to the most areas a CAN can hold, as advised by Validi, Buchanan &
Lykhovyd 2022) on a provably sufficient subgraph: an area ``u`` can only be in a CAN with
``rc > 0`` if ``bound(u) > mu``, where ``bound(u)`` is a fractional-knapsack bound on the best
CAN through ``u`` using only areas reachable from ``u`` within ``max_population`` residents
(any CAN through ``u`` lies in that ball). The MILP is solved per connected component of that
subgraph.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components, dijkstra

from canrank.selection.highs import solve_highs

__all__ = ["Duals", "PricingGraph", "grow_columns", "improving_areas", "price_exactly"]


@dataclass(frozen=True)
class PricingGraph:
    """The free areas' graph with edge ids, populations, weights and reach balls."""

    n: int
    indptr: np.ndarray
    indices: np.ndarray
    edge_of_arc: np.ndarray  # undirected edge id of each CSR arc
    edges: np.ndarray  # (n_edges, 2) endpoints, i < j
    population: np.ndarray
    weight: np.ndarray
    borough: np.ndarray
    free: np.ndarray
    group_of: np.ndarray
    min_population: float
    max_population: float
    ball_src: np.ndarray  # pairs (u, v): v reachable from u within max_population residents
    ball_dst: np.ndarray

    @classmethod
    def build(
        cls,
        indptr: np.ndarray,
        indices: np.ndarray,
        population: np.ndarray,
        weight: np.ndarray,
        borough: np.ndarray,
        free: np.ndarray,
        group_of: np.ndarray,
        min_population: float,
        max_population: float,
    ) -> PricingGraph:
        """Index the edges and compute every free area's reach ball (node-weighted Dijkstra)."""
        n = len(population)
        rows = np.repeat(np.arange(n), np.diff(indptr))
        lo, hi = np.minimum(rows, indices), np.maximum(rows, indices)
        key = lo * n + hi
        uniq, edge_of_arc = np.unique(key, return_inverse=True)
        edges = np.column_stack([uniq // n, uniq % n])
        keep = free[rows] & free[indices]
        cost = sparse.csr_matrix(
            (population[indices[keep]], (rows[keep], indices[keep])), shape=(n, n)
        )
        src_parts, dst_parts = [], []
        nodes = np.flatnonzero(free)
        for start in range(0, len(nodes), 512):
            chunk = nodes[start : start + 512]
            dist = dijkstra(cost, indices=chunk, limit=max_population)
            reach = dist + population[chunk][:, None] <= max_population
            r, c = np.nonzero(reach)
            src_parts.append(chunk[r])
            dst_parts.append(c)
        ball_src = np.concatenate(src_parts) if src_parts else np.zeros(0, np.int64)
        ball_dst = np.concatenate(dst_parts) if dst_parts else np.zeros(0, np.int64)
        return cls(
            n,
            indptr,
            indices,
            edge_of_arc,
            edges,
            population,
            weight,
            borough,
            free,
            group_of,
            float(min_population),
            float(max_population),
            ball_src,
            ball_dst,
        )

    def neighbors(self, i: int) -> np.ndarray:
        """Neighbours of area ``i``."""
        return self.indices[self.indptr[i] : self.indptr[i + 1]]

    def incident_edges(self, i: int) -> np.ndarray:
        """Undirected edge ids at area ``i``."""
        return self.edge_of_arc[self.indptr[i] : self.indptr[i + 1]]


@dataclass(frozen=True)
class Duals:
    """Master-LP duals: per conflict row (edge or area), borough, locked group; and mu."""

    conflict: np.ndarray  # per edge (separation) or per area (no separation)
    by_edge: bool
    borough: np.ndarray
    group: np.ndarray
    mu: float
    tau: float = 0.0  # price per resident (dual of the total-population row)

    def value(self, pg: PricingGraph) -> np.ndarray:
        """Each area's weight net of the population price."""
        return pg.weight - self.tau * pg.population

    def node_penalty_lower(self, pg: PricingGraph) -> np.ndarray:
        """A per-area lower bound on the conflict duals a CAN pays for containing the area."""
        if not self.by_edge:
            return self.conflict.copy()
        rows = np.repeat(np.arange(pg.n), np.diff(pg.indptr))
        per = np.bincount(rows, weights=self.conflict[pg.edge_of_arc], minlength=pg.n)
        return 0.5 * per  # each touched edge is counted at most twice over S's areas


def reduced_cost(members: np.ndarray, pg: PricingGraph, duals: Duals) -> float:
    """Exact reduced cost of one candidate CAN."""
    m = np.asarray(members)
    value = float(duals.value(pg)[m].sum())
    if duals.by_edge:
        touched = np.unique(np.concatenate([pg.incident_edges(int(i)) for i in m]))
        value -= float(duals.conflict[touched].sum())
    else:
        value -= float(duals.conflict[m].sum())
    value -= float(duals.borough[np.unique(pg.borough[m])].sum())
    groups = np.unique(pg.group_of[m])
    groups = groups[groups >= 0]
    value -= float(duals.group[groups].sum())
    return value - duals.mu


def grow_columns(
    pg: PricingGraph,
    duals: Duals,
    starts: list[list[int]],
    borough_open: np.ndarray,
    *,
    limit: int = 400,
    density: bool = False,
) -> list[np.ndarray]:
    """Candidate CANs grown greedily by marginal reduced gain (per resident with ``density``)
    from each start (an area, or a joined-up locked group); every prefix whose population is
    within bounds is a candidate. Returns those with positive reduced cost, best first (at most
    ``limit``)."""
    by_edge = duals.by_edge
    net = duals.value(pg)
    found: dict[tuple[int, ...], float] = {}
    for start in starts:
        members = [int(i) for i in start]
        if not pg.free[members].all() or not borough_open[pg.borough[members]].all():
            continue
        inside = set(members)
        total = float(pg.population[members].sum())
        if total > pg.max_population:
            continue
        touched: set[int] = set()
        if by_edge:
            for i in members:
                touched.update(pg.incident_edges(i).tolist())
        boroughs = {int(b) for b in pg.borough[members]}
        own = set(pg.group_of[members].tolist()) - {-1}
        if len(own) > 1 or (own and (pg.group_of == next(iter(own))).sum() > len(members)):
            continue  # a start may hold one whole locked group at most

        def gain(j: int, touched: set[int] = touched, boroughs: set[int] = boroughs) -> float:
            g = net[j]
            if by_edge:
                edges = pg.incident_edges(j).tolist()
                g -= sum(duals.conflict[e] for e in edges if e not in touched)
            else:
                g -= duals.conflict[j]
            if int(pg.borough[j]) not in boroughs:
                g -= duals.borough[pg.borough[j]]
            return float(g / pg.population[j]) if density else float(g)

        heap = [
            (-gain(j), j)
            for i in members
            for j in pg.neighbors(i).tolist()
            if pg.free[j] and j not in inside
        ]
        heapq.heapify(heap)
        while heap:
            neg, j = heapq.heappop(heap)
            if j in inside or pg.group_of[j] >= 0:
                continue
            if total + pg.population[j] > pg.max_population:
                continue
            bj = int(pg.borough[j])
            if bj not in boroughs and not borough_open[bj]:
                continue
            current = gain(j)
            if current < -neg - 1e-9:  # stale entry: re-queue with its current gain
                heapq.heappush(heap, (-current, j))
                continue
            if current <= 0 and total >= pg.min_population:
                break
            inside.add(j)
            members.append(j)
            total += float(pg.population[j])
            boroughs.add(bj)
            if by_edge:
                touched.update(pg.incident_edges(j).tolist())
            for nb in pg.neighbors(j).tolist():
                if pg.free[nb] and nb not in inside:
                    heapq.heappush(heap, (-gain(nb), nb))
            if total >= pg.min_population:
                key = tuple(sorted(members))
                if key in found:
                    continue
                rc = reduced_cost(np.asarray(key), pg, duals)
                if rc > 1e-6 * max(1.0, abs(duals.mu)):
                    found[key] = rc
    best = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [np.asarray(k, dtype=np.int64) for k, _ in best]


def _knapsack_bounds(pg: PricingGraph, upper: np.ndarray) -> np.ndarray:
    """Per area u: ``upper[u]`` + best fractional knapsack of positive ``upper`` in u's ball."""
    src, dst = pg.ball_src, pg.ball_dst
    other = src != dst
    src, dst = src[other], dst[other]
    val = upper[dst]
    pos = val > 0
    src, dst, val = src[pos], dst[pos], val[pos]
    pop = pg.population[dst]
    density = val / pop
    order = np.lexsort((-density, src))
    src, val, pop = src[order], val[order], pop[order]
    start = np.r_[0, np.flatnonzero(np.diff(src)) + 1]
    cum_pop = np.cumsum(pop)
    base = np.repeat(cum_pop[start] - pop[start], np.diff(np.r_[start, len(src)]))
    before = cum_pop - pop - base  # population taken before this entry within its ball
    cap = pg.max_population - pg.population[src]
    take = np.clip((cap - before) / pop, 0.0, 1.0)
    extra = np.bincount(src, weights=take * val, minlength=pg.n)
    return upper + extra


def improving_areas(pg: PricingGraph, duals: Duals, borough_open: np.ndarray) -> np.ndarray:
    """Areas that can be in a CAN with positive reduced cost (all others provably cannot)."""
    upper = duals.value(pg) - duals.node_penalty_lower(pg)
    bonus = float(np.clip(-duals.group, 0, None).sum())
    bound = _knapsack_bounds(pg, upper) + bonus
    scale = max(1.0, abs(duals.mu))
    return pg.free & borough_open[pg.borough] & (bound > duals.mu + 1e-9 * scale)


def _component_model(
    comp: np.ndarray,
    pg: PricingGraph,
    duals: Duals,
    borough_open: np.ndarray,
    groups: tuple[np.ndarray, ...],
) -> tuple | None:
    """The single-CAN flow MILP on one component (``None`` when it cannot hold a CAN)."""
    k = len(comp)
    local = {int(v): t for t, v in enumerate(comp.tolist())}
    pops = pg.population[comp]
    if pops.sum() < pg.min_population:
        return None
    # most areas a CAN can hold here: the smallest populations first
    big_m = int(np.searchsorted(np.cumsum(np.sort(pops)), pg.max_population, side="right"))
    big_m = max(big_m, 1)
    arcs = [(local[int(i)], local[int(j)]) for i in comp for j in pg.neighbors(int(i)) if
            int(j) in local]
    n_arc = len(arcs)
    touched_edges: list[int] = []
    if duals.by_edge:
        touched_edges = sorted(
            {int(e) for i in comp for e in pg.incident_edges(int(i)) if duals.conflict[e] > 0}
        )
    comp_boroughs = sorted({int(b) for b in pg.borough[comp] if duals.borough[b] > 0})
    comp_groups = sorted({int(g) for g in pg.group_of[comp] if g >= 0})
    # variable layout: x (k), root (k), flow (n_arc), z_edge, z_borough, z_group
    nx = k
    o_root, o_flow = nx, 2 * nx
    o_ze = o_flow + n_arc
    o_zb = o_ze + len(touched_edges)
    o_zg = o_zb + len(comp_boroughs)
    n_var = o_zg + len(comp_groups)
    cost = np.zeros(n_var)
    net = duals.value(pg)
    if duals.by_edge:
        cost[:nx] = net[comp]
        cost[o_ze:o_zb] = -duals.conflict[touched_edges]
    else:
        cost[:nx] = net[comp] - duals.conflict[comp]
    cost[o_zb:o_zg] = -duals.borough[comp_boroughs]
    cost[o_zg:] = -duals.group[comp_groups]
    lower = np.zeros(n_var)
    upper = np.ones(n_var)
    upper[o_flow:o_ze] = big_m - 1
    closed = ~borough_open[pg.borough[comp]]
    upper[:nx][closed] = 0
    rows: list[tuple[list[int], list[float], float, float]] = []
    rows.append((list(range(o_root, o_root + nx)), [1.0] * nx, 1.0, 1.0))
    # the root is the CAN's lowest-numbered area and every member lies within max_population
    # residents of it along the CAN: x_j <= sum of root_i over such i (kills root symmetry
    # and makes the LP relaxation a convex combination of per-root knapsack bounds)
    sub = sparse.csr_matrix(
        (pops[[b for _, b in arcs]], ([a for a, _ in arcs], [b for _, b in arcs])), shape=(k, k)
    )
    dist = dijkstra(sub, limit=pg.max_population) + pops[:, None]
    for j in range(nx):
        roots = np.flatnonzero(dist[: j + 1, j] <= pg.max_population).tolist()
        rows.append(([o_root + i for i in roots] + [j], [1.0] * len(roots) + [-1.0], 0.0, math.inf))
    rows.append((list(range(nx)), pops.tolist(), pg.min_population, pg.max_population))
    for t in range(nx):
        rows.append(([o_root + t, t], [1.0, -1.0], -math.inf, 0.0))
    inflow: list[list[int]] = [[] for _ in range(nx)]
    outflow: list[list[int]] = [[] for _ in range(nx)]
    for a, (i, j) in enumerate(arcs):
        outflow[i].append(a)
        inflow[j].append(a)
        for end in (i, j):
            rows.append(([o_flow + a, end], [1.0, -(big_m - 1.0)], -math.inf, 0.0))
    for t in range(nx):
        idx = [o_flow + a for a in inflow[t]] + [o_flow + a for a in outflow[t]] + [t, o_root + t]
        val = [1.0] * len(inflow[t]) + [-1.0] * len(outflow[t]) + [-1.0, float(big_m)]
        rows.append((idx, val, 0.0, math.inf))  # in - out >= x - M * root
    for q, e in enumerate(touched_edges):
        for end in pg.edges[e]:
            if int(end) in local:
                rows.append(([o_ze + q, local[int(end)]], [1.0, -1.0], 0.0, math.inf))
    for q, b in enumerate(comp_boroughs):
        for t in np.flatnonzero(pg.borough[comp] == b).tolist():
            rows.append(([o_zb + q, t], [1.0, -1.0], 0.0, math.inf))
    for q, gi in enumerate(comp_groups):
        members = groups[gi]
        inside = [local[int(v)] for v in members if int(v) in local]
        if len(inside) < len(members):
            for t in inside:
                upper[t] = 0  # part of the group is unreachable: no positive CAN holds it
        for t in inside:
            rows.append(([o_zg + q, t], [1.0, -1.0], 0.0, 0.0))  # z_g = x_t for all members
    if len(comp_groups) > 1:
        rows.append(
            (list(range(o_zg, o_zg + len(comp_groups))), [1.0] * len(comp_groups), 0, 1.0)
        )
    data, ri, ci, lo, hi = [], [], [], [], []
    for r, (idx, val, a, b) in enumerate(rows):
        ci.extend(idx)
        data.extend(val)
        ri.extend([r] * len(idx))
        lo.append(a)
        hi.append(b)
    matrix = sparse.csr_matrix((data, (ri, ci)), shape=(len(rows), n_var))
    integer = np.zeros(n_var, dtype=bool)
    integer[: 2 * nx] = True
    return cost, matrix, np.array(lo, float), np.array(hi, float), lower, upper, integer


def price_exactly(
    pg: PricingGraph,
    duals: Duals,
    borough_open: np.ndarray,
    groups: tuple[np.ndarray, ...],
    *,
    time_limit_s: float,
    node_limit: int = 2000,
    max_areas: int = 600,
) -> tuple[float | None, list[np.ndarray], dict[str, object]]:
    """A proven upper bound on the best reduced cost of any CAN, and the CANs found on the way.

    The bound is the largest MILP dual bound over the components of the sufficient subgraph
    (0 when no area can be in a CAN with positive reduced cost). Stopped by ``node_limit`` or
    ``time_limit_s`` the MILPs still give valid (looser) bounds. ``None`` (no bound) when the
    subgraph has more than ``max_areas`` areas: the single-CAN MILP is then too slow to help.
    """
    keep = improving_areas(pg, duals, borough_open)
    scale = max(1.0, abs(duals.mu))
    info: dict[str, object] = {"areas": int(keep.sum())}
    if keep.sum() > max_areas:
        info["skipped"] = f"more than {max_areas} areas could hold an improving CAN"
        return None, [], info
    if not keep.any():
        info["components"] = 0
        return 0.0, [], info
    rows = np.repeat(np.arange(pg.n), np.diff(pg.indptr))
    inside = keep[rows] & keep[pg.indices]
    adj = sparse.csr_matrix(
        (np.ones(int(inside.sum())), (rows[inside], pg.indices[inside])), shape=(pg.n, pg.n)
    )
    _, labels = connected_components(adj, directed=False)
    comps = [np.flatnonzero((labels == c) & keep) for c in np.unique(labels[keep])]
    comps = [c for c in comps if pg.population[c].sum() >= pg.min_population]
    comps.sort(key=len)
    info["components"] = len(comps)
    info["largest_component"] = len(comps[-1]) if comps else 0
    best_bound = 0.0
    columns: list[np.ndarray] = []
    deadline = time_limit_s
    spent = 0.0
    proven = True
    for q, comp in enumerate(comps):
        model = _component_model(comp, pg, duals, borough_open, groups)
        if model is None:
            continue
        cost, matrix, lo, hi, lower, upper_b, integer = model
        remaining = max(deadline - spent, 0.5)
        share = remaining / max(len(comps) - q, 1) if q < len(comps) - 1 else remaining
        res = solve_highs(
            cost, matrix, lo, hi, lower, upper_b, integer=integer, time_limit_s=share,
            mip_gap=1e-6, node_limit=node_limit,
        )
        spent += res.seconds
        comp_bound = res.bound
        if comp_bound is None:
            if res.status == "Infeasible":
                continue
            comp_bound = float(np.clip(cost, 0, None).sum())  # trivial bound
        if not res.optimal:
            proven = False
        best_bound = max(best_bound, comp_bound - duals.mu)
        if res.x is not None:
            members = comp[res.x[: len(comp)] > 0.5]
            if len(members) and reduced_cost(members, pg, duals) > 1e-6 * scale:
                columns.append(np.sort(members))
    info["proven"] = proven
    info["seconds"] = spent
    return best_bound, columns, info
