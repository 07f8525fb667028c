"""Whole-process start-up and follow-on command times (imports included), and the floor.

Run from the repository root: ``python benchmarks/bench_startup.py``. Measures, each as the
best and median of several fresh processes: ``canrank --help``, ``canrank sources``, a greedy
London build, and, from an existing build, ``canrank explain`` and ``canrank summaries``.
The *floor* is a process that only imports geopandas, reads every input of the scenario and
builds the contiguity graph: no build can be faster than that.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CANRANK = [sys.executable, "-m", "canrank.cli"]

FLOOR = """
import sys
from pathlib import Path
from canrank.config import load_config
from canrank.contiguity import Contiguity
from canrank.study import prepare_study
config = load_config(sys.argv[1])
sc = config.resolve("lcc-2017-proxies")
study = prepare_study(config, sc, raw_dir=Path(sys.argv[3]), mirror=Path(sys.argv[2]))
cc = sc.contiguity
Contiguity.from_geometry(study.lsoa.geometry.values, study.lsoa["lsoa_code"].tolist(),
                         tolerance_m=cc.tolerance_m, rule=cc.rule, min_shared_m=cc.min_shared_m)
"""


def timed(cmd: list[str], repeat: int) -> list[float]:
    """Wall-clock seconds of ``repeat`` fresh processes running ``cmd``."""
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=REPO, capture_output=True)
        out.append(time.perf_counter() - start)
    return out


def show(label: str, runs: list[float]) -> None:
    print(
        f"  {label:<44} best {min(runs):6.2f} s, median {statistics.median(runs):6.2f} s "
        f"({len(runs)} runs)"
    )


def main() -> None:
    mirror = os.environ.get("CANRANK_MIRROR") or str(REPO.parent / "shared" / "data")
    config = str(REPO / "config" / "indicators.yaml")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        raw, out = str(Path(tmp) / "raw"), str(Path(tmp) / "build")
        show("canrank --help", timed([*CANRANK, "--help"], 5))
        show("canrank sources", timed([*CANRANK, "sources"], 5))
        floor = timed([sys.executable, "-c", FLOOR, config, mirror, raw], 3)
        show("floor: import, read inputs, contiguity", floor)
        build = [*CANRANK, "build", "--mirror", mirror, "--raw-dir", raw, "--quiet"]
        greedy = timed([*build, "--method", "greedy", "--out", out + "-greedy"], 3)
        show("canrank build --method greedy (London)", greedy)
        print(f"  greedy build / floor: {min(greedy) / min(floor):.2f}x (target <= 2.5x)")
        show("canrank build (London, exact selection)", timed([*build, "--out", out], 3))
        follow = ["--build", out, "--raw-dir", raw, "--quiet"]
        show(
            "canrank explain E01004702 (from the build)",
            timed([*CANRANK, "explain", "E01004702", *follow], 5),
        )
        show(
            "canrank summaries --level borough (build)",
            timed([*CANRANK, "summaries", "--level", "borough", *follow], 3),
        )


if __name__ == "__main__":
    main()
