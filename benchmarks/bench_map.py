"""Map benchmark for London (lcc-2017-proxies): geometry preparation, page build, file size, and
time to first render in headless Chromium with the network blocked.

Run: ``python benchmarks/bench_map.py [--mirror ../shared/data] [--repeat 3]``. Prints figures;
asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # browser_util: the tests' Chromium helper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mirror", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--scenario", default="lcc-2017-proxies")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from canrank.maps.interactive import map_for_result, save_map
    from canrank.maps.payload import prepare
    from canrank.maps.static import save_static, static_for_result
    from canrank.pipeline import build

    tmp = Path(tempfile.mkdtemp(prefix="canrank-bench-map-"))
    result = build(
        REPO / "config" / "indicators.yaml",
        scenario=args.scenario,
        mirror=args.mirror,
        raw_dir=tmp / "raw",
        write=False,
    )
    sc = result.study.scenario
    t0 = time.perf_counter()
    prep = prepare(result.lsoa, result.study.boroughs, sc.map.simplify_m)
    t1 = time.perf_counter()
    fmap = map_for_result(result, prepared=prep)
    path = tmp / "map.html"
    save_map(fmap, path)
    t2 = time.perf_counter()
    save_static(static_for_result(result, prep), tmp / "map")
    t3 = time.perf_counter()
    size = path.stat().st_size
    print(f"scenario {args.scenario}: {len(result.lsoa)} LSOAs, {len(result.cans)} CANs")
    print(f"geometry prepare (coverage + simplify {sc.map.simplify_m} m): {t1 - t0:.2f} s")
    print(f"page build + save: {t2 - t1:.2f} s")
    print(f"static PNG + PDF: {t3 - t2:.2f} s")
    print(f"map.html size: {size / 1e6:.2f} MB ({size:,} bytes)")

    from browser_util import open_page, why_unavailable

    reason = why_unavailable()
    if reason:
        print(f"browser timing skipped: {reason}")
        return
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        with open_page(path) as (page, log):
            page.wait_for_function(
                "window.canrankMaps && window.canrankMaps.length > 0 && "
                "document.querySelectorAll('path.canrank-lsoa').length === "
                f"{len(result.lsoa)}"
            )
            # Wait for a paint after the paths exist.
            page.evaluate("new Promise(r => requestAnimationFrame(() => r()))")
            times.append(time.perf_counter() - start)
            if log.blocked:
                print(f"WARNING: network requests blocked: {log.blocked[:3]}")
    print(
        f"time to first render in headless Chromium (browser start included): median "
        f"{statistics.median(times):.2f} s over {len(times)} (min {min(times):.2f}, "
        f"max {max(times):.2f})"
    )


if __name__ == "__main__":
    main()
