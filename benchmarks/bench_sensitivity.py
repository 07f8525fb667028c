"""Benchmark of ``canrank sensitivity`` on the offline London scenario (exact re-selection).

Prints: the nominal exact solve (whose columns and duals warm-start every draw), the median
seconds per exact draw in one process (one core), exact draws per second on a LocalCluster of
1 and 2 worker processes (speed-up) with each worker's memory, the greedy draw for comparison,
and a cost model for N workers. Whole-process figures (wall clock and CPU of every process).

Usage: ``python benchmarks/bench_sensitivity.py [--draws 8] [--build FOLDER]`` (needs the data
mirror, $CANRANK_MIRROR or ../shared/data, unless --build names an existing London build).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _cpu_s() -> float:
    """CPU seconds (user + system) this process has used."""
    import psutil

    t = psutil.Process().cpu_times()
    return float(t.user + t.system)


def _rss_mib() -> float:
    """Current resident memory of this process."""
    import psutil

    return float(psutil.Process().memory_info().rss / 2**20)


def _peak_mib() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _open(args: argparse.Namespace, tmp: str) -> Any:
    from canrank.builds import open_build

    if args.build:
        return open_build(args.build, geometry=False)
    import canrank

    mirror = Path(os.environ.get("CANRANK_MIRROR", REPO.parent / "shared" / "data"))
    out = Path(tmp) / "london"
    canrank.build(
        REPO / "config" / "indicators.yaml",
        scenario=args.scenario,
        mirror=mirror,
        raw_dir=Path(tmp) / "raw",
        out=out,
    )
    return open_build(out, geometry=False)


def _cluster_run(inputs: Any, workers: int, draws: int, seed: int) -> dict[str, float]:
    """Exact draws on a LocalCluster of ``workers`` processes: wall, CPU, memory per worker."""
    from distributed import Client, LocalCluster

    from canrank.analysis.sensitivity import run_sensitivity

    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        cpu0 = sum(client.run(_cpu_s).values())
        t0 = time.perf_counter()
        run_sensitivity(inputs, draws=draws, seed=seed, scheduler=client, batch_size=1)
        wall = time.perf_counter() - t0
        cpu = sum(client.run(_cpu_s).values()) - cpu0
        rss = list(client.run(_rss_mib).values())
    return {"wall": wall, "cpu": cpu, "rate": draws / wall, "rss": max(rss)}


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--draws", type=int, default=8, help="exact draws per measurement")
    parser.add_argument("--scenario", default="lcc-2017-proxies")
    parser.add_argument("--build", type=Path, default=None, help="existing London build folder")
    parser.add_argument("--greedy-draws", type=int, default=500)
    args = parser.parse_args()

    import numpy as np

    from canrank.analysis.sensitivity import (
        Design,
        inputs_from_build,
        run_batch,
        run_sensitivity,
    )

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; load average at start {os.getloadavg()[0]:.1f} "
        "(shared with other jobs)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        build = _open(args, tmp)
    design = Design(indices=False)
    t0, c0 = time.perf_counter(), _cpu_s()
    inputs = inputs_from_build(build, design)
    print(
        f"nominal exact solve (warm-start source): {time.perf_counter() - t0:.1f} s wall, "
        f"{_cpu_s() - c0:.1f} s CPU; reproduces the published CANs: "
        f"{inputs.nominal['reproduces_published_cans']} ({inputs.nominal['status']})"
    )

    # one process, one core: seconds per exact draw (one selection each: indices off)
    walls, cpus, statuses = [], [], []
    for d in range(args.draws):
        t0, c0 = time.perf_counter(), _cpu_s()
        batch = run_batch(inputs, 1, d, d + 1)
        walls.append(time.perf_counter() - t0)
        cpus.append(_cpu_s() - c0)
        statuses.append(str(batch.records["status"][0]))
    proven = sum(s == "proven optimal" for s in statuses)
    print(
        f"exact draw, one process: median {statistics.median(walls):.2f} s wall "
        f"(min {min(walls):.2f}, max {max(walls):.2f}), median {statistics.median(cpus):.2f} s "
        f"CPU over {args.draws} draws; {proven}/{args.draws} proven optimal"
    )
    print(f"  per-draw wall seconds: {', '.join(f'{w:.1f}' for w in walls)}")

    figures = {}
    for workers in (1, 2):
        figures[workers] = _cluster_run(inputs, workers, args.draws, seed=2)
        f = figures[workers]
        print(
            f"LocalCluster, {workers} worker process(es): {args.draws} exact draws in "
            f"{f['wall']:.1f} s = {f['rate']:.3f} draws/s ({3600 * f['rate']:.0f}/h), workers' "
            f"CPU {f['cpu']:.1f} s, largest worker RSS {f['rss']:.0f} MiB"
        )
    speedup = figures[2]["rate"] / figures[1]["rate"]
    print(f"speed-up 1 -> 2 workers: {speedup:.2f}x (efficiency {speedup / 2:.0%})")

    per_draw_cpu = statistics.median(cpus)
    efficiency = min(1.0, speedup / 2)
    for n in (8, 64, 256):
        per_hour = n * efficiency * 3600 / per_draw_cpu
        print(
            f"cost model: {n} cores x {efficiency:.0%} efficiency / {per_draw_cpu:.2f} CPU-s per "
            f"draw = {per_hour:,.0f} exact draws/hour (x (k + 2) = 8 selections a draw with "
            "indices: "
            f"{per_hour / 8:,.0f} draws/hour)"
        )

    greedy = inputs_from_build(build, design, method="greedy")
    run_sensitivity(greedy, draws=20, seed=0, workers=1)  # load compiled code
    t0, c0 = time.perf_counter(), _cpu_s()
    run_sensitivity(greedy, draws=args.greedy_draws, seed=0, workers=1)
    wall = time.perf_counter() - t0
    print(
        f"greedy draws (the --method greedy option), one process: {args.greedy_draws} in "
        f"{wall:.1f} s = {1000 * wall / args.greedy_draws:.2f} ms per draw wall, "
        f"{1000 * (_cpu_s() - c0) / args.greedy_draws:.2f} ms CPU"
    )
    print(f"client: RSS {_rss_mib():.0f} MiB, peak {_peak_mib():.0f} MiB")
    print(f"load average at end: {os.getloadavg()[0]:.1f}; medians {np.round(walls, 2).tolist()}")


if __name__ == "__main__":
    main()
