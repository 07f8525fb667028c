"""Proven-optimal CAN selection: column generation with exact pricing, then a reduced-cost proof.

The problem of :mod:`canrank.selection.problem` is written as a set-packing master over
candidate CANs (:mod:`canrank.selection.master`; Dantzig-Wolfe column generation, for
districting see Mehrotra, Johnson & Nemhauser 1998). Each round:

1. solve the master LP over the candidates (a persistent HiGHS model) for its duals ``u``;
2. price *exactly* (:mod:`canrank.selection.pricer`): the best connected, population-bounded
   CANs under ``u`` over all eligible areas, with a proven bound on ``max rc``;
3. bound: for every selection ``x`` (``K`` open CANs), ``v'x = rc'x + u'Ax <= b'u +
   K * max(0, max rc)`` (weak duality; needs only ``u >= 0`` on the inequality rows), so
   ``UB = b'u + K max(0, max rc)`` (plus the fixed CANs' value) is a global upper bound every
   round, computed from ``u`` itself rather than from solver tolerances.

When pricing finds nothing new (or ``max_rounds`` is reached), HiGHS solves the integer master
over every candidate, warm-started with greedy (so the result is never worse than greedy). Then
the proof: a selection at least as good as the incumbent ``z*`` satisfies, for each of its CANs
``S``, ``rc_S >= z* - b'u - (K - 1) max(0, max rc)``. The pricer enumerates every CAN above
that threshold; once they are candidates, the integer master's optimum *is* the optimum, and
the status is "proven optimal". Every limit is a count (rounds, nodes, CANs enumerated), never
the clock; ``time_limit_s`` is only a safety net and, if it fires, the status says so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from canrank.selection.greedy import connect_group, grow_region, select_greedy
from canrank.selection.master import Master
from canrank.selection.pricer import PricingGraph, price, valid_columns
from canrank.selection.problem import Selection, SelectionProblem, WarmStart
from canrank.selection.residual import residual

__all__ = ["select_optimal", "status_text"]


def status_text(objective: float, bound: float, *, proven: bool, time_limit: bool,
                note: str | None = None) -> str:
    """The one-line status of a selection ("proven optimal", "within X % (bound B)", ...)."""
    if time_limit:
        return f"time limit reached (bound {bound:,.1f})"
    if proven:
        return "proven optimal"
    gap = (bound - objective) / bound if bound > 0 else 0.0
    if note:
        return f"within {100 * gap:.3f} % (bound not proven: {note})"
    return f"within {100 * gap:.3f} % (bound {bound:,.1f})"


def _r(x: float) -> float:
    return round(float(x), 6)


def select_optimal(
    problem: SelectionProblem,
    *,
    seeds: int = 200,
    pool_seeds: int = 1500,
    node_limit: int = 2_000_000,
    max_rounds: int = 200,
    columns_per_round: int = 2000,
    per_root: int = 3,
    delta: float = 1e-4,
    all_positive: bool = True,
    stop_gap: float = 0.0,
    price_warm_duals: bool = False,
    round_records: int = 20_000,
    prove_below: float = 0.002,
    proof_max_columns: int = 50_000,
    mip_node_limit: int = 100_000,
    incumbent_columns: int = 400,
    threads: int | None = None,
    time_limit_s: float = 600.0,
    warm_start: WarmStart | None = None,
    greedy: Selection | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    mip_gap: float | None = None,
) -> Selection:
    """The optimal selection with a proof, or the best found with a proven bound.

    ``node_limit`` caps each root's branch and bound per pricing round and ``max_rounds`` the
    column-generation rounds. Each round adds up to ``columns_per_round`` candidates, best
    first: every CAN with a positive reduced cost (``all_positive``, at most ``round_records``
    listed) or the ``per_root`` best found from each root. ``prove_below`` is the largest
    relative gap at which the reduced-cost proof is attempted and ``proof_max_columns`` caps
    the CANs it may enumerate; ``mip_node_limit`` caps the integer master's branch and bound.
    ``incumbent_columns`` is the size of the small integer master solved first for an
    incumbent (the exact integer master then needs only the candidates that can beat it).
    ``threads`` is the number of pricing threads (default: the cores available, at most 2);
    the result does not depend on it.
    ``warm_start`` (from a previous :class:`Selection` on the same graph, populations,
    boroughs and rules) seeds the candidates, so re-solving with new scores is faster; with
    ``price_warm_duals`` its duals are priced first under the new scores (a valid bound before
    the first LP; measured slower on London, so off by default).
    ``stop_gap`` ends column generation once the bound is within that relative gap of the LP
    (0: run to convergence). ``greedy`` is the
    greedy selection if already computed. ``progress`` is called once per round with
    ``{"stage", "round", "objective", "bound", "gap"}``. ``mip_gap`` is accepted for older
    configurations and ignored (the method proves optimality instead).
    """
    del mip_gap
    start = time.perf_counter()
    deadline = start + time_limit_s

    def out_of_time() -> bool:
        return time.perf_counter() > deadline

    rules = problem.rules
    g = problem.graph
    res = residual(problem)
    k_open = res.n_open
    weight = np.asarray(problem.weight, dtype=np.float64)
    cap = np.clip(rules.max_per_borough - res.load, 0, None)
    allowed = res.free & (cap > 0)[problem.borough]
    pg = PricingGraph.build(
        g.indptr, g.indices, problem.population, problem.borough, allowed, res.groups,
        rules.min_population, rules.max_population,
    )
    greedy = greedy if greedy is not None else select_greedy(problem, seeds=seeds)
    fixed_keys = {np.sort(np.asarray(f, dtype=np.int64)).tobytes() for f in problem.fixed}
    greedy_open = [np.sort(c) for c in greedy.cans if np.sort(c).tobytes() not in fixed_keys]
    fixed_cans = [np.sort(np.asarray(f, dtype=np.int64)) for f in problem.fixed]
    details: dict[str, Any] = {
        "greedy_objective": _r(greedy.objective),
        "node_limit": node_limit,
        "max_rounds": max_rounds,
    }

    def finish(cans: list[np.ndarray], upper: float, status: str, master: Master | None,
               duals: np.ndarray | None) -> Selection:
        cans = sorted(cans, key=lambda c: (-float(weight[c].sum()), int(c.min())))
        objective = problem.objective(cans)
        if not math.isfinite(upper):  # stopped before any round: the knapsack bound
            from canrank.selection.bounds import knapsack_bound

            upper = knapsack_bound(problem)
            status = status_text(objective, upper, proven=False, time_limit=True)
        upper = max(upper, objective)
        ws = None
        if master is not None:
            ws = WarmStart(columns=tuple(master.columns), duals=duals)
        return Selection(
            cans=tuple(cans),
            objective=objective,
            method="optimal",
            upper_bound=_r(upper),
            gap=_r((upper - objective) / upper) if upper > 0 else 0.0,
            solve_seconds=time.perf_counter() - start,
            details=details,
            status=status,
            warm_start=ws,
        )

    if k_open == 0:  # every CAN is fixed by local knowledge
        details["rounds"] = 0
        return finish(fixed_cans, problem.objective(fixed_cans), "proven optimal", None, None)

    master = Master(
        pg, weight, n_open=k_open, borough_cap=cap, n_groups=len(res.groups),
        separation=rules.separation, delta=delta,
    )
    # initial candidates: greedy's CANs, the warm start's, greedy regions from many seeds
    ok_greedy = valid_columns(pg, greedy_open)
    master.add([c for c, ok in zip(greedy_open, ok_greedy, strict=True) if ok])
    greedy_usable = bool(ok_greedy.all()) and len(greedy_open) == k_open
    warm_cols = 0
    if warm_start is not None and warm_start.columns:
        cols = list(warm_start.columns)
        keep = valid_columns(pg, cols)
        warm_cols = master.add([c for c, ok in zip(cols, keep, strict=True) if ok])
    adjacency = [g.neighbors(i).tolist() for i in range(g.n)]
    grow_free = allowed & (res.group_of < 0)
    order = np.lexsort((np.arange(g.n), -problem.score))
    grown = []
    n_seeds = pool_seeds if warm_cols == 0 else 0  # a warm start already has candidates
    for seed in [int(i) for i in order if grow_free[i]][:n_seeds]:
        region = grow_region(problem, seed, grow_free, res.load, adjacency)
        if region is not None:
            grown.append(np.asarray(region, dtype=np.int64))
    for group in res.groups:
        core = connect_group(problem, group, grow_free)
        if core is not None and problem.population[core].sum() <= rules.max_population:
            region = grow_region(problem, core, grow_free, res.load, adjacency)
            if region is not None:
                grown.append(np.asarray(region, dtype=np.int64))
    if grown:
        keep = valid_columns(pg, grown)
        master.add([c for c, ok in zip(grown, keep, strict=True) if ok])
    details["initial_columns"] = len(master.columns)
    details["warm_start_columns"] = warm_cols

    # -- column generation --------------------------------------------------------------------
    scale = max(abs(greedy.objective - res.fixed_objective) / k_open, 1.0)
    eps = 1e-7 * scale  # reduced costs below this count as zero (LP tolerances)
    best_ub = math.inf
    best_u: np.ndarray | None = None
    best_bu = best_maxrc = 0.0
    lp_value = -math.inf
    history: list[dict[str, Any]] = []
    timed_out = False
    nodes_total = 0
    roots_at_limit = 0
    rounds = 0
    improving = True

    def consider(u: np.ndarray, maxrc: float) -> float:
        nonlocal best_ub, best_u, best_bu, best_maxrc
        bu = master.dual_objective(u)
        ub = bu + k_open * max(0.0, maxrc) + res.fixed_objective
        if ub < best_ub:
            best_ub, best_u, best_bu, best_maxrc = ub, u, bu, max(0.0, maxrc)
        return ub

    if price_warm_duals and warm_start is not None and warm_start.duals is not None \
            and len(warm_start.duals) == master.n_rows:
        # the previous duals give a valid bound and columns for the new scores at once
        u0 = master.clip(warm_start.duals)
        r0 = price(pg, *master.split(u0), threshold=eps, node_limit=node_limit,
                   per_root=per_root, threads=threads)
        nodes_total += r0.nodes
        consider(u0, r0.bound)
        master.add(r0.columns[:columns_per_round])
    while rounds < max_rounds:
        if out_of_time():
            timed_out = True
            break
        rounds += 1
        lp_value, u = master.solve_lp()
        result = price(pg, *master.split(u), threshold=eps, node_limit=node_limit,
                       per_root=per_root, enumerate_all=all_positive,
                       max_records=round_records, threads=threads)
        nodes_total += result.nodes
        roots_at_limit += result.roots_at_limit
        ub = consider(u, result.bound)
        added = master.add(result.columns[:columns_per_round])
        improving = added > 0
        lp_total = lp_value + res.fixed_objective
        history.append({
            "round": rounds, "lp": _r(lp_total), "bound": _r(ub), "max_rc": _r(result.bound),
            "added": added, "nodes": result.nodes,
            "roots_at_limit": result.roots_at_limit,
        })
        if progress is not None:
            progress({"stage": "column generation", "round": rounds, "objective": lp_total,
                      "bound": best_ub, "gap": (best_ub - lp_total) / best_ub})
        if not improving:
            break
        if best_ub - lp_total <= stop_gap * abs(best_ub):
            break  # close enough for the proof (deterministic: a computed gap, not the clock)
    converged = bool(history) and not improving
    details.update({
        "rounds": rounds,
        "converged": converged,
        "lp_value": _r(lp_value + res.fixed_objective),
        "pricing_nodes": nodes_total,
        "pricing_roots_at_node_limit": roots_at_limit,
        "history": history,
    })

    # -- integer master -----------------------------------------------------------------------
    start_x = np.zeros(len(master.columns))
    if greedy_usable:
        for c in greedy_open:
            start_x[_index(master, c)] = 1.0
    remaining = max(deadline - time.perf_counter(), 0.1)
    # only candidates that can be in a selection better than greedy's (same argument as the
    # proof below): the optimum over the pool, from a much smaller model
    subset = None
    if best_u is not None and greedy_usable:
        rcs = master.reduced_costs(best_u)
        z0 = greedy.objective - res.fixed_objective
        # a quick incumbent first: the integer master over the ``incumbent_columns`` best
        # candidates by reduced cost. It only raises z0 (tightening the threshold below, so
        # the exact model is small); the exact model still covers every better selection.
        top = np.union1d(np.argsort(-rcs, kind="mergesort")[:incumbent_columns],
                         np.flatnonzero(start_x > 0.5))
        if len(top) < len(rcs):
            pre = master.solve_integer(start_x, node_limit=mip_node_limit,
                                       time_limit_s=remaining, columns=top)
            if pre.chosen.size == k_open and pre.objective > z0 + 1e-9:
                z0 = pre.objective
                start_x = np.zeros(len(master.columns))
                start_x[pre.chosen] = 1.0
            remaining = max(deadline - time.perf_counter(), 0.1)
        thr_g = z0 - best_bu - (k_open - 1) * best_maxrc
        subset = np.flatnonzero(rcs >= thr_g - eps)
        subset = np.union1d(subset, np.flatnonzero(start_x > 0.5))
    mip = master.solve_integer(start_x if greedy_usable else None, node_limit=mip_node_limit,
                               time_limit_s=remaining, columns=subset)
    cans: list[np.ndarray]
    incumbent: np.ndarray | None
    if mip.chosen.size == k_open and mip.objective + res.fixed_objective >= \
            greedy.objective - 1e-9:
        cans = [master.columns[j] for j in mip.chosen] + fixed_cans
        incumbent = mip.chosen
    else:  # pragma: no cover - HiGHS keeps the greedy start, so this is a safety net
        cans = list(greedy.cans)
        incumbent = np.array([_index(master, c) for c in greedy_open]) if greedy_usable else None
    z = problem.objective(cans)
    details["integer_master"] = {
        "status": mip.status, "objective": _r(z),
        "columns": len(master.columns) if subset is None else len(subset),
    }
    if progress is not None:
        progress({"stage": "integer master", "round": rounds, "objective": z,
                  "bound": best_ub, "gap": (best_ub - z) / best_ub})
    timed_out = timed_out or mip.status == "Time limit reached"

    # -- proof --------------------------------------------------------------------------------
    proven = mip.optimal and best_ub - z <= 1e-9 * max(abs(best_ub), 1.0)
    proof: dict[str, Any] = {"attempted": False}
    gap = (best_ub - z) / best_ub if best_ub > 0 else 0.0
    if not proven and not timed_out and best_u is not None and gap <= prove_below \
            and not out_of_time():
        thr = (z - res.fixed_objective) - best_bu - (k_open - 1) * best_maxrc
        enum = price(pg, *master.split(best_u), threshold=thr - eps, node_limit=node_limit,
                     enumerate_all=True, max_records=proof_max_columns,
                     threads=threads)
        added = master.add(enum.columns)
        proof = {
            "attempted": True, "threshold_rc": _r(thr), "enumerated": len(enum.columns),
            "new_columns": added, "complete": enum.complete, "nodes": enum.nodes,
            "roots_at_node_limit": enum.roots_at_limit,
        }
        if enum.complete and not out_of_time():
            start2 = np.zeros(len(master.columns))
            if incumbent is not None:
                start2[incumbent] = 1.0
            remaining = max(deadline - time.perf_counter(), 0.1)
            # a better selection uses only candidates with rc >= thr, all now in the pool
            subset2 = np.flatnonzero(master.reduced_costs(best_u) >= thr - eps)
            if incumbent is not None:
                subset2 = np.union1d(subset2, incumbent)
            mip2 = master.solve_integer(start2 if incumbent is not None else None,
                                        node_limit=mip_node_limit, time_limit_s=remaining,
                                        columns=subset2)
            proof["master_columns"] = len(subset2)
            proof["master_status"] = mip2.status
            if mip2.chosen.size == k_open and mip2.objective + res.fixed_objective > z + 1e-9:
                cans = [master.columns[j] for j in mip2.chosen] + fixed_cans
                z = problem.objective(cans)
            proven = mip2.optimal
            timed_out = timed_out or mip2.status == "Time limit reached"
            if proven:
                best_ub = min(best_ub, z)
        if progress is not None:
            progress({"stage": "proof", "round": rounds, "objective": z, "bound": best_ub,
                      "gap": (best_ub - z) / best_ub if best_ub > 0 else 0.0})
    details["proof"] = proof
    details["columns"] = len(master.columns)
    details["time_limit_reached"] = timed_out
    status = status_text(z, best_ub, proven=proven and not timed_out, time_limit=timed_out)
    details["proven_optimal"] = proven and not timed_out
    return finish(cans, best_ub, status, master, best_u)


def _index(master: Master, column: np.ndarray) -> int:
    """Position of a candidate in the master's pool."""
    key = np.sort(np.asarray(column, dtype=np.int64)).tobytes()
    for j, c in enumerate(master.columns):
        if c.tobytes() == key:
            return j
    raise KeyError("column not in the pool")
