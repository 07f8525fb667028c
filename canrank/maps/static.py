"""The CAN map for reports: a matplotlib figure saved as PNG and PDF, identical on every run.

Same classes and colours as the interactive map and the same plain-language legend; CANs are
numbered on the map and named in the side panel; the data attribution is printed at the foot.
The scale bar and north arrow are drawn by hand (a bar and an arrow in British National Grid
metres; a package for each would be heavier than the code). matplotlib is imported only here,
inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from canrank.maps import geometry as geo
from canrank.maps.spec import MapSpec

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from canrank.maps.payload import PreparedGeometry

__all__ = ["fmt_number", "save_static", "static_figure", "write_static_map"]

_NAVY = "#08306b"


def fmt_number(v: float) -> str:
    """The maps' one number format: whole numbers with separators from 100 up, else 3 s.f."""
    if v is None or not np.isfinite(v):
        return "n/a"
    if abs(v) >= 100:
        return f"{round(v):,}"
    if v == 0:
        return "0"
    return f"{float(f'{v:.3g}'):g}"


def _plain(text: object) -> str:
    """Text from files shown literally: matplotlib reads ``$...$`` as mathematics (and may fail
    on it), so dollar signs are escaped."""
    return str(text).replace("$", r"\$")


def _nice_length(span_m: float) -> float:
    """A round scale-bar length of about a fifth of the map width."""
    target = span_m / 5
    for step in (1, 2, 5, 10, 20, 50, 100):
        if step * 1000 >= target:
            return step * 1000.0
    return 100_000.0


def _scale_bar(ax: Axes, bounds: tuple[float, float, float, float]) -> None:
    from matplotlib.patches import Rectangle

    minx, miny, maxx, maxy = bounds
    length = _nice_length(maxx - minx)
    x0, y0 = minx + 0.03 * (maxx - minx), miny + 0.04 * (maxy - miny)
    h = 0.008 * (maxy - miny)
    half = length / 2
    ax.add_patch(Rectangle((x0, y0), half, h, facecolor="black", edgecolor="black"))
    ax.add_patch(Rectangle((x0 + half, y0), half, h, facecolor="white", edgecolor="black"))
    for frac, text in ((0, "0"), (0.5, f"{half / 1000:g}"), (1, f"{length / 1000:g} km")):
        ax.text(x0 + frac * length, y0 + 2 * h, text, ha="center", va="bottom", fontsize=7)


def _north_arrow(ax: Axes, bounds: tuple[float, float, float, float]) -> None:
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


def _class_labels(
    spec: MapSpec, lows: list[float], highs: list[float], counts: list[int], n: int
) -> list[str]:
    """Legend texts, most stressed first (same wording as the interactive map)."""
    k = len(highs)
    out = []
    for o, j in enumerate(reversed(range(k))):
        share = f"{round(100 * counts[j] / n)} %" if n else "n/a"
        rng = f"score {fmt_number(lows[j])} to {fmt_number(highs[j])}"
        if spec.scheme == "quantiles":
            area = spec.area_label + ("'" if spec.area_label.endswith("s") else "'s")
            head = (
                f"Most stressed {share} of {area} areas"
                if o == 0
                else f"Least stressed {share}"
                if o == k - 1
                else f"Next {share}"
            )
            out.append(f"{head} ({rng})")
        else:
            head = "Most stressed: " if o == 0 else "Least stressed: " if o == k - 1 else ""
            out.append(f"{head}{rng} ({counts[j]:,} areas)")
    return out


def static_figure(
    lsoa: pd.DataFrame, cans: pd.DataFrame, spec: MapSpec, prep: PreparedGeometry
) -> Figure:
    """An A4-landscape figure: score classes, borough lines, numbered CAN outlines, attribution."""
    import geopandas as gpd
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.patheffects as pe
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from canrank.maps.payload import measure_classes

    frame = lsoa.set_index(lsoa["lsoa_code"].astype(str)).reindex(prep.codes)
    score = frame["score"].to_numpy(dtype=float)
    bins, cls, cols = measure_classes(score, spec.score, spec)
    can_ids = pd.to_numeric(frame["can_id"], errors="coerce").fillna(0).astype(int).to_numpy()
    fig = Figure(figsize=(11.69, 8.27), dpi=150)
    ax = fig.add_axes((0.01, 0.06, 0.66, 0.82))
    side = fig.add_axes((0.68, 0.06, 0.31, 0.82))
    side.axis("off")
    gpd.GeoSeries(prep.lsoa_bng).plot(
        ax=ax, color=[cols[c] for c in cls], edgecolor="#9a9a9a", linewidth=0.08
    )
    gpd.GeoSeries(prep.borough_bng).boundary.plot(
        ax=ax, color="#333333", linewidth=0.6, linestyle=(0, (3, 2))
    )
    halo = [pe.withStroke(linewidth=2.5, foreground="white")]
    names = []
    for _, c in cans.sort_values("can_id").iterrows():
        cid = int(c["can_id"])
        members = can_ids == cid
        if not members.any():
            continue
        outline = shapely.coverage_union_all(prep.lsoa_bng[members])
        gpd.GeoSeries([outline]).boundary.plot(ax=ax, color=_NAVY, linewidth=1.4)
        p = geo.inner_point(outline)
        ax.text(
            p.x,
            p.y,
            str(cid),
            ha="center",
            va="center",
            fontsize=7,
            fontweight="bold",
            color=_NAVY,
            path_effects=halo,
        )
        names.append(_plain(f"{cid}. {c['name']}"))
    bounds = tuple(float(v) for v in gpd.GeoSeries(prep.lsoa_bng).total_bounds)
    ax.set_xlim(bounds[0], bounds[2])
    ax.set_ylim(bounds[1], bounds[3])
    ax.set_aspect("equal")
    ax.axis("off")
    _scale_bar(ax, bounds)  # type: ignore[arg-type]
    _north_arrow(ax, bounds)  # type: ignore[arg-type]
    fig.text(0.01, 0.975, _plain(spec.title), fontsize=12, fontweight="bold", va="top")
    fig.text(0.01, 0.948, _plain(spec.score_sentence()), fontsize=7, va="top", wrap=True)
    for j, note in enumerate(spec.notes[:3]):
        fig.text(0.01, 0.93 - 0.015 * j, _plain(note), fontsize=6.5, va="top", color="#6b3200")
    finite = score[np.isfinite(score)]
    lows = [float(finite.min()), *bins[:-1].tolist()]
    counts = np.bincount(cls, minlength=len(bins)).tolist()
    labels = _class_labels(spec, lows, bins.tolist(), counts, len(score))
    handles: list[Any] = [
        Patch(facecolor=cols[j], edgecolor="#777", label=_plain(labels[o]))
        for o, j in enumerate(reversed(range(len(bins))))
    ]
    handles += [
        Line2D([], [], color=_NAVY, lw=1.4, label="CAN (numbered; names on the right)"),
        Line2D([], [], color="#333333", lw=0.6, ls=(0, (3, 2)), label="Borough boundary"),
    ]
    side.legend(
        handles=handles,
        loc="upper left",
        fontsize=7,
        frameon=False,
        title="Score (darker = more stressed)",
        title_fontsize=8,
        alignment="left",
    )
    side.text(
        0,
        0.64,
        "Community Action Neighbourhoods",
        fontsize=8,
        fontweight="bold",
        va="top",
        transform=side.transAxes,
    )
    side.text(
        0,
        0.615,
        "\n".join(names),
        fontsize=6.5,
        va="top",
        transform=side.transAxes,
        linespacing=1.5,
        wrap=True,
    )
    dates = [_plain(f"{m.label}: {m.reference_date or 'date not stated'}") for m in spec.indicators]
    if dates:
        side.text(
            0,
            0.0,
            "Data reference dates\n" + "\n".join(dates),
            fontsize=5.5,
            va="bottom",
            transform=side.transAxes,
            wrap=True,
        )
    fig.text(0.01, 0.012, _plain(spec.attribution), fontsize=6.5, va="bottom", color="#222222")
    return fig


def save_static(fig: Figure, png: Path, pdf: Path) -> list[Path]:
    """Write the PNG and PDF with no dates or versions inside (reproducible)."""
    png, pdf = Path(png), Path(pdf)
    fig.savefig(png, format="png", metadata={"Software": None})
    fig.savefig(
        pdf,
        format="pdf",
        metadata={"Creator": None, "Producer": None, "CreationDate": None, "ModDate": None},
    )
    return [png, pdf]


def write_static_map(
    lsoa: gpd.GeoDataFrame,
    cans: gpd.GeoDataFrame,
    spec: MapSpec,
    png: Path,
    pdf: Path,
    *,
    boroughs: gpd.GeoDataFrame | None = None,
) -> None:
    """Write the report map of one scenario as ``png`` and ``pdf`` (same tables as write_map)."""
    from canrank.maps.payload import prepare

    prep = prepare(lsoa, boroughs, spec.simplify_m)
    save_static(static_figure(lsoa, cans, spec, prep), png, pdf)
