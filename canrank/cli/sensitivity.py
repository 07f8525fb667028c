"""``canrank sensitivity``: how stable the build's published CANs are under the modeller's
choices (weights, normalisation, leaving an indicator out), with variance-based indices."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from canrank.cli.common import (
    DEFAULT_CONFIG,
    DEFAULT_RAW,
    BuildOpt,
    ConfigOpt,
    MirrorOpt,
    QuietOpt,
    RawOpt,
    ScenarioOpt,
    app,
    console,
    err,
    open_scenario_build,
    run,
    say,
)
from canrank.errors import ConfigError


def _normalisations(text: str) -> tuple[str, ...]:
    """``rank,zscore`` -> ("rank", "zscore"); ``nominal`` keeps the scenario's transforms."""
    items = tuple(t.strip() for t in text.split(",") if t.strip())
    return () if items in ((), ("nominal",)) else items


@app.command()
def sensitivity(
    config: ConfigOpt = DEFAULT_CONFIG,
    scenario: ScenarioOpt = None,
    build_dir: BuildOpt = None,
    draws: Annotated[
        int, typer.Option("--draws", "-n", metavar="N", help="Most Monte Carlo draws to run.")
    ] = 200,
    precision: Annotated[
        float | None,
        typer.Option(
            metavar="W",
            help="Stop once every 95 % interval (CAN frequencies, LSOA probabilities) is "
            "narrower than W, checked every --check-every draws.",
        ),
    ] = None,
    check_every: Annotated[
        int, typer.Option(metavar="N", help="Draws between --precision checks.")
    ] = 50,
    seed: Annotated[
        int, typer.Option(metavar="N", help="Random seed (same seed, same results).")
    ] = 1,
    method: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Re-selection method: the build's own (default; optimal = exact, "
            "warm-started) or greedy (then the report measures the greedy rule).",
        ),
    ] = None,
    weights: Annotated[
        str,
        typer.Option(metavar="KIND", help="Weight factor: uniform (±spread), dirichlet or fixed."),
    ] = "uniform",
    spread: Annotated[
        float, typer.Option(metavar="S", help="Uniform weights: ±share of each weight.")
    ] = 0.25,
    concentration: Annotated[
        float,
        typer.Option(metavar="C", help="Dirichlet concentration (higher = closer to nominal)."),
    ] = 50.0,
    normalisations: Annotated[
        str,
        typer.Option(
            metavar="LIST",
            help="Comma-separated normalisations a draw picks from; 'nominal' keeps the "
            "scenario's own.",
        ),
    ] = "rank,zscore,minmax,exp_rank",
    leave_one_out: Annotated[
        bool,
        typer.Option(
            "--leave-one-out/--no-leave-one-out", help="Let draws leave one indicator out."
        ),
    ] = True,
    indices: Annotated[
        bool,
        typer.Option(
            "--indices/--no-indices",
            help="Estimate Saltelli/Jansen indices (k + 2 selections a draw).",
        ),
    ] = True,
    match: Annotated[
        float,
        typer.Option(
            metavar="J", help="Jaccard overlap at which a draw's CAN counts as a published CAN."
        ),
    ] = 0.5,
    scheduler: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS", help="A running dask.distributed scheduler (tcp://host:8786)."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(metavar="N", help="Local worker processes (default: CPU count)."),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            metavar="N", help="Draws per task and checkpoint part (no effect on results)."
        ),
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Ignore checkpointed draws and start again.")
    ] = False,
    mirror: MirrorOpt = None,
    raw_dir: RawOpt = DEFAULT_RAW,
    quiet: QuietOpt = False,
) -> None:
    """Re-rank and re-select the build's CANs under perturbed weights, normalisations and
    indicator sets; write sensitivity_cans.csv, sensitivity_lsoa.csv, sensitivity_indices.csv,
    sensitivity_draws.csv, sensitivity.png, sensitivity.html and sensitivity.json into
    <build>/sensitivity/ (draws are checkpointed in its draws/ folder; a rerun resumes)."""
    from canrank.analysis.sensitivity import (
        Design,
        clear_checkpoint,
        inputs_from_build,
        manifest_sha256,
        prepare_output,
        run_sensitivity,
    )
    from canrank.reports.sensitivity_report import write_sensitivity

    if weights not in ("dirichlet", "uniform", "fixed"):
        run(lambda: _bad("weight factor", weights, "use --weights uniform, dirichlet or fixed"))
    if method not in (None, "optimal", "greedy"):
        run(lambda: _bad("method", str(method), "use --method optimal or --method greedy"))
    design = Design(
        weights=weights,  # type: ignore[arg-type]
        spread=spread,
        concentration=concentration,
        normalisations=_normalisations(normalisations),
        leave_one_out=leave_one_out,
        indices=indices,
        match=match,
    )
    run(lambda: design.check())
    build = open_scenario_build(
        config, scenario, build_dir=build_dir, mirror=mirror, raw_dir=raw_dir, quiet=quiet
    )
    if build.folder is None:  # pragma: no cover - open_scenario_build always has a folder
        raise typer.Exit(2)
    if not quiet:
        say(f"Preparing draws of {build.name} ({build.folder}): nominal solve ...")
    inputs = run(lambda: inputs_from_build(build, design, method=method))
    if not inputs.nominal.get("reproduces_published_cans", True):
        say(
            "warning: re-solving the build's problem does not reproduce its published CANs; "
            "frequencies are still about the published CANs",
            style="yellow",
        )
    if inputs.method == "greedy" and build.selection.method != "greedy":
        say(
            f"note: draws use the greedy rule, the build used {build.selection.method}: the "
            "results measure the greedy rule",
            style="yellow",
        )
    target = build.folder / "sensitivity"
    store = run(lambda: prepare_output(target))
    if fresh:
        clear_checkpoint(store)
    sha = manifest_sha256(build)
    with _progress(quiet, draws) as on_progress:
        result = run(
            lambda: run_sensitivity(
                inputs,
                draws=draws,
                seed=seed,
                precision=precision,
                check_every=check_every,
                scheduler=scheduler,
                workers=workers,
                batch_size=batch_size,
                checkpoint=store,
                build_sha=sha,
                on_progress=on_progress,
            )
        )
    run(lambda: write_sensitivity(result, build, target, build_sha=sha))
    unproven = int((result.records["not_proven"] > 0).sum())
    if unproven:
        say(
            f"warning: {unproven} draw(s) include a selection that is not proven optimal (the "
            "time limit, a safety net, fired): those draws depend on machine speed; see "
            "sensitivity_draws.csv",
            style="yellow",
        )
    if quiet:
        return
    ex = result.execution
    say(
        f"{result.draws:,} draws ({ex['resumed_draws']:,} from checkpoints) in "
        f"{ex['seconds']:.1f} s; {ex['mode']}, {ex['workers']} worker(s); stopped: "
        f"{result.stopped}; widest interval {result.widest:.3f}"
    )
    for i, row in enumerate(build.cans.itertuples()):
        console.print(
            f"CAN {row.can_id:>2} {row.name}: selected in {result.frequency[i]:.0%} of draws "
            f"(95 % CI {result.ci_low[i]:.0%}-{result.ci_high[i]:.0%})",
            markup=False,
            soft_wrap=True,
        )
    console.print(f"Outputs written to {target}", markup=False, soft_wrap=True)


class _progress:
    """Progress display: draws done, draws per second, widest open interval."""

    def __init__(self, quiet: bool, total: int) -> None:
        self.quiet = quiet
        self.total = total
        self.progress: Any = None

    def __enter__(self) -> Any:
        if self.quiet:
            return lambda _info: None
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        self.progress.__enter__()
        task = self.progress.add_task("Draws", total=self.total)

        def on_progress(info: dict[str, Any]) -> None:
            self.progress.update(
                task,
                completed=info["done"],
                description=f"Draws: {info['rate']:.2f}/s, widest interval {info['widest']:.3f}",
            )

        return on_progress

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)


def _bad(what: str, value: str, hint: str) -> None:
    raise ConfigError(f"unknown {what} {value!r}", hint=hint)
