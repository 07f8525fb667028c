"""Benchmark CAN selection on London (lcc-2017-proxies): greedy vs optimal vs a PySAL baseline.

Prints, for each method, the objective (sum of population x score over CAN members), the global
upper bound, the optimality gap and the wall-clock time. The PySAL baseline runs spopt's
max-p-regions heuristic (Wei, Rey & Knaap 2021; reduced to 99 construction and 2 annealing
passes) with the same population floor on all LSOAs (or the connected pieces of the ``--top``
highest-scoring ones), then keeps the best 15 regions that obey the same
rules (population bounds, borough cap, separation), best objective first.

Usage: ``python benchmarks/bench_selection.py [--mirror DIR] [--top N] [--time-limit 120]``
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def london_problem(mirror: Path):
    """The London selection problem, built by the pipeline without writing outputs."""
    from canrank.pipeline import build, build_problem

    with tempfile.TemporaryDirectory() as raw:
        result = build(
            REPO / "config" / "indicators.yaml",
            scenario="lcc-2017-proxies",
            mirror=mirror,
            raw_dir=raw,
            write=False,
            method="greedy",
        )
    ranked = result.lsoa.set_index("lsoa_code").loc[list(result.graph.ids)].reset_index()
    return build_problem(ranked, result.graph, result.study.scenario), ranked


def maxp_baseline(problem, ranked, top: int, seed: int = 0) -> tuple[list[np.ndarray], float]:
    """spopt max-p regions (floor = min_population) on the top LSOAs, then the best 15 valid."""
    import geopandas as gpd
    import libpysal
    from scipy.sparse.csgraph import connected_components
    from spopt.region import MaxPHeuristic

    from canrank.selection import validate_selection

    g = problem.graph
    rules = problem.rules
    keep = np.sort(np.argsort(-problem.score, kind="stable")[:top])
    # drop pieces too small to hold one CAN (spopt's own policies would join pieces that do not
    # touch, which breaks contiguity)
    sub = g.to_sparse()[keep][:, keep]
    _, comp = connected_components(sub, directed=False)
    pops = np.bincount(comp, weights=problem.population[keep])
    keep = keep[pops[comp] >= rules.min_population]
    local = {int(v): k for k, v in enumerate(keep)}
    neighbors = {
        k: [local[int(j)] for j in g.neighbors(int(v)) if int(j) in local]
        for k, v in enumerate(keep)
    }
    w = libpysal.weights.W(neighbors, silence_warnings=True)
    gdf = gpd.GeoDataFrame(
        {
            "score": problem.score[keep],
            "population": problem.population[keep],
        },
        geometry=ranked.geometry.to_numpy()[keep] if "geometry" in ranked else None,
    )
    np.random.seed(seed)  # max-p draws from numpy's global generator
    start = time.perf_counter()
    model = MaxPHeuristic(
        gdf, w, ["score"], "population", rules.min_population, top_n=2,
        max_iterations_construction=99, max_iterations_sa=2, policy="keep",
    )
    model.solve()
    seconds = time.perf_counter() - start
    labels = np.asarray(model.labels_)
    regions = [keep[labels == lab] for lab in np.unique(labels) if lab > 0]
    regions.sort(key=lambda r: -float(problem.weight[r].sum()))
    chosen: list[np.ndarray] = []
    for region in regions:
        trial = [*chosen, region]
        broken = [b for b in validate_selection(problem, trial) if "required" not in b]
        if not broken:
            chosen = trial
        if len(chosen) == rules.n_cans:
            break
    return chosen, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=Path(
        os.environ.get("CANRANK_MIRROR", REPO.parent / "shared" / "data")))
    parser.add_argument("--top", type=int, default=0, help="restrict max-p (0: all LSOAs)")
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--skip-spopt", action="store_true")
    args = parser.parse_args()

    from canrank.selection import select
    from canrank.selection.bounds import knapsack_bound

    problem, ranked = london_problem(args.mirror)
    top = args.top or problem.graph.n
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; London: {problem.graph.n} LSOAs")
    rows = []
    start = time.perf_counter()
    greedy = select(problem, "greedy")
    rows.append(("greedy", greedy.objective, greedy.upper_bound, greedy.gap,
                 time.perf_counter() - start, len(greedy.cans)))
    start = time.perf_counter()
    best = select(problem, "optimal", warm_start=greedy, time_limit_s=args.time_limit)
    rows.append(("optimal", best.objective, best.upper_bound, best.gap,
                 time.perf_counter() - start, len(best.cans)))
    bound = knapsack_bound(problem)
    if not args.skip_spopt:
        cans, seconds = maxp_baseline(problem, ranked, top)
        value = problem.objective(cans)
        rows.append((f"spopt max-p (top {top})", value, bound, (bound - value) / bound,
                     seconds, len(cans)))
    print(f"{'method':<24}{'CANs':>5}{'objective':>12}{'upper bound':>13}{'gap':>8}{'time s':>9}")
    for name, value, ub, gap, seconds, n in rows:
        print(f"{name:<24}{n:>5}{value:>12,.0f}{ub:>13,.0f}{100 * gap:>7.2f}%{seconds:>9.2f}")
    d = best.details
    print(f"optimal: LP bound over its {d['candidates']} candidate CANs "
          f"{d['lp_bound_on_candidates']:,.0f} (not a global bound); upper bound from "
          f"{d['upper_bound_source']}; exact pricing: {d['pricing']}")


if __name__ == "__main__":
    main()
