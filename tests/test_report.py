"""The consultation pack (``canrank report``): pages, text, images, escaping, reproducibility.

Most tests use a miniature study area with ward and borough layers whose ward names are
hostile (formula triggers, markup, mathtext dollars), built once per module through the CLI.
The PDF is checked with poppler's ``pdftotext`` (text per page) and ``pdftoppm`` (pages render
to PNG); both come with Debian's ``poppler-utils`` and are required in CI.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
import yaml
from typer.testing import CliRunner

from canrank.builds import Build, open_build
from canrank.cli import app

from synthetic import grid_boundaries, write_study

runner = CliRunner()

#: Ward names an attacker or an unlucky file could hold (one per ward of the mini area).
HOSTILE_WARDS = [
    '=HYPERLINK("http://example.invalid","click")',
    "+SUM(1,2)",
    "-2+3",
    "@cmd",
    "<script>alert('x')</script>",
    "$\\frac{1}{0}$ & 50% [/bold]",
    "St Mary's",
    "Canal Side",
    "Bromley-by-the-Sea",
    "Old Town",
    "Market",
    "Riverside",
]
ROWS, COLS = 8, 9


def write_mini_with_wards(root: Path, *, n_cans: int = 2) -> Path:
    """The miniature study area plus ward (2 x 3 LSOA blocks) and borough layers; returns
    the config path (scenario ``mini``)."""
    study = write_study(root, rows=ROWS, cols=COLS, n_cans=n_cans)
    lsoa = grid_boundaries(ROWS, COLS)
    size, (x0, y0) = 500.0, (530_000, 180_000)
    wards = []
    for i, (r, c) in enumerate((r, c) for r in range(0, ROWS, 2) for c in range(0, COLS, 3)):
        borough = ["Northtown", "Midtown", "Southtown"][min(c * 3 // COLS, 2)]
        wards.append(
            {
                "GSS_CODE": f"E05{i + 1:06d}",
                "NAME": HOSTILE_WARDS[i % len(HOSTILE_WARDS)],
                "BOROUGH": borough,
                "geometry": shapely.box(
                    x0 + c * size, y0 + r * size, x0 + (c + 3) * size, y0 + (r + 2) * size
                ),
            }
        )
    gpd.GeoDataFrame(wards, crs="EPSG:27700").to_file(root / "wards.gpkg", driver="GPKG")
    boroughs = lsoa.dissolve(by=["LAD11CD", "LAD11NM"], as_index=False)
    gpd.GeoDataFrame(
        {"GSS_CODE": boroughs["LAD11CD"], "NAME": boroughs["LAD11NM"]},
        geometry=boroughs.geometry.to_numpy(),
        crs="EPSG:27700",
    ).to_file(root / "boroughs.gpkg", driver="GPKG")
    config = yaml.safe_load(study.config.read_text())
    config["sources"]["test_wards"] = {"path": "wards.gpkg", "loader": "wards"}
    config["sources"]["test_boroughs"] = {"path": "boroughs.gpkg", "loader": "boroughs"}
    config["areas"]["mini"]["wards"] = "test_wards"
    config["areas"]["mini"]["boroughs"] = "test_boroughs"
    config["indicators"]["imd"]["reference_date"] = "2015 (test)"
    study.config.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return study.config


def build_mini(root: Path) -> tuple[Path, Path]:
    """Write and build the miniature area via the CLI; returns (config, build folder)."""
    config = write_mini_with_wards(root / "study")
    out = root / "build"
    result = runner.invoke(
        app,
        [
            "build",
            "--config",
            str(config),
            "--out",
            str(out),
            "--raw-dir",
            str(root / "raw"),
            "--quiet",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    return config, out


def need_tool(name: str) -> str:
    """The path of a command-line tool; skip outside CI when it is missing, fail in CI."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide {name} (Debian: poppler-utils / gdal-bin)")
        pytest.skip(f"{name} is not installed")
    return path


def pdf_pages_text(pdf: Path) -> list[str]:
    """The text of every page (pdftotext, page by page), whitespace collapsed."""
    exe = need_tool("pdftotext")
    info = subprocess.run(
        [need_tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    n = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))  # type: ignore[union-attr]
    out = []
    for i in range(1, n + 1):
        text = subprocess.run(
            [exe, "-f", str(i), "-l", str(i), "-layout", str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        out.append(" ".join(text.split()))
    return out


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_mini(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def mini_report(mini: tuple[Path, Path]) -> Path:
    config, out = mini
    result = runner.invoke(
        app,
        ["report", "--config", str(config), "--build", str(out), "--quiet"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    return out / "report"


def _squash(text: str) -> str:
    return " ".join(text.split())


def test_report_writes_pdf_and_html(mini_report: Path) -> None:
    assert (mini_report / "report.pdf").read_bytes()[:5] == b"%PDF-"
    assert (mini_report / "report.html").stat().st_size > 10_000


def test_pdf_pages_text_and_attribution(mini: tuple[Path, Path], mini_report: Path) -> None:
    build = open_build(mini[1], geometry=False)
    pages = pdf_pages_text(mini_report / "report.pdf")
    n_cans = len(build.cans)
    assert len(pages) == n_cans + 3  # cover, overview, one per CAN, methods
    for text in pages:
        assert "Contains National Statistics data © Crown copyright" in text
        assert "Contains OS data © Crown copyright" in text
        assert "Open Government Licence v3.0" in text
    assert "mini" in pages[0] and "2015 (test)" in pages[0]
    assert "No proxies" in pages[0] or "None: every indicator" in pages[0]
    assert build.manifest["selection"]["status"] in pages[0]
    for i, row in enumerate(build.cans.sort_values("can_id").itertuples()):
        page = pages[2 + i]
        assert _squash(row.name) in page, (row.name, page[:300])
        assert f"{int(row.population):,}" in page
        assert "No sensitivity run yet" in page
        assert "Local comments" in page
        # the most stressed member is listed with its code
        members = build.lsoa[build.lsoa["can_id"] == row.can_id].sort_values("rank")
        assert members["lsoa_code"].iloc[0] in page
        assert _squash(row.name) in pages[1]  # listed on the overview page too
    assert pages[-1].startswith("Method")


def test_pdf_pages_render_as_a4_images(mini_report: Path, tmp_path: Path) -> None:
    from PIL import Image

    exe = need_tool("pdftoppm")
    subprocess.run(
        [exe, "-r", "40", "-png", str(mini_report / "report.pdf"), str(tmp_path / "p")], check=True
    )
    pngs = sorted(tmp_path.glob("p-*.png"))
    assert len(pngs) == len(pdf_pages_text(mini_report / "report.pdf"))
    for png in pngs:
        with Image.open(png) as im:
            w, h = im.size
            assert abs(h / w - 297 / 210) < 0.01  # A4 portrait
            colours = im.convert("RGB").getcolors(maxcolors=1_000_000) or []
            assert len(colours) > 20, png  # not blank
    with Image.open(pngs[2]) as im:  # a CAN page: the map draws the score colours
        rgb = {c for _, c in im.convert("RGB").getcolors(maxcolors=1_000_000) or []}
        assert any(r > 200 and g < 120 and b < 80 for r, g, b in rgb)


def test_html_is_self_contained_and_escaped(mini: tuple[Path, Path], mini_report: Path) -> None:
    build = open_build(mini[1], geometry=False)
    page = (mini_report / "report.html").read_text("utf-8")
    assert "<script" not in page.lower()  # no script at all, and the ward name escaped
    assert html.escape("<script>alert('x')</script>", quote=True) in page
    assert not re.search(r"""(src|href)=['"]?(https?:|//)""", page)  # nothing fetched
    images = re.findall(r"src='data:image/png;base64,", page)
    assert len(images) == 1 + 2 * len(build.cans)  # overview, and map + chart per CAN
    for name in build.cans["name"]:
        assert html.escape(name, quote=True) in page
    assert "Contains OS data © Crown copyright" in page
    assert page.count("Open Government Licence v3.0") == len(build.cans) + 3


def test_report_is_byte_identical(mini: tuple[Path, Path], tmp_path: Path) -> None:
    from canrank.reports.pack import write_report

    build = open_build(mini[1])
    a = write_report(build, tmp_path / "a")
    b = write_report(build, tmp_path / "b")
    for x, y in zip(a, b, strict=True):
        assert hashlib.sha256(x.read_bytes()).digest() == hashlib.sha256(y.read_bytes()).digest()
    assert b"CreationDate" not in a[0].read_bytes()


def test_stability_comes_from_the_sensitivity_run(mini: tuple[Path, Path], tmp_path: Path) -> None:
    from canrank.reports.pack import can_pages

    folder = tmp_path / "b"
    shutil.copytree(mini[1], folder)
    build = open_build(folder, geometry=False)
    cans = build.cans.sort_values("can_id")
    (folder / "sensitivity").mkdir()
    pd.DataFrame(
        {
            "can_id": cans["can_id"],
            "name": [cans["name"].iloc[0], "another name", *cans["name"].iloc[2:]],
            "frequency": [0.82, 0.5, *[0.3] * (len(cans) - 2)],
            "ci_low": [0.74, 0.4, *[0.2] * (len(cans) - 2)],
            "ci_high": [0.88, 0.6, *[0.4] * (len(cans) - 2)],
        }
    ).to_csv(folder / "sensitivity" / "sensitivity_cans.csv", index=False)
    pages = can_pages(open_build(folder, geometry=False))
    assert pages[0].stability.startswith("Chosen again in 82 %")
    assert "74 to 88 %" in pages[0].stability
    assert "earlier build" in pages[1].stability


def test_mathtext_and_markup_in_names_are_drawn_literally(
    mini: tuple[Path, Path], tmp_path: Path
) -> None:
    from canrank.reports.pack import render_pdf

    build = open_build(mini[1])
    hostile = "$\\frac{1}{0}$ & 50% [/bold] <b>x</b> $unbalanced"
    build.cans.loc[build.cans.index[0], "name"] = hostile
    pdf = tmp_path / "r.pdf"
    render_pdf(build, pdf)
    pages = pdf_pages_text(pdf)
    assert hostile in pages[2]
    wards = set(build.lsoa["ward_name"].dropna())
    assert '=HYPERLINK("http://example.invalid","click")' in wards


def test_build_texts_say_status_rules_and_sources(mini: tuple[Path, Path]) -> None:
    from canrank.reports.pack import build_texts

    build: Build = open_build(mini[1], geometry=False)
    t = build_texts(build)
    assert t.scenario == "mini" and t.n_cans == len(build.cans)
    assert t.status == build.manifest["selection"]["status"]
    assert any("3,000 to 9,000 residents" in r for r in t.rules)
    assert [i.key for i in t.indicators] == ["imd", "income"]
    assert t.indicators[0].reference_date == "2015 (test)"
    assert t.proxy_sentence().startswith("No proxies")
    assert {s["source"] for s in t.sources} >= {"test_iod", "test_lsoa"}


# -- real London data -----------------------------------------------------------------------


@pytest.mark.realdata
def test_london_report(london_build: Build, tmp_path: Path) -> None:
    from canrank.reports.pack import write_report

    pdf, page = write_report(london_build, tmp_path / "report")
    pages = pdf_pages_text(pdf)
    assert len(pages) == 15 + 3
    assert "proven optimal" in pages[0] or london_build.manifest["selection"]["status"] in pages[0]
    assert "Proxies" in pages[0] and "replaced by" in pages[0]
    for i, row in enumerate(london_build.cans.sort_values("can_id").itertuples()):
        assert _squash(row.name) in pages[2 + i], row.name
    text = page.read_text("utf-8")
    for name in london_build.cans["name"]:
        assert html.escape(name, quote=True) in text
