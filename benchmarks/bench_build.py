"""Time `canrank build` on London and report stage timings and peak memory (RSS).

Run from the repository root: ``python benchmarks/bench_build.py [--scenario S] [--repeat N]``.
Each repeat runs in a fresh process so that peak RSS belongs to one build only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import json, resource, sys, time
from canrank.pipeline import build
t0 = time.perf_counter()
r = build(sys.argv[1], scenario=sys.argv[2], mirror=sys.argv[3], out=sys.argv[4],
          raw_dir=sys.argv[5], **json.loads(sys.argv[6]))
total = time.perf_counter() - t0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"total_s": round(total, 3), "peak_rss_mb": round(peak_mb, 1),
                  "stages": r.run["timings_s"], "lsoas": r.manifest["rows"]["lsoas"],
                  "objective": r.manifest["selection"]["objective_value"],
                  "method": r.manifest["selection"]["method"],
                  "status": r.manifest["selection"].get("status")}))
"""


def run_once(scenario: str, mirror: str, overrides: dict) -> dict:
    """One build in a child process; returns its timings and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-c",
            CHILD,
            str(REPO / "config" / "indicators.yaml"),
            scenario,
            mirror,
            str(Path(tmp) / "out"),
            str(Path(tmp) / "raw"),
            json.dumps(overrides),
        ]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
        process_s = time.perf_counter() - t0
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["process_s"] = round(process_s, 3)  # whole process: interpreter, imports, build, exit
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="lcc-2017-proxies")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--method", default=None)
    parser.add_argument("--area", default=None, help="london (default) or england")
    args = parser.parse_args()
    mirror = os.environ.get("CANRANK_MIRROR") or str(REPO.parent / "shared" / "data")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    areas = [args.area] if args.area else [None, "england"]
    for area in areas:
        overrides = {"method": args.method} if args.method else {}
        if area:
            overrides["area"] = area
        repeat = args.repeat if area is None else 1
        report(
            args.scenario, area, [run_once(args.scenario, mirror, overrides) for _ in range(repeat)]
        )


def report(scenario: str, area: str | None, runs: list[dict]) -> None:
    """Print the best run's stage timings and the peak RSS over all runs."""
    best = min(runs, key=lambda r: r["process_s"])
    where = f" --area {area}" if area else ""
    print(
        f"canrank build --scenario {scenario}{where} ({best['lsoas']} LSOAs, {best['method']}: "
        f"{best.get('status')}, objective {best['objective']:,.2f})"
    )
    all_runs = ", ".join(f"{r['process_s']:.2f}" for r in runs)
    print(
        f"  whole process (best of {len(runs)}): {best['process_s']:.2f} s; all runs: "
        f"{all_runs} s; the build() call alone {best['total_s']:.2f} s"
    )
    print(f"  peak RSS: {max(r['peak_rss_mb'] for r in runs):.0f} MB")
    for stage, seconds in best["stages"].items():
        print(f"  {stage:<11} {seconds:7.3f} s")


if __name__ == "__main__":
    main()
