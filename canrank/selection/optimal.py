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
from dataclasses import dataclass
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


@dataclass
class _Options:
    """The knobs of :func:`select_optimal` (see its docstring)."""

    seeds: int
    pool_seeds: int
    node_limit: int
    max_rounds: int
    columns_per_round: int
    per_root: int
    all_positive: bool
    stop_gap: float
    price_warm_duals: bool
    round_records: int
    prove_below: float
    proof_slack: float
    attempt_after: int
    proof_max_columns: int
    mip_node_limit: int
    incumbent_columns: int
    threads: int | None


class _ColumnGeneration:
    """One run of the method: the pool, the bound, the incumbent and the record of the run.

    Bounds, thresholds and values are of the *open* CANs (the fixed CANs' value is added when
    reporting).
    """

    def __init__(self, problem: SelectionProblem, greedy: Selection, opts: _Options,
                 deadline: float, delta: float) -> None:
        self.problem, self.greedy, self.opts, self.deadline = problem, greedy, opts, deadline
        rules = problem.rules
        self.res = res = residual(problem)
        self.k = res.n_open
        self.weight = np.asarray(problem.weight, dtype=np.float64)
        self.cap = np.clip(rules.max_per_borough - res.load, 0, None)
        self.allowed = res.free & (self.cap > 0)[problem.borough]
        self.pg = PricingGraph.build(
            problem.graph.indptr, problem.graph.indices, problem.population, problem.borough,
            self.allowed, res.groups, rules.min_population, rules.max_population,
        )
        fixed_keys = {np.sort(np.asarray(f, dtype=np.int64)).tobytes() for f in problem.fixed}
        self.greedy_open = [np.sort(c) for c in greedy.cans
                            if np.sort(c).tobytes() not in fixed_keys]
        self.fixed_cans = [np.sort(np.asarray(f, dtype=np.int64)) for f in problem.fixed]
        self.master = Master(
            self.pg, self.weight, n_open=self.k, borough_cap=self.cap,
            n_groups=len(res.groups), separation=rules.separation, delta=delta,
        ) if self.k > 0 else None
        self.details: dict[str, Any] = {
            "greedy_objective": _r(greedy.objective),
            "node_limit": opts.node_limit,
            "max_rounds": opts.max_rounds,
        }
        scale = max(abs(greedy.objective - res.fixed_objective) / max(self.k, 1), 1.0)
        self.eps = 1e-7 * scale  # reduced costs below this count as zero (LP tolerances)
        # the best global bound so far: ub = bu + k max(0, max rc) (+ the fixed CANs' value)
        self.best_ub = math.inf
        self.best_u: np.ndarray | None = None
        self.best_bu = self.best_maxrc = 0.0
        # the incumbent: pool indices of its open CANs and their value
        self.z_open = greedy.objective - res.fixed_objective
        self.incumbent: np.ndarray | None = None
        self.greedy_usable = False
        self.timed_out = False
        self.proven = False
        self.proof: dict[str, Any] = {"attempted": False}

    # -- helpers ------------------------------------------------------------------------------

    def out_of_time(self) -> bool:
        """Whether the safety-net time limit has passed."""
        return time.perf_counter() > self.deadline

    def remaining(self) -> float:
        """Seconds left before the safety net (at least 0.1, for HiGHS)."""
        return max(self.deadline - time.perf_counter(), 0.1)

    def price(self, u: np.ndarray, threshold: float, *, enumerate_all: bool,
              max_records: int) -> Any:
        """Exact pricing under ``u`` (see :func:`canrank.selection.pricer.price`)."""
        o = self.opts
        assert self.master is not None
        return price(self.pg, *self.master.split(u), threshold=threshold,
                     node_limit=o.node_limit, per_root=o.per_root, enumerate_all=enumerate_all,
                     max_records=max_records, threads=o.threads)

    def consider(self, u: np.ndarray, maxrc: float) -> float:
        """The bound given by ``u`` and a proven ``max rc`` under it; keep the best."""
        assert self.master is not None
        bu = self.master.dual_objective(u)
        ub = bu + self.k * max(0.0, maxrc) + self.res.fixed_objective
        if ub < self.best_ub:
            self.best_ub, self.best_u, self.best_bu = ub, u, bu
            self.best_maxrc = max(0.0, maxrc)
        return ub

    def start_vector(self) -> np.ndarray | None:
        """The incumbent as a 0/1 vector over the pool (a MIP start), if there is one."""
        if self.incumbent is None:
            return None
        assert self.master is not None
        x = np.zeros(len(self.master.columns))
        x[self.incumbent] = 1.0
        return x

    def take(self, chosen: np.ndarray, value: float) -> None:
        """Keep an integer solution of the master if it beats the incumbent."""
        if chosen.size == self.k and (self.incumbent is None or value > self.z_open + 1e-9):
            self.incumbent, self.z_open = np.sort(chosen), value

    # -- stages -------------------------------------------------------------------------------

    def seed_pool(self, warm_start: WarmStart | None) -> None:
        """Initial candidates: greedy's CANs, the warm start's, greedy regions from many seeds."""
        master, problem, res = self.master, self.problem, self.res
        assert master is not None
        ok_greedy = valid_columns(self.pg, self.greedy_open)
        master.add([c for c, ok in zip(self.greedy_open, ok_greedy, strict=True) if ok])
        self.greedy_usable = bool(ok_greedy.all()) and len(self.greedy_open) == self.k
        if self.greedy_usable:
            self.incumbent = np.sort([_index(master, c) for c in self.greedy_open])
        warm_cols = 0
        if warm_start is not None and warm_start.columns:
            cols = list(warm_start.columns)
            keep = valid_columns(self.pg, cols)
            warm_cols = master.add([c for c, ok in zip(cols, keep, strict=True) if ok])
        grow_free = self.allowed & (res.group_of < 0)
        n_seeds = self.opts.pool_seeds if warm_cols == 0 else 0  # a warm start has candidates
        grown: list[np.ndarray] = []
        if n_seeds > 0:
            from canrank.selection.fast_greedy import grow_regions

            g = problem.graph
            order = np.lexsort((np.arange(g.n), -problem.score))
            seeds = np.asarray([int(i) for i in order if grow_free[i]][:n_seeds], dtype=np.int64)
            grown.extend(r for r in grow_regions(problem, seeds, grow_free, res.load)
                         if r is not None)
        if res.groups:
            g = problem.graph
            adjacency = [g.neighbors(i).tolist() for i in range(g.n)]
            for group in res.groups:
                core = connect_group(problem, group, grow_free)
                if core is not None and \
                        problem.population[core].sum() <= problem.rules.max_population:
                    region = grow_region(problem, core, grow_free, res.load, adjacency)
                    if region is not None:
                        grown.append(np.asarray(region, dtype=np.int64))
        if grown:
            keep = valid_columns(self.pg, grown)
            master.add([c for c, ok in zip(grown, keep, strict=True) if ok])
        self.details["initial_columns"] = len(master.columns)
        self.details["warm_start_columns"] = warm_cols

    def integral_lp(self) -> None:
        """Take the master LP's solution as an incumbent when it is integral (it then is the
        pool's integer optimum, found without an integer model)."""
        master = self.master
        assert master is not None
        x = master.lp_x
        if len(x) != len(master.columns):
            return
        ones = np.flatnonzero(np.abs(x - 1.0) <= 1e-6)
        if len(ones) == self.k and np.all((np.abs(x) <= 1e-6) | (np.abs(x - 1.0) <= 1e-6)):
            self.take(ones, float(sum(master.values[j] for j in ones)))

    def pool_optimum(self, u: np.ndarray) -> tuple[Any, int]:
        """The integer master's optimum over the pool (kept if it beats the incumbent) and the
        size of the model solved.

        A small model over the ``incumbent_columns`` candidates of best reduced cost under
        ``u`` gives an incumbent ``z`` first; a pool selection better than ``z`` uses only
        candidates with ``rc >= z - b'u - (k - 1) max(0, max rc over the pool)`` (the proof's
        argument), so the exact model needs only those.
        """
        master, o = self.master, self.opts
        assert master is not None
        rcs = master.reduced_costs(u)
        if self.incumbent is not None and len(rcs) > o.incumbent_columns:
            top = np.union1d(np.argsort(-rcs, kind="mergesort")[: o.incumbent_columns],
                             self.incumbent)
            pre = master.solve_integer(self.start_vector(), node_limit=o.mip_node_limit,
                                       time_limit_s=self.remaining(), columns=top)
            self.take(pre.chosen, pre.objective)
        subset = None
        if self.incumbent is not None:
            thr = self.z_open - master.dual_objective(u) - \
                (self.k - 1) * max(0.0, float(rcs.max(initial=0.0)))
            subset = np.union1d(np.flatnonzero(rcs >= thr - self.eps), self.incumbent)
        mip = master.solve_integer(self.start_vector(), node_limit=o.mip_node_limit,
                                   time_limit_s=self.remaining(), columns=subset)
        self.take(mip.chosen, mip.objective)
        self.timed_out = self.timed_out or mip.status == "Time limit reached"
        return mip, len(rcs) if subset is None else len(subset)

    def prove(self, u: np.ndarray, maxrc: float, enumerated: Any, in_round: int | None) -> None:
        """The proof once every CAN with ``rc >= z - b'u - (k - 1) max(0, max rc)`` under ``u``
        is in ``enumerated`` (complete): the integer master over them is the optimum."""
        master, o = self.master, self.opts
        assert master is not None
        thr = self.z_open - master.dual_objective(u) - (self.k - 1) * max(0.0, maxrc)
        added = master.add(enumerated.columns)
        self.proof = {
            "attempted": True, "threshold_rc": _r(thr), "enumerated": len(enumerated.columns),
            "new_columns": added, "complete": enumerated.complete, "nodes": enumerated.nodes,
            "roots_at_node_limit": enumerated.roots_at_limit,
        }
        if in_round is not None:
            self.proof["in_round"] = in_round
        if not enumerated.complete or self.out_of_time():
            return
        # a better selection uses only candidates with rc >= thr, all now in the pool
        subset = np.flatnonzero(master.reduced_costs(u) >= thr - self.eps)
        if self.incumbent is not None:
            subset = np.union1d(subset, self.incumbent)
        mip = master.solve_integer(self.start_vector(), node_limit=o.mip_node_limit,
                                   time_limit_s=self.remaining(), columns=subset)
        self.proof["master_columns"] = len(subset)
        self.proof["master_status"] = mip.status
        self.take(mip.chosen, mip.objective)
        self.timed_out = self.timed_out or mip.status == "Time limit reached"
        self.proven = mip.optimal and self.incumbent is not None
        if self.proven:
            self.best_ub = min(self.best_ub, self.z_open + self.res.fixed_objective)

    def attempt_threshold(self, u: np.ndarray, lp_value: float, rounds: int,
                          last_added: int) -> float | None:
        """The enumeration threshold of a pricing round that may also prove optimality.

        After a round that added few candidates, the incumbent is refreshed and, when the gap
        is within ``prove_below``, this round lists every CAN with ``rc >= z - b'u - (k - 1)
        theta``: if its ``max rc`` is at most ``theta`` the list is the proof's (one pricing
        pass instead of a converging round and a separate enumeration)."""
        o, master = self.opts, self.master
        assert master is not None
        if rounds < 2 or last_added > o.attempt_after or o.proof_slack <= 0:
            return None
        bu = master.dual_objective(u)
        if self.incumbent is None or bu - self.z_open > bu - lp_value + self.eps:
            self.pool_optimum(u)  # else the incumbent already has the LP's value
        if self.incumbent is None:
            return None
        if bu - self.z_open > o.prove_below * max(abs(bu + self.res.fixed_objective), 1.0):
            return None
        return self.z_open - bu - (self.k - 1) * self.theta()

    def theta(self) -> float:
        """The largest ``max rc`` a proving round accepts (``proof_slack`` of a mean CAN)."""
        return max(self.opts.proof_slack * abs(self.z_open) / max(self.k, 1), self.eps)

    def column_generation(self, progress: Callable[[dict[str, Any]], None] | None,
                          warm_start: WarmStart | None) -> None:
        """Rounds of LP, exact pricing and bound until no candidate improves the LP, a proving
        round succeeds, or a count limit is reached."""
        master, o, res, eps = self.master, self.opts, self.res, self.eps
        assert master is not None
        lp_value = -math.inf
        history: list[dict[str, Any]] = []
        nodes_total = roots_at_limit = rounds = 0
        improving = True
        last_added = 0
        if o.price_warm_duals and warm_start is not None and warm_start.duals is not None \
                and len(warm_start.duals) == master.n_rows:
            # the previous duals give a valid bound and columns for the new scores at once
            u0 = master.clip(warm_start.duals)
            r0 = self.price(u0, eps, enumerate_all=False, max_records=o.round_records)
            nodes_total += r0.nodes
            self.consider(u0, r0.bound)
            master.add(r0.columns[: o.columns_per_round])
        while rounds < o.max_rounds:
            if self.out_of_time():
                self.timed_out = True
                break
            rounds += 1
            lp_value, u = master.solve_lp()
            self.integral_lp()
            thr = self.attempt_threshold(u, lp_value, rounds, last_added)
            if thr is None:
                result = self.price(u, eps, enumerate_all=o.all_positive,
                                    max_records=o.round_records)
            else:
                result = self.price(u, min(thr, eps) - eps, enumerate_all=True,
                                    max_records=o.proof_max_columns)
            nodes_total += result.nodes
            roots_at_limit += result.roots_at_limit
            ub = self.consider(u, result.bound)
            positive = [c for c, rc in zip(result.columns, result.reduced_costs, strict=True)
                        if rc > eps][: o.columns_per_round]
            added = master.add(positive)
            proving = thr is not None and result.complete and \
                max(0.0, result.bound) <= self.theta()
            if proving:
                self.prove(u, result.bound, result, rounds)
            improving = added > 0
            last_added = added
            lp_total = lp_value + res.fixed_objective
            history.append({
                "round": rounds, "lp": _r(lp_total), "bound": _r(ub),
                "max_rc": _r(result.bound), "added": added, "nodes": result.nodes,
                "roots_at_limit": result.roots_at_limit, "proving": thr is not None,
            })
            if progress is not None:
                progress({"stage": "column generation", "round": rounds, "objective": lp_total,
                          "bound": self.best_ub, "gap": (self.best_ub - lp_total) / self.best_ub})
            if proving or not improving:
                break
            if self.best_ub - lp_total <= o.stop_gap * abs(self.best_ub):
                break  # close enough for the proof (deterministic: a computed gap)
        self.details.update({
            "rounds": rounds,
            "converged": bool(history) and not improving,
            "lp_value": _r(lp_value + res.fixed_objective),
            "pricing_nodes": nodes_total,
            "pricing_roots_at_node_limit": roots_at_limit,
            "history": history,
        })

    def integer_master(self, progress: Callable[[dict[str, Any]], None] | None) -> None:
        """The optimum over the pool under the best duals (never worse than greedy)."""
        res = self.res
        assert self.master is not None
        u = self.best_u if self.best_u is not None else np.zeros(self.master.n_rows)
        mip, size = self.pool_optimum(u)
        z = self.z_open + res.fixed_objective
        self.details["integer_master"] = {"status": mip.status, "objective": _r(z),
                                          "columns": size}
        self.proven = mip.optimal and self.best_ub - z <= 1e-9 * max(abs(self.best_ub), 1.0)
        if progress is not None:
            progress({"stage": "integer master", "round": self.details.get("rounds", 0),
                      "objective": z, "bound": self.best_ub,
                      "gap": (self.best_ub - z) / self.best_ub})

    def final_proof(self, progress: Callable[[dict[str, Any]], None] | None) -> None:
        """The reduced-cost proof under the best duals, when the gap is small enough."""
        z = self.z_open + self.res.fixed_objective
        gap = (self.best_ub - z) / self.best_ub if self.best_ub > 0 else 0.0
        if self.proven or self.timed_out or self.best_u is None \
                or gap > self.opts.prove_below or self.out_of_time():
            return
        u = self.best_u
        thr = self.z_open - self.best_bu - (self.k - 1) * self.best_maxrc
        enum = self.price(u, thr - self.eps, enumerate_all=True,
                          max_records=self.opts.proof_max_columns)
        self.prove(u, self.best_maxrc, enum, None)
        if progress is not None:
            z = self.z_open + self.res.fixed_objective
            progress({"stage": "proof", "round": self.details.get("rounds", 0), "objective": z,
                      "bound": self.best_ub,
                      "gap": (self.best_ub - z) / self.best_ub if self.best_ub > 0 else 0.0})

    def selection(self, start: float) -> Selection:
        """The result: the incumbent (or greedy's CANs), its status and the warm start."""
        problem, master = self.problem, self.master
        if master is not None and self.incumbent is not None:
            cans = [master.columns[j] for j in self.incumbent] + self.fixed_cans
        elif master is None:
            cans = list(self.fixed_cans)
        else:  # pragma: no cover - the greedy start is kept by HiGHS: a safety net
            cans = list(self.greedy.cans)
        cans = sorted(cans, key=lambda c: (-float(self.weight[c].sum()), int(c.min())))
        objective = problem.objective(cans)
        upper = self.best_ub
        proven = self.proven and not self.timed_out
        if master is None:
            upper, proven = objective, True
        if not math.isfinite(upper):  # stopped before any round: the knapsack bound
            from canrank.selection.bounds import knapsack_bound

            upper = knapsack_bound(problem)
            self.timed_out = True
        upper = max(upper, objective)
        status = status_text(objective, upper, proven=proven, time_limit=self.timed_out)
        self.details["proof"] = self.proof
        self.details["columns"] = 0 if master is None else len(master.columns)
        self.details["time_limit_reached"] = self.timed_out
        self.details["proven_optimal"] = proven
        ws = None if master is None else WarmStart(columns=tuple(master.columns),
                                                   duals=self.best_u)
        return Selection(
            cans=tuple(cans),
            objective=objective,
            method="optimal",
            upper_bound=_r(upper),
            gap=_r((upper - objective) / upper) if upper > 0 else 0.0,
            solve_seconds=time.perf_counter() - start,
            details=self.details,
            status=status,
            warm_start=ws,
        )


def select_optimal(
    problem: SelectionProblem,
    *,
    seeds: int = 200,
    pool_seeds: int = 500,
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
    proof_slack: float = 2.5e-4,
    attempt_after: int = 50,
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
    After a round that added at most ``attempt_after`` candidates, the next round's pricing
    also lists the proof's CANs, accepting a ``max rc`` up to ``proof_slack`` times the mean
    CAN value (0 turns this off: rounds until convergence, then a separate enumeration).
    ``incumbent_columns`` is the size of the small integer master solved for an incumbent
    (the exact integer master then needs only the candidates that can beat it).
    ``threads`` is the number of pricing threads (default: the cores available, at most 2);
    the result does not depend on it.
    ``warm_start`` (from a previous :class:`Selection` on the same graph, populations,
    boroughs and rules) seeds the candidates, so re-solving with new scores is faster; with
    ``price_warm_duals`` its duals are priced first under the new scores (a valid bound before
    the first LP; measured slower on London, so off by default).
    ``stop_gap`` ends column generation once the bound is within that relative gap of the LP
    (0: run to convergence). ``greedy`` is the greedy selection if already computed.
    ``progress`` is called once per round with ``{"stage", "round", "objective", "bound",
    "gap"}``. ``mip_gap`` is accepted for older configurations and ignored (the method proves
    optimality instead).
    """
    del mip_gap
    start = time.perf_counter()
    opts = _Options(
        seeds=seeds, pool_seeds=pool_seeds, node_limit=node_limit, max_rounds=max_rounds,
        columns_per_round=columns_per_round, per_root=per_root, all_positive=all_positive,
        stop_gap=stop_gap, price_warm_duals=price_warm_duals, round_records=round_records,
        prove_below=prove_below, proof_slack=proof_slack, attempt_after=attempt_after,
        proof_max_columns=proof_max_columns, mip_node_limit=mip_node_limit,
        incumbent_columns=incumbent_columns, threads=threads,
    )
    if greedy is None:
        if problem.fixed or problem.locked:
            greedy = select_greedy(problem, seeds=seeds)
        else:  # the compiled twin: the same CANs, about 50 times faster
            from canrank.selection.fast_greedy import select_greedy_fast

            greedy = select_greedy_fast(problem, seeds=seeds)
    run = _ColumnGeneration(problem, greedy, opts, start + time_limit_s, delta)
    if run.master is None:  # every CAN is fixed by local knowledge
        run.details["rounds"] = 0
        return run.selection(start)
    from threadpoolctl import threadpool_limits

    # the vector products here are small: BLAS threads would only spin against the pricing
    # threads for the same cores
    with threadpool_limits(limits=1, user_api="blas"):
        run.seed_pool(warm_start)
        run.column_generation(progress, warm_start)
        if not run.proven:
            run.integer_master(progress)
            run.final_proof(progress)
    return run.selection(start)


def _index(master: Master, column: np.ndarray) -> int:
    """Position of a candidate in the master's pool."""
    key = np.sort(np.asarray(column, dtype=np.int64)).tobytes()
    for j, c in enumerate(master.columns):
        if c.tobytes() == key:
            return j
    raise KeyError("column not in the pool")
