"""``canrank compare``: what changes between two or more scenarios."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from canrank.cli import (
    ConfigOpt,
    MirrorOpt,
    QuietOpt,
    RawOpt,
    _run,
    app,
    build_in_memory,
    console,
    err,
)


@app.command()
def compare(
    scenarios: Annotated[
        list[str],
        typer.Argument(help="Two or more scenario names, e.g. lcc-2017-proxies gla-2017-proxies."),
    ],
    config: ConfigOpt = Path("config/indicators.yaml"),
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder (default data/processed/compare-A-vs-B)."),
    ] = None,
    mirror: MirrorOpt = None,
    raw_dir: RawOpt = Path("data/raw"),
    map_: Annotated[
        bool, typer.Option("--map/--no-map", help="Write the side-by-side comparison map.")
    ] = True,
    quiet: QuietOpt = False,
) -> None:
    """Compare scenarios pairwise: CAN overlap, rank correlation and the largest rank shifts
    (compare_cans.csv, compare_lsoa_shifts.csv, compare_summary.csv, compare.md, compare.html
    and the comparison map)."""
    from canrank.compare import compare_results
    from canrank.compare_report import write_comparison
    from canrank.errors import InputError

    names = list(dict.fromkeys(scenarios))
    if len(names) < 2:
        _run(lambda: _fail(InputError("name at least two different scenarios")))
    results = {}
    for name in names:
        if not quiet:
            err.print(f"Building {name} (not written)", highlight=False)
        results[name] = _run(lambda name=name: build_in_memory(config, name, mirror, raw_dir))
    pairs = _run(lambda: compare_results(results))
    target = out or Path("data/processed") / ("compare-" + "-vs-".join(names))
    maps = _run(lambda: write_comparison(pairs, results, target, maps=map_))
    if quiet:
        return
    for p in pairs:
        s = p.summary
        console.print(
            f"{p.a} vs {p.b}: Spearman {s['spearman']:.3f}, Kendall {s['kendall']:.3f}, "
            f"{s['cans_matched']} CANs matched ({s['cans_identical']} identical), "
            f"{s['cans_only_a']} only in {p.a}, {s['cans_only_b']} only in {p.b}; "
            f"map: {maps[(p.a, p.b)]}",
            highlight=False,
            markup=False,
        )
    console.print(f"Outputs written to {target}", highlight=False, markup=False)


def _fail(exc: Exception) -> None:
    raise exc
