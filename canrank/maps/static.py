"""The CAN map for reports: a matplotlib figure saved as PNG and PDF, identical on every run.

Same classes and colours as the interactive map; CANs are numbered on the map and named in the
side panel. The scale bar and north arrow are drawn by hand (a bar and an arrow in British
National Grid metres; a package for each would be heavier than the code).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")

import matplotlib.patheffects as pe
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shapely
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from canrank.maps import geometry as geo
from canrank.maps.interactive import scenario_title
from canrank.maps.payload import (
    PreparedGeometry,
    class_breaks,
    colours,
    prepare,
)

if TYPE_CHECKING:
    from canrank.pipeline import BuildResult

__all__ = ["save_static", "static_map"]

_NAVY = "#08306b"


def _nice_length(span_m: float) -> float:
    """A round scale-bar length of about a fifth of the map width."""
    target = span_m / 5
    for step in (1, 2, 5, 10, 20, 50, 100):
        if step * 1000 >= target:
            return step * 1000.0
    return 100_000.0


def _scale_bar(ax: plt.Axes, bounds: tuple[float, float, float, float]) -> None:
    minx, miny, maxx, maxy = bounds
    length = _nice_length(maxx - minx)
    x0, y0 = minx + 0.03 * (maxx - minx), miny + 0.04 * (maxy - miny)
    h = 0.008 * (maxy - miny)
    half = length / 2
    ax.add_patch(plt.Rectangle((x0, y0), half, h, facecolor="black", edgecolor="black"))
    ax.add_patch(plt.Rectangle((x0 + half, y0), half, h, facecolor="white", edgecolor="black"))
    for frac, text in ((0, "0"), (0.5, f"{half / 1000:g}"), (1, f"{length / 1000:g} km")):
        ax.text(x0 + frac * length, y0 + 2 * h, text, ha="center", va="bottom", fontsize=7)


def _north_arrow(ax: plt.Axes, bounds: tuple[float, float, float, float]) -> None:
    minx, miny, maxx, maxy = bounds
    x, y = maxx - 0.05 * (maxx - minx), maxy - 0.16 * (maxy - miny)
    dy = 0.08 * (maxy - miny)
    ax.annotate(
        "N",
        xy=(x, y + dy),
        xytext=(x, y),
        ha="center",
        va="top",
        fontsize=11,
        fontweight="bold",
        arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5},
    )


def static_map(
    lsoa: pd.DataFrame,
    cans: pd.DataFrame,
    prep: PreparedGeometry,
    *,
    title: str,
    notes: list[str],
    scheme: str = "quantiles",
    k: int = 5,
    palette: str = "YlOrRd",
    sources: list[tuple[str, str]] = (),  # type: ignore[assignment]
) -> Figure:
    """An A4-landscape figure: composite-score classes, borough lines, numbered CAN outlines."""
    frame = lsoa.set_index(lsoa["lsoa_code"].astype(str)).reindex(prep.codes)
    score = frame["score"].to_numpy(dtype=float)
    bins = class_breaks(score, scheme, k)
    cols = colours(palette, len(bins))
    cls = np.searchsorted(bins, score, side="left").clip(0, len(bins) - 1)
    can_ids = pd.to_numeric(frame["can_id"], errors="coerce").fillna(0).astype(int).to_numpy()
    fig = Figure(figsize=(11.69, 8.27), dpi=150)
    ax = fig.add_axes((0.01, 0.02, 0.68, 0.86))
    side = fig.add_axes((0.70, 0.02, 0.29, 0.86))
    side.axis("off")
    import geopandas as gpd

    gpd.GeoSeries(prep.lsoa_bng).plot(
        ax=ax, color=[cols[c] for c in cls], edgecolor="#9a9a9a", linewidth=0.08
    )
    gpd.GeoSeries(prep.borough_bng).boundary.plot(
        ax=ax, color="#404040", linewidth=0.6, linestyle=(0, (3, 2))
    )
    halo = [pe.withStroke(linewidth=2.5, foreground="white")]
    names = []
    for _, c in cans.sort_values("can_id").iterrows():
        cid = int(c["can_id"])
        outline = shapely.coverage_union_all(prep.lsoa_bng[can_ids == cid])
        gpd.GeoSeries([outline]).boundary.plot(ax=ax, color=_NAVY, linewidth=1.4)
        x, y = geo.label_points([outline])[0]
        ax.text(
            x,
            y,
            str(cid),
            ha="center",
            va="center",
            fontsize=7,
            fontweight="bold",
            color=_NAVY,
            path_effects=halo,
        )
        names.append(f"{cid}. {c['name']}")
    bounds = tuple(float(v) for v in gpd.GeoSeries(prep.lsoa_bng).total_bounds)
    ax.set_xlim(bounds[0], bounds[2])
    ax.set_ylim(bounds[1], bounds[3])
    ax.set_aspect("equal")
    ax.axis("off")
    _scale_bar(ax, bounds)  # type: ignore[arg-type]
    _north_arrow(ax, bounds)  # type: ignore[arg-type]
    fig.text(0.01, 0.965, title, fontsize=12, fontweight="bold", va="top")
    for j, note in enumerate(notes[:3]):
        fig.text(0.01, 0.935 - 0.018 * j, note, fontsize=7, va="top", color="#5a2d00")
    lows = [float(np.nanmin(score)), *bins[:-1].tolist()]
    handles = [
        Patch(facecolor=col, edgecolor="#777", label=f"{lo:.3g} to {hi:.3g}")
        for col, lo, hi in zip(cols, lows, bins, strict=True)
    ]
    handles += [
        plt.Line2D([], [], color=_NAVY, lw=1.4, label="CAN (numbered)"),
        plt.Line2D([], [], color="#404040", lw=0.6, ls=(0, (3, 2)), label="Borough boundary"),
    ]
    side.legend(
        handles=handles,
        loc="upper left",
        fontsize=7,
        frameon=False,
        title=f"Composite score ({scheme.replace('_', ' ')})\ndarker = more stressed",
        title_fontsize=8,
        alignment="left",
    )
    side.text(
        0,
        0.62,
        "Community Action Neighbourhoods",
        fontsize=8,
        fontweight="bold",
        va="top",
        transform=side.transAxes,
    )
    side.text(
        0,
        0.595,
        "\n".join(names),
        fontsize=6.5,
        va="top",
        transform=side.transAxes,
        linespacing=1.5,
        wrap=True,
    )
    if sources:
        lines = "\n".join(f"{lab}: {date}" for lab, date in sources)
        side.text(
            0,
            0.0,
            "Data reference dates\n" + lines,
            fontsize=5.5,
            va="bottom",
            transform=side.transAxes,
            wrap=True,
        )
    return fig


def static_for_result(result: BuildResult, prep: PreparedGeometry | None = None) -> Figure:
    """The report map of a finished build."""
    from canrank.maps.interactive import measures_for

    sc = result.study.scenario
    prep = prep or prepare(result.lsoa, result.study.boroughs, sc.map.simplify_m)
    return static_map(
        result.lsoa,
        result.cans,
        prep,
        title=scenario_title(sc),
        notes=[f"Proxy: {p}" for p in sc.proxies],
        scheme=sc.map.scheme,
        k=sc.map.k,
        palette=sc.map.palette,
        sources=[(m.label, m.reference_date or "not stated") for m in measures_for(sc.indicators)],
    )


def save_static(fig: Figure, stem: Path) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` with no dates or versions inside (reproducible)."""
    png, pdf = Path(stem).with_suffix(".png"), Path(stem).with_suffix(".pdf")
    fig.savefig(png, format="png", metadata={"Software": None})
    fig.savefig(
        pdf,
        format="pdf",
        metadata={"Creator": None, "Producer": None, "CreationDate": None, "ModDate": None},
    )
    return [png, pdf]
