"""What every command shares: the typer app, the consoles, common options, error handling,
the progress display and opening a scenario's build.

Nothing heavy is imported here: ``canrank --help`` and ``canrank sources`` must start in well
under a second, so commands import the analysis they need inside their own function.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from canrank.errors import CanrankError

if TYPE_CHECKING:
    from canrank.builds import Build

T = TypeVar("T")

app = typer.Typer(
    name="canrank",
    help="Rank LSOAs by a composite of official indicators and select Community Action "
    "Neighbourhoods (CANs).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
#: Messages, progress and errors (stderr); results (stdout). Text from files and configs is
#: never read as console markup: print it with ``markup=False`` or through :func:`escape`.
err = Console(stderr=True, highlight=False, markup=False)
console = Console(highlight=False, markup=False)

ConfigOpt = Annotated[
    Path,
    typer.Option("--config", "-c", metavar="FILE", help="Indicator and scenario configuration."),
]
ScenarioOpt = Annotated[
    str | None,
    typer.Option("--scenario", "-s", metavar="NAME", help="Scenario name (default: the config's)."),
]
MirrorOpt = Annotated[
    Path | None,
    typer.Option(
        "--mirror",
        metavar="DIR",
        help="Folder holding published files (searched recursively); default $CANRANK_MIRROR, "
        "else the mirror the last build used.",
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]
RawOpt = Annotated[
    Path, typer.Option("--raw-dir", metavar="DIR", help="Download cache of published files.")
]
BuildOpt = Annotated[
    Path | None,
    typer.Option(
        "--build",
        "-b",
        metavar="DIR",
        help="Build folder to read (default data/processed/<scenario>).",
    ),
]
BuildsOpt = Annotated[
    Path | None,
    typer.Option(
        "--builds",
        metavar="DIR",
        help="Folder holding one build folder per scenario (default data/processed).",
    ),
]

DEFAULT_CONFIG = Path("config/indicators.yaml")
DEFAULT_RAW = Path("data/raw")


def mirror_or_env(value: Path | None) -> Path | None:
    """The mirror option, else ``$CANRANK_MIRROR``, else none."""
    if value is not None:
        return value
    env = os.environ.get("CANRANK_MIRROR")
    return Path(env) if env else None


def say(text: str, *, style: str | None = None) -> None:
    """Print a message on stderr; ``text`` is literal (never console markup)."""
    err.print(text, markup=False, highlight=False, style=style, soft_wrap=True)


def fail(exc: CanrankError) -> typer.Exit:
    """Print a user-fixable error as one message and return the exit to raise (code 2)."""
    err.print(
        "[bold red]error:[/] " + escape(str(exc)), markup=True, highlight=False, soft_wrap=True
    )
    return typer.Exit(exc.exit_code)


def run(func: Callable[[], T]) -> T:
    """Run ``func``; a :class:`CanrankError` becomes one message and exit code 2."""
    try:
        return func()
    except CanrankError as exc:
        raise fail(exc) from None
    except OSError as exc:
        # a disk, permission or file-system failure outside any loader: one message, no trace
        from canrank.errors import InputError

        path = Path(exc.filename) if getattr(exc, "filename", None) else None
        raise fail(
            InputError(
                f"the file system refused: {exc.strerror or exc}",
                file=path,
                hint="check free space and permissions of the folder, or choose another one",
            )
        ) from None


@contextmanager
def progress_display(
    quiet: bool,
) -> Iterator[tuple[Callable[[str], None], Callable[[dict[str, Any]], None]]]:
    """A progress display over the build's stages with a sub-line for the selection rounds;
    yields ``(on_stage, on_progress)`` hooks (no-ops with ``--quiet``)."""
    if quiet:
        yield (lambda _s: None), (lambda _p: None)
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from canrank.stages import STAGES

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task = progress.add_task("Starting", total=len(STAGES))
    seen: list[str] = []

    def on_stage(stage: str) -> None:
        if seen:
            progress.advance(task)
        seen.append(stage)
        progress.update(task, description=STAGES.get(stage, stage))

    def on_progress(info: dict[str, Any]) -> None:
        parts = [f"{STAGES['select']}: {info.get('stage', 'round')} {info.get('round', '')}"]
        if info.get("objective") is not None:
            parts.append(f"best {info['objective']:,.0f}")
        if info.get("bound") is not None:
            parts.append(f"bound {info['bound']:,.0f}")
        if info.get("gap") is not None:
            parts.append(f"gap {100 * float(info['gap']):.3f} %")
        progress.update(task, description=", ".join(parts))

    with progress:
        yield on_stage, on_progress
        progress.update(task, completed=len(STAGES))


def open_scenario_build(
    config: Path,
    scenario: str | None,
    *,
    build_dir: Path | None,
    mirror: Path | None,
    raw_dir: Path,
    geometry: bool = True,
    quiet: bool = False,
) -> Build:
    """The scenario's existing build (checked against the config and inputs); built first,
    with a message, only when missing or stale."""
    from canrank.builds import load_build

    def notice(text: str) -> None:
        if not quiet or not text.startswith("note:"):
            say(text, style="yellow")

    def rebuild(*args: Any, **kwargs: Any) -> Build:
        from canrank.pipeline import build

        with progress_display(quiet) as (on_stage, on_progress):
            return build(*args, on_stage=on_stage, on_progress=on_progress, **kwargs)

    return run(
        lambda: load_build(
            config,
            scenario,
            folder=build_dir,
            mirror=mirror_or_env(mirror),
            raw_dir=raw_dir,
            geometry=geometry,
            notice=notice,
            rebuild=rebuild,
        )
    )


def analysis_folder(build: Build, name: str) -> Path:
    """A subfolder of the build folder for one analysis's outputs (created)."""
    if build.folder is None:
        raise ValueError("an in-memory build has no folder")
    folder = build.folder / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder
