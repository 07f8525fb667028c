"""Map benchmark for London (lcc-2017-proxies): geometry preparation, page build, file size, and
time to first render in headless Chromium (network blocked) at desktop and phone sizes.

Run: ``python benchmarks/bench_map.py [--mirror ../shared/data] [--repeat 3]``. Prints figures;
asserts nothing about speed. The build uses greedy selection (the map does not depend on how
the CANs were chosen, and the benchmark should not wait for the exact solver).
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
    import os

    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    from canrank.build_maps import map_inputs
    from canrank.maps.interactive import map_page
    from canrank.maps.payload import prepare
    from canrank.maps.static import save_static, static_figure
    from canrank.pipeline import build

    tmp = Path(tempfile.mkdtemp(prefix="canrank-bench-map-"))
    result = build(
        REPO / "config" / "indicators.yaml",
        scenario=args.scenario,
        mirror=args.mirror,
        raw_dir=tmp / "raw",
        write=False,
        method="greedy",
    )
    lsoa, cans, spec = map_inputs(result)
    t0 = time.perf_counter()
    prep = prepare(lsoa, result.boroughs, spec.simplify_m, result.wards)
    t1 = time.perf_counter()
    path = tmp / "map.html"
    map_page(lsoa, cans, spec, prepared=prep).save(path)
    t2 = time.perf_counter()
    save_static(static_figure(lsoa, cans, spec, prep), tmp / "map.png", tmp / "map.pdf")
    t3 = time.perf_counter()
    size = path.stat().st_size
    print(f"scenario {args.scenario}: {len(lsoa)} LSOAs, {len(cans)} CANs")
    print(f"geometry prepare (coverage + simplify {spec.simplify_m} m, wards): {t1 - t0:.2f} s")
    print(f"page build + save: {t2 - t1:.2f} s")
    print(f"static PNG + PDF: {t3 - t2:.2f} s")
    print(f"map.html size: {size / 1e6:.2f} MB ({size:,} bytes)")

    from browser_util import open_page, why_unavailable

    reason = why_unavailable()
    if reason:
        print(f"browser timing skipped: {reason}")
        return
    for label, (width, height, mobile) in {
        "desktop 1400x900": (1400, 900, False),
        "phone 390x844": (390, 844, True),
    }.items():
        times, inpage = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            with open_page(path, width=width, height=height, mobile=mobile) as (page, log):
                page.wait_for_function(
                    "document.documentElement.getAttribute('data-canrank-ready') === '1' && "
                    f"document.querySelectorAll('path.canrank-lsoa').length === {len(lsoa)}"
                )
                page.evaluate("new Promise(r => requestAnimationFrame(() => r()))")
                times.append(time.perf_counter() - start)
                inpage.append(
                    page.evaluate(
                        "performance.getEntriesByName('canrank-ready')[0].startTime - "
                        "performance.getEntriesByName('canrank-start')[0].startTime"
                    )
                    / 1000
                )
                if log.blocked:
                    print(f"WARNING: network requests blocked: {log.blocked[:3]}")
        print(
            f"time to first render, {label} (browser start included): median "
            f"{statistics.median(times):.2f} s over {len(times)} (min {min(times):.2f}, "
            f"max {max(times):.2f}); the page's own drawing (data read to map ready): median "
            f"{statistics.median(inpage):.2f} s"
        )


if __name__ == "__main__":
    main()
