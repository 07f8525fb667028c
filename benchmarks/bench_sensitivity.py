"""Benchmark of ``canrank sensitivity`` on the offline London scenario.

Prints: the reference greedy vs its compiled twin per selection, in-process milliseconds per
draw, and a 10,000-draw run on a local Dask cluster (2 worker processes) with peak memory of the
client and the workers. Usage: ``python benchmarks/bench_sensitivity.py [--draws 10000]``
(needs the data mirror: $CANRANK_MIRROR or ../shared/data).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _peak_rss_mib() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    """CPU seconds (user + system) this process has used."""
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system


def _rss_mib() -> float:
    """Current resident memory of this process."""
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scenario", default="lcc-2017-proxies")
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    from canrank.analysis.sensitivity import Design, inputs_from_build, run_sensitivity
    from canrank.pipeline import build, build_problem, rank_study
    from canrank.selection.fast_greedy import GreedyArrays
    from canrank.selection.greedy import select_greedy

    mirror = Path(os.environ.get("CANRANK_MIRROR", REPO.parent / "shared" / "data"))
    with tempfile.TemporaryDirectory() as raw:
        nominal = build(
            REPO / "config" / "indicators.yaml",
            scenario=args.scenario,
            mirror=mirror,
            raw_dir=raw,
            write=False,
        )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    problem = build_problem(rank_study(nominal.study), nominal.graph, nominal.study.scenario)
    seeds = nominal.study.scenario.selection.seeds
    start = time.perf_counter()
    for _ in range(10):
        select_greedy(problem, seeds=seeds)
    ref_ms = (time.perf_counter() - start) * 100
    twin = GreedyArrays(problem, seeds=seeds)
    twin.labels(problem.score)  # compile or load from numba's cache
    start = time.perf_counter()
    for _ in range(200):
        twin.labels(problem.score)
    fast_ms = (time.perf_counter() - start) * 5
    print(
        f"selection (seeds={seeds}): reference greedy {ref_ms:.1f} ms, "
        f"compiled twin {fast_ms:.2f} ms"
    )

    design = Design()
    inputs = inputs_from_build(nominal, design)
    before_mib = _rss_mib()
    run_sensitivity(inputs, design=design, draws=50, seed=0, workers=1)  # warm-up
    n_local = min(2000, args.draws)
    start, cpu0 = time.perf_counter(), _cpu_s()
    run_sensitivity(inputs, design=design, draws=n_local, seed=0, workers=1)
    local_s, local_cpu = time.perf_counter() - start, _cpu_s() - cpu0
    print(
        f"in-process: {n_local} draws in {local_s:.1f} s = {1000 * local_s / n_local:.2f} ms "
        f"per draw wall, {1000 * local_cpu / n_local:.2f} ms CPU (one core)"
    )

    start = time.perf_counter()
    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        started = time.perf_counter() - start
        cpu0 = sum(client.run(_cpu_s).values()) + _cpu_s()
        t0 = time.perf_counter()
        result = run_sensitivity(inputs, design=design, draws=args.draws, seed=0, scheduler=client)
        run_s = time.perf_counter() - t0
        cpu_s = sum(client.run(_cpu_s).values()) + _cpu_s() - cpu0
        workers_mib = client.run(_rss_mib)
    total = time.perf_counter() - start
    print(
        f"local cluster, {args.workers} workers: {args.draws:,} draws in {run_s:.1f} s "
        f"(+{started:.1f} s cluster start-up, {total:.1f} s in all) = "
        f"{1000 * run_s / args.draws:.2f} ms per draw wall, batches of "
        f"{result.execution['batch_size']}"
    )
    print(
        f"CPU time (workers + client): {cpu_s:.1f} s = {1000 * cpu_s / args.draws:.2f} ms per "
        f"draw; load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    peaks = ", ".join(f"{v:.0f}" for v in workers_mib.values())
    print(
        f"memory: client {before_mib:.0f} MiB after the nominal build, peak {_peak_rss_mib():.0f} "
        f"MiB; each worker {peaks} MiB resident after the run"
    )
    print(f"nominal CANs re-selected: {np.round(result.selection_frequency, 3).tolist()}")


if __name__ == "__main__":
    main()
