"""``canrank compare``: what changes between two or more scenarios, from their builds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from canrank.cli.common import (
    DEFAULT_CONFIG,
    DEFAULT_RAW,
    BuildsOpt,
    ConfigOpt,
    MirrorOpt,
    QuietOpt,
    RawOpt,
    app,
    console,
    open_scenario_build,
    run,
)
from canrank.errors import InputError


def comparison_folder(names: list[str]) -> Path:
    """Where the comparison of ``names`` is written: ``data/processed/compare/A-vs-B``."""
    from canrank.outputs import safe_component

    return Path("data/processed/compare") / safe_component("-vs-".join(names))


def run_comparison(
    scenarios: list[str],
    *,
    config: Path,
    mirror: Path | None,
    raw_dir: Path,
    maps: bool,
    quiet: bool,
    out: Path | None = None,
    builds_root: Path | None = None,
) -> Path:
    """Compare the builds of ``scenarios`` and write the comparison; returns its folder."""
    from canrank.analysis.compare import compare_results
    from canrank.builds import default_build_folder
    from canrank.reports.compare_report import write_comparison

    names = list(dict.fromkeys(scenarios))
    if len(names) < 2:
        run(lambda: _raise(InputError("name at least two different scenarios")))
    results = {
        name: open_scenario_build(
            config,
            name,
            build_dir=(builds_root or Path("data/processed")) / default_build_folder(name).name,
            mirror=mirror,
            raw_dir=raw_dir,
            quiet=quiet,
        )
        for name in names
    }
    pairs = run(lambda: compare_results(results))
    target = out or comparison_folder(names)
    written = run(lambda: write_comparison(pairs, results, target, maps=maps))
    if not quiet:
        for p in pairs:
            s = p.summary
            console.print(
                f"{p.a} vs {p.b}: Spearman {s['spearman']:.3f}, Kendall {s['kendall']:.3f}, "
                f"{s['cans_matched']} CANs matched ({s['cans_identical']} identical), "
                f"{s['cans_only_a']} only in {p.a}, {s['cans_only_b']} only in {p.b}; "
                f"map: {written[(p.a, p.b)]}"
            )
        console.print(f"Outputs written to {target}")
    return target


@app.command()
def compare(
    scenarios: Annotated[
        list[str],
        typer.Argument(
            metavar="SCENARIO...",
            help="Two or more scenario names, e.g. lcc-2017-proxies gla-2017-proxies.",
        ),
    ],
    config: ConfigOpt = DEFAULT_CONFIG,
    builds: BuildsOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Output folder (default data/processed/compare/<A>-vs-<B>).",
        ),
    ] = None,
    mirror: MirrorOpt = None,
    raw_dir: RawOpt = DEFAULT_RAW,
    map_: Annotated[
        bool, typer.Option("--map/--no-map", help="Write the side-by-side comparison map.")
    ] = True,
    quiet: QuietOpt = False,
) -> None:
    """Compare scenarios pairwise from their builds: CAN overlap, rank correlation and the
    largest rank shifts (CSV, Markdown, HTML and the comparison map)."""
    run_comparison(
        scenarios,
        config=config,
        mirror=mirror,
        raw_dir=raw_dir,
        maps=map_,
        quiet=quiet,
        out=out,
        builds_root=builds,
    )


def _raise(exc: Exception) -> None:
    raise exc
