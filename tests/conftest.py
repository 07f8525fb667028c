"""Shared fixtures: the real-data mirror, the repository paths, and a cached London build."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "indicators.yaml"


def _mirror() -> Path:
    env = os.environ.get("CANRANK_MIRROR")
    return Path(env).resolve() if env else REPO.parent / "shared" / "data"


MIRROR = _mirror()
HAVE_MIRROR = (MIRROR / "imd2015").is_dir()


def london_build_args(mirror: Path, out: Path, raw: Path, *extra: str) -> list[str]:
    """CLI arguments of an offline London build into ``out`` (extra options appended)."""
    return [
        "build",
        "--config",
        str(CONFIG),
        "--scenario",
        "lcc-2017-proxies",
        "--mirror",
        str(mirror),
        "--out",
        str(out),
        "--raw-dir",
        str(raw),
        *extra,
    ]


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The folder of published files; real-data tests skip only when it is absent."""
    if not HAVE_MIRROR:
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide the data mirror at {MIRROR}")
        pytest.skip(f"no data mirror at {MIRROR}")
    return MIRROR


@pytest.fixture(scope="session")
def london_build(mirror: Path, tmp_path_factory: pytest.TempPathFactory):
    """The one full build of the offline London scenario per test session (the default,
    exact selection), written to a temporary folder; a :class:`canrank.builds.Build`."""
    from canrank.pipeline import build

    out = tmp_path_factory.mktemp("london") / "lcc-2017-proxies"
    raw = tmp_path_factory.mktemp("raw")
    return build(CONFIG, scenario="lcc-2017-proxies", mirror=mirror, out=out, raw_dir=raw)


@pytest.fixture(scope="session")
def london_compare(mirror: Path, london_build, tmp_path_factory: pytest.TempPathFactory):
    """``canrank compare lcc-2017-proxies gla-2017-proxies`` once per session: the session's
    lcc build is read (not rebuilt), gla is built beside it. Returns (CLI result, out folder)."""
    from typer.testing import CliRunner

    from canrank.cli import app

    out = tmp_path_factory.mktemp("compare") / "cmp"
    raw = tmp_path_factory.mktemp("compare-raw")
    result = CliRunner().invoke(
        app,
        [
            "compare", "lcc-2017-proxies", "gla-2017-proxies",
            "--config", str(CONFIG),
            "--builds", str(london_build.folder.parent),
            "--mirror", str(mirror), "--raw-dir", str(raw), "--out", str(out),
        ],
    )  # fmt: skip
    return result, out
