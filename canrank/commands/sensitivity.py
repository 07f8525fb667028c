"""``canrank sensitivity``: Monte Carlo uncertainty of the ranks and of the CAN selection."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from canrank.cli import (
    ConfigOpt,
    MirrorOpt,
    QuietOpt,
    RawOpt,
    ScenarioOpt,
    _run,
    app,
    build_in_memory,
    err,
)
from canrank.errors import ConfigError


def _normalisations(text: str) -> tuple[str, ...]:
    """``rank,zscore`` -> ("rank", "zscore"); ``nominal`` keeps the scenario's transforms."""
    items = tuple(t.strip() for t in text.split(",") if t.strip())
    return () if items in ((), ("nominal",)) else items


@app.command()
def sensitivity(
    config: ConfigOpt = Path("config/indicators.yaml"),
    scenario: ScenarioOpt = None,
    draws: Annotated[int, typer.Option("--draws", "-n", help="Monte Carlo draws.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same results).")] = 1,
    weights: Annotated[
        str, typer.Option(help="Weight perturbation: dirichlet, uniform (±spread) or fixed.")
    ] = "dirichlet",
    concentration: Annotated[
        float, typer.Option(help="Dirichlet concentration (higher = closer to nominal).")
    ] = 50.0,
    spread: Annotated[float, typer.Option(help="Uniform perturbation: ±share of each weight.")] = (
        0.25
    ),
    normalisations: Annotated[
        str,
        typer.Option(
            help="Comma-separated normalisations a draw picks from; 'nominal' keeps the "
            "scenario's own."
        ),
    ] = "rank,zscore,minmax,exp_rank",
    leave_one_out: Annotated[
        bool,
        typer.Option(
            "--leave-one-out/--no-leave-one-out", help="Let draws leave one indicator out."
        ),
    ] = True,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Address of a running dask.distributed scheduler (tcp://host:8786)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Local worker processes (default: CPU count).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Draws per task (does not change results).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder (default data/processed/<scenario>-sa)."),
    ] = None,
    mirror: MirrorOpt = None,
    raw_dir: RawOpt = Path("data/raw"),
    quiet: QuietOpt = False,
) -> None:
    """Re-rank and re-select the CANs under perturbed weights, normalisations and indicator
    sets; write sensitivity_lsoa.csv, sensitivity_cans.csv, sensitivity_draws.csv, a rank
    interval plot and a manifest."""
    from canrank.sensitivity import Design, inputs_from_build, run_sensitivity
    from canrank.sensitivity_report import write_sensitivity

    if weights not in ("dirichlet", "uniform", "fixed"):
        _run(lambda: _bad_weights(weights))
    design = Design(
        weights=weights,  # type: ignore[arg-type]
        concentration=concentration,
        spread=spread,
        normalisations=_normalisations(normalisations),
        leave_one_out=leave_one_out,
    )
    nominal = _run(
        # draws are re-selected with greedy, so the nominal selection is greedy too: otherwise
        # the difference between methods would be counted as instability
        lambda: build_in_memory(config, scenario, mirror, raw_dir, method="greedy")
    )
    inputs = _run(lambda: inputs_from_build(nominal, design))
    start = time.perf_counter()
    progress = Progress(
        TextColumn("Monte Carlo draws"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=quiet,
    )
    with progress:
        task = progress.add_task("draws", total=draws)
        result = _run(
            lambda: run_sensitivity(
                inputs,
                design=design,
                draws=draws,
                seed=seed,
                scheduler=scheduler,
                workers=workers,
                batch_size=batch_size,
                on_batch=lambda k: progress.advance(task, k),
            )
        )
    seconds = time.perf_counter() - start
    target = out or Path("data/processed") / f"{nominal.manifest['scenario']}-sa"
    write_sensitivity(result, nominal, target)
    if quiet:
        return
    ex = result.execution
    err.print(
        f"{draws:,} draws in {seconds:.1f} s ({1000 * seconds / draws:.2f} ms per draw; "
        f"{ex['mode']}, {ex['workers']} worker(s), batches of {ex['batch_size']})",
        highlight=False,
    )
    for i, row in enumerate(nominal.cans.itertuples()):
        typer.echo(
            f"CAN {row.can_id:>2} {row.name}: selected in {result.selection_frequency[i]:.0%}"
        )
    typer.echo(f"Outputs written to {target}")


def _bad_weights(value: str) -> None:
    raise ConfigError(
        f"unknown weight perturbation {value!r}", hint="use --weights dirichlet, uniform or fixed"
    )
