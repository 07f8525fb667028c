"""Benchmark CAN selection: the exact method on London (and England), greedy, warm re-solves.

For London (``lcc-2017-proxies``; ``--area england`` for all of England) prints, per method,
the objective, the global upper bound, the status and the selection time, the rounds and proof
figures of the exact method, and (``--draws N``) the time of warm-started re-solves for
sensitivity draws (Dirichlet(50)-perturbed indicator weights). Run it under
``/usr/bin/time -v`` for the whole process's peak memory. ``--repeat`` re-runs the exact method
and checks the CANs are identical. ``--spopt`` adds the PySAL max-p baseline (slow).

Usage: ``python benchmarks/bench_selection.py [--area england] [--draws 5] [--repeat 1]
[--json FILE]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def load_problem(mirror: Path, area: str | None = None) -> tuple[Any, Any, Any]:
    """The selection problem of the offline London scenario (or ``area``), built by canrank's
    own stages without writing outputs; also the ranked frame and the study (for re-ranking)."""
    from canrank.config import load_config
    from canrank.contiguity import Contiguity
    from canrank.problem import build_problem
    from canrank.ranking import rank_study
    from canrank.study import prepare_study

    config = load_config(REPO / "config" / "indicators.yaml")
    scenario = config.resolve("lcc-2017-proxies", area=area)
    with tempfile.TemporaryDirectory() as raw:
        study = prepare_study(config, scenario, raw_dir=Path(raw), mirror=mirror)
    ranked = rank_study(study)
    cc = scenario.contiguity
    graph = Contiguity.from_geometry(
        ranked.geometry.values, ranked["lsoa_code"].tolist(), tolerance_m=cc.tolerance_m,
        rule=cc.rule, min_shared_m=cc.min_shared_m,
    )
    problem, _ = build_problem(ranked, graph, scenario)
    return problem, ranked, study


def draw_scores(study: Any, rng: np.random.Generator) -> np.ndarray:
    """The composite score with Dirichlet(50)-perturbed indicator weights (same total)."""
    from canrank.ranking import rank_study

    sc = study.scenario
    weights = np.array([i.weight for i in sc.indicators])
    new = rng.dirichlet(50 * weights / weights.sum()) * weights.sum()
    indicators = [replace(i, weight=float(w)) if hasattr(i, "__dataclass_fields__")
                  else i.model_copy(update={"weight": float(w)})
                  for i, w in zip(sc.indicators, new, strict=True)]
    scenario = (replace(sc, indicators=indicators) if hasattr(sc, "__dataclass_fields__")
                else sc.model_copy(update={"indicators": indicators}))
    study2 = replace(study, scenario=scenario)
    return rank_study(study2)["score"].to_numpy(dtype=float)


def digest(selection: Any) -> str:
    """A short hash of the CANs' members (identical selections, identical digest)."""
    text = ";".join(",".join(map(str, c.tolist())) for c in selection.cans)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=Path(
        os.environ.get("CANRANK_MIRROR", REPO.parent / "shared" / "data")))
    parser.add_argument("--area", default=None, help="london (default) or england")
    parser.add_argument("--draws", type=int, default=5, help="warm-started re-solves to time")
    parser.add_argument("--repeat", type=int, default=1, help="extra runs checked identical")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    t_process = time.perf_counter()

    from canrank.selection import select

    t0 = time.perf_counter()
    problem, _ranked, study = load_problem(args.mirror, args.area)
    prep_s = time.perf_counter() - t0
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {args.area or 'london'}: {problem.graph.n} areas "
          f"(problem built in {prep_s:.1f} s)", flush=True)
    out: dict[str, Any] = {"area": args.area or "london", "areas": problem.graph.n}
    t0 = time.perf_counter()
    greedy = select(problem, "greedy")
    out["greedy"] = {"objective": greedy.objective, "seconds": time.perf_counter() - t0}
    print(f"greedy   {greedy.objective:>12,.2f}  {greedy.status}  "
          f"{out['greedy']['seconds']:.2f} s", flush=True)
    t0 = time.perf_counter()
    best = select(problem, "optimal", greedy=greedy)
    seconds = time.perf_counter() - t0
    d = best.details
    out["optimal"] = {
        "objective": best.objective, "upper_bound": best.upper_bound, "gap": best.gap,
        "status": best.status, "seconds": seconds, "rounds": d["rounds"],
        "columns": d["columns"], "proof": d["proof"], "digest": digest(best),
        "pricing_roots_at_node_limit": d["pricing_roots_at_node_limit"],
    }
    print(f"optimal  {best.objective:>12,.2f}  bound {best.upper_bound:,.2f}  {best.status}  "
          f"{seconds:.2f} s; rounds {d['rounds']}, columns {d['columns']}, "
          f"proof {json.dumps(d['proof'])}", flush=True)
    digests = [digest(best)]
    for _ in range(args.repeat):
        again = select(problem, "optimal", greedy=greedy)
        digests.append(digest(again))
    out["repeat_digests"] = digests
    if args.repeat:
        print(f"repeat: {'identical' if len(set(digests)) == 1 else 'DIFFERENT'} {digests}")
    if args.draws:
        rng = np.random.default_rng(0)
        cold_t, warm_t, same = [], [], 0
        for k in range(args.draws):
            score = draw_scores(study, rng)
            p2 = replace(problem, score=score)
            t0 = time.perf_counter()
            warm = select(p2, "optimal", warm_start=best.warm_start)
            warm_t.append(time.perf_counter() - t0)
            if k < 2:  # cold solves are slow: compare two
                t0 = time.perf_counter()
                cold = select(p2, "optimal")
                cold_t.append(time.perf_counter() - t0)
                same += abs(cold.objective - warm.objective) <= 1e-6 * abs(cold.objective)
            print(f"draw {k}: warm {warm_t[-1]:.2f} s {warm.status} {warm.objective:,.2f}"
                  + (f"; cold {cold_t[-1]:.2f} s {cold.status} {cold.objective:,.2f}"
                     if k < 2 else ""), flush=True)
        out["draws"] = {"warm_median_s": float(np.median(warm_t)), "warm_s": warm_t,
                        "cold_s": cold_t, "cold_equals_warm": same}
        print(f"warm re-solve median {np.median(warm_t):.2f} s over {args.draws} draws "
              f"(cold {', '.join(f'{c:.1f}' for c in cold_t)} s)")
    out["process_s"] = time.perf_counter() - t_process
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
