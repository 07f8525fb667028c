"""Small files in the exact published layouts, written by the tests (never copies of real rows).

``write_study`` lays out a complete miniature study area: a grid of square LSOAs in three
"boroughs", an IoD 2015 File 7 CSV, a boundary GeoPackage (with small gaps between neighbours,
like the London Datastore layer) and a config whose ``sources:`` point at those files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import yaml

from canrank.contiguity import Contiguity
from canrank.selection.problem import SelectionProblem, SelectionRules

DOMAINS = [
    ("Index of Multiple Deprivation (IMD)", "Score"),
    ("Income", "Score (rate)"),
    ("Employment", "Score (rate)"),
    ("Education, Skills and Training", "Score"),
    ("Health Deprivation and Disability", "Score"),
    ("Crime", "Score"),
    ("Barriers to Housing and Services", "Score"),
    ("Living Environment", "Score"),
    ("Income Deprivation Affecting Children Index (IDACI)", "Score (rate)"),
    ("Income Deprivation Affecting Older People (IDAOPI)", "Score (rate)"),
    ("Children and Young People Sub-domain", "Score"),
    ("Adult Skills Sub-domain", "Score"),
    ("Geographical Barriers Sub-domain", "Score"),
    ("Wider Barriers Sub-domain", "Score"),
    ("Indoors Sub-domain", "Score"),
    ("Outdoors Sub-domain", "Score"),
]


def file7_header(edition: str = "2015") -> list[str]:
    """The published File 7 header (2015: LAD 2013, mid-2012 population; 2019: LAD 2019)."""
    lad, year = ("2013", "2012") if edition == "2015" else ("2019", "2015")
    cols = [
        "LSOA code (2011)",
        "LSOA name (2011)",
        f"Local Authority District code ({lad})",
        f"Local Authority District name ({lad})",
    ]
    for name, score in DOMAINS:
        cols += [
            f"{name} {score}",
            f"{name} Rank (where 1 is most deprived)",
            f"{name} Decile (where 1 is most deprived 10% of LSOAs)",
        ]
    cols += [
        f"Total population: mid {year} (excluding prisoners)",
        f"Dependent Children aged 0-15: mid {year} (excluding prisoners)",
        f"Population aged 16-59: mid {year} (excluding prisoners)",
        f"Older population aged 60 and over: mid {year} (excluding prisoners)",
        "Working age population 18-59/64: for use with Employment Deprivation Domain "
        "(excluding prisoners) ",
    ]
    return cols


def file7_frame(codes: list[str], lads: list[tuple[str, str]], seed: int = 1) -> pd.DataFrame:
    """Synthetic File 7 rows for ``codes`` with plausible scores, ranks, deciles and populations."""
    rng = np.random.default_rng(seed)
    n = len(codes)
    header = file7_header()
    data: dict[str, object] = {
        header[0]: codes,
        header[1]: [f"{lad[1]} {i:03d}A" for i, lad in enumerate(lads)],
        header[2]: [lad[0] for lad in lads],
        header[3]: [lad[1] for lad in lads],
    }
    col = 4
    for _name, _score in DOMAINS:
        score = np.round(rng.gamma(2.0, 0.1, n), 3)
        rank = (-score).argsort().argsort() + 1
        data[header[col]] = score
        data[header[col + 1]] = rank
        data[header[col + 2]] = np.ceil(rank * 10 / n).astype(int)
        col += 3
    pop = rng.integers(1200, 2200, n)
    data[header[col]] = pop
    data[header[col + 1]] = (pop * 0.2).astype(int)
    data[header[col + 2]] = (pop * 0.6).astype(int)
    data[header[col + 3]] = (pop * 0.2).astype(int)
    data[header[col + 4]] = (pop * 0.6).astype(int)
    return pd.DataFrame(data)


def grid_boundaries(
    rows: int, cols: int, *, size: float = 500.0, gap: float = 0.3, origin=(530_000, 180_000)
) -> gpd.GeoDataFrame:
    """Square LSOAs in EPSG:27700 with ``gap`` metres between neighbours (no shared vertices)."""
    x0, y0 = origin
    geoms, codes, lads = [], [], []
    for r in range(rows):
        for c in range(cols):
            i = r * cols + c
            x, y = x0 + c * size, y0 + r * size
            geoms.append(
                shapely.box(x + gap / 2, y + gap / 2, x + size - gap / 2, y + size - gap / 2)
            )
            codes.append(f"E01{i + 1:06d}")
            borough = min(c * 3 // cols, 2)
            lads.append((f"E0900000{borough + 1}", ["Northtown", "Midtown", "Southtown"][borough]))
    return gpd.GeoDataFrame(
        {
            "LSOA11CD": codes,
            "LSOA11NM": [f"{lad[1]} {i:03d}A" for i, lad in enumerate(lads)],
            "LAD11CD": [lad[0] for lad in lads],
            "LAD11NM": [lad[1] for lad in lads],
        },
        geometry=geoms,
        crs="EPSG:27700",
    )


@dataclass
class MiniStudy:
    """Paths of a written miniature study area."""

    root: Path
    config: Path
    file7: Path
    boundaries: Path
    codes: list[str]


def write_study(root: Path, *, rows: int = 8, cols: int = 9, n_cans: int = 2) -> MiniStudy:
    """Write a complete small study area and a config using it (``scenario: mini``)."""
    root.mkdir(parents=True, exist_ok=True)
    bounds = grid_boundaries(rows, cols)
    bpath = root / "lsoa.gpkg"
    bounds.to_file(bpath, driver="GPKG")
    lads = list(zip(bounds["LAD11CD"], bounds["LAD11NM"], strict=True))
    frame = file7_frame(list(bounds["LSOA11CD"]), lads)
    fpath = root / "File_7_test.csv"
    frame.to_csv(fpath, index=False)
    config = {
        "version": 1,
        "default_scenario": "mini",
        "sources": {
            "test_iod": {"path": fpath.name, "loader": "iod"},
            "test_lsoa": {"path": bpath.name, "loader": "lsoa_boundaries"},
        },
        "population": {"source": "test_iod", "column": "population"},
        "areas": {"mini": {"label": "Mini", "boundaries": "test_lsoa", "lad_prefix": "E09"}},
        "indicators": {
            "imd": {"label": "IMD score", "source": "test_iod", "column": "imd_score"},
            "income": {
                "label": "Income score",
                "source": "test_iod",
                "column": "income_score",
                "transform": "zscore",
            },
        },
        "selection": {
            "n_cans": n_cans,
            "min_population": 3000,
            "max_population": 9000,
            "max_per_borough": 1,
        },
        "map": {"simplify_m": 0},
        "scenarios": {
            "mini": {"description": "test", "area": "mini", "weights": {"imd": 2, "income": 1}}
        },
    }
    cpath = root / "indicators.yaml"
    cpath.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return MiniStudy(root, cpath, fpath, bpath, list(bounds["LSOA11CD"]))


# --- other IoD editions and extracts (added for the vintage/fetch work) -------------------------

#: The IoD 2025 File 7 population columns (mid-2022; no 16-59 column; working age 18-66).
FILE7_2025_POPULATION = [
    "Total population: mid 2022",
    "Dependent Children aged 0-15: mid 2022",
    "Older population aged 60 and over: mid 2022",
    "Working age population 18-66 (for use with Employment Deprivation Domain): mid 2022",
]


def file7_header_2025(
    idaopi: str = "Income Deprivation Affecting Older People (IDAOPI)",
) -> list[str]:
    """IoD 2025 File 7 header (56 columns): 2021 LSOAs, 2024 LADs, mid-2022 denominators.

    One published header is cut short ("... 10% of LSO"); ``idaopi`` lets tests try the
    "... Older People Index (IDAOPI)" spelling too.
    """
    cols = [
        "LSOA code (2021)",
        "LSOA name (2021)",
        "Local Authority District code (2024)",
        "Local Authority District name (2024)",
    ]
    for name, score in DOMAINS:
        if name.startswith("Income Deprivation Affecting Older People"):
            name = idaopi
        decile = f"{name} Decile (where 1 is most deprived 10% of LSOAs)"
        if name == "Children and Young People Sub-domain":
            decile = decile[:80]  # truncated in the published file
        cols += [f"{name} {score}", f"{name} Rank (where 1 is most deprived)", decile]
    return cols + FILE7_2025_POPULATION


def file7a_header() -> list[str]:
    """The 10-column IoD2019 England-and-Wales income extract ('File_7a'), as described in
    shared/data/SOURCES.md: LSOA/LAD (2019) codes and names, Income, IDACI and IDAOPI score/rank."""
    cols = [
        "LSOA code (2011)",
        "LSOA name (2011)",
        "Local Authority District code (2019)",
        "Local Authority District name (2019)",
    ]
    for name in (
        "Income",
        "Income Deprivation Affecting Children Index (IDACI)",
        "Income Deprivation Affecting Older People (IDAOPI)",
    ):
        cols += [f"{name} Score (rate)", f"{name} Rank (where 1 is most deprived)"]
    return cols


def iod_frame(
    header: list[str], codes: list[str], lads: list[tuple[str, str]], seed: int = 1
) -> pd.DataFrame:
    """Synthetic rows for any IoD header: scores, ranks, deciles and populations by column name."""
    rng = np.random.default_rng(seed)
    n = len(codes)
    data: dict[str, object] = {
        header[0]: codes,
        header[1]: [f"{lad[1]} {i:03d}A" for i, lad in enumerate(lads)],
        header[2]: [lad[0] for lad in lads],
        header[3]: [lad[1] for lad in lads],
    }
    score = np.zeros(n)
    for col in header[4:]:
        if " Score" in col:
            score = np.round(rng.gamma(2.0, 0.1, n), 3)
            data[col] = score
        elif " Rank" in col:
            data[col] = (-score).argsort().argsort() + 1
        elif " Decile" in col:
            data[col] = np.ceil(((-score).argsort().argsort() + 1) * 10 / n).astype(int)
        else:
            data[col] = rng.integers(200, 2200, n)
    return pd.DataFrame(data)


def grid_graph(rows: int, cols: int) -> Contiguity:
    """Rook contiguity of a ``rows`` x ``cols`` grid of areas coded E01000000, E01000001, ..."""
    edges = [
        (r * cols + c, r * cols + c + d)
        for r in range(rows)
        for c in range(cols)
        for d in (1, cols)
        if (d == 1 and c + 1 < cols) or (d == cols and r + 1 < rows)
    ]
    return Contiguity.from_edges([f"E01{i:06d}" for i in range(rows * cols)], edges)


def random_grid_problem(
    seed: int,
    rules: SelectionRules,
    rows: int = 4,
    cols: int = 5,
    *,
    diagonals: float = 0.0,
    boroughs: int = 2,
) -> SelectionProblem:
    """A selection problem on a ``rows`` x ``cols`` grid with random scores and populations.

    Populations are 900-1,599, scores uniform in [0.05, 1); boroughs are vertical bands of
    columns; ``diagonals`` is the probability of each down-right diagonal edge (so graphs are
    not all plain grids). Shared by every selection test (greedy, optimal, pricer, overrides).
    """
    rng = np.random.default_rng(seed)
    n = rows * cols
    edges = [
        (r * cols + c, r * cols + c + d)
        for r in range(rows)
        for c in range(cols)
        for d in (1, cols)
        if (d == 1 and c + 1 < cols) or (d == cols and r + 1 < rows)
    ]
    if diagonals > 0:
        edges += [
            (r * cols + c, (r + 1) * cols + c + 1)
            for r in range(rows - 1)
            for c in range(cols - 1)
            if rng.random() < diagonals
        ]
    graph = Contiguity.from_edges([f"E01{i:06d}" for i in range(n)], edges)
    return SelectionProblem(
        graph=graph,
        score=rng.uniform(0.05, 1.0, n),
        population=rng.integers(900, 1600, n).astype(float),
        borough=np.array([min(c * boroughs // cols, boroughs - 1) for _ in range(rows)
                          for c in range(cols)]),
        rules=rules,
    )


def cli_build(study: MiniStudy, out: Path | str, *extra: str, catch: bool = False):
    """``canrank build`` of a written miniature study into ``out`` through the CLI (quiet,
    with the study's own raw folder); returns typer's ``Result``."""
    from typer.testing import CliRunner

    from canrank.cli import app

    args = ["build", "--config", str(study.config), "--out", str(out)]
    args += ["--raw-dir", str(study.root / "raw"), "--quiet", *extra]
    return CliRunner().invoke(app, args, catch_exceptions=catch)

