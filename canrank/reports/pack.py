"""The consultation pack: one PDF (A4) and the same content as one self-contained HTML page.

Written by ``canrank report`` from an existing build (``<build>/report/report.pdf`` and
``report.html``): a cover (scenario, indicators with their reference dates, proxies in plain
words, the selection rules and the selection status), an overview map, one page per CAN (a map
of the CAN with its LSOA and ward outlines and names, its population, boroughs and wards, a
chart comparing it with the study area on each indicator, its most stressed LSOAs, its
stability from the latest sensitivity run, and a box for local comments) and a methods page.
The Open Government Licence attribution is on every page.

Why matplotlib: it is already a dependency, renders offline without a browser, and its PDF and
PNG writers give identical bytes for identical builds once their dates are fixed (PDF
``CreationDate``/``ModDate``/``Producer`` unset, PNG ``Software`` unset). The HTML page carries
its images as base64 PNG and every text through :func:`html.escape`, so it opens offline and
no name from a data file can become markup.

The texts describing a build (:func:`build_texts`) are shared with the workbook's Sources and
Method sheets and the GeoPackage layer descriptions, so all three say the same thing.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from canrank.builds import Build

__all__ = [
    "ATTRIBUTION",
    "BuildTexts",
    "CanPage",
    "build_texts",
    "can_pages",
    "render_html",
    "render_pdf",
    "sensitivity_table",
    "write_report",
]

#: The Open Government Licence statement for ONS and OS data, on every page.
ATTRIBUTION = (
    "Contains National Statistics data © Crown copyright and database right; "
    "Contains OS data © Crown copyright and database right; Open Government Licence v3.0"
)

#: Fixed metadata so identical builds give identical bytes.
PDF_METADATA: dict[str, Any] = {
    "Creator": None,
    "Producer": None,
    "CreationDate": None,
    "ModDate": None,
}
PNG_METADATA: dict[str, Any] = {"Software": None}

A4_PORTRAIT = (8.27, 11.69)
NAVY = "#08306b"
TOP_LSOAS = 6


# --------------------------------------------------------------------------------------------
# Texts shared by the pack, the workbook and the GeoPackage
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndicatorText:
    """One indicator as the reader needs it: what, how much weight, as of when, from where."""

    key: str
    label: str
    weight: float
    reference_date: str
    source: str
    direction: str
    transform: str
    proxy_note: str | None


@dataclass(frozen=True)
class BuildTexts:
    """Every sentence the reports say about a build (plain text; the writers escape it)."""

    title: str
    scenario: str
    description: str
    area: str
    n_lsoas: int
    n_cans: int
    status: str
    status_sentence: str
    indicators: tuple[IndicatorText, ...]
    proxies: tuple[str, ...]
    rules: tuple[str, ...]
    method: tuple[str, ...]
    sources: tuple[dict[str, str], ...]
    warnings: tuple[str, ...]
    attribution: str = ATTRIBUTION
    canrank_version: str = ""

    def proxy_sentence(self) -> str:
        """The proxies in one sentence (or that there are none)."""
        if not self.proxies:
            return "No proxies: every indicator uses its own published source."
        return "Proxies (stand-ins for sources not available): " + "; ".join(self.proxies) + "."


def _fmt(value: float, digits: int = 3) -> str:
    return f"{value:,.{digits}f}"


def _status_sentence(sel: dict[str, Any], status: str) -> str:
    """The selection status in words, with the gap and bound when there are any."""
    gap, bound = sel.get("gap"), sel.get("upper_bound")
    value = sel.get("objective_value")
    if status == "proven optimal":
        text = (
            "The selection is proven optimal: no other set of CANs obeying the rules covers "
            "more population-weighted score"
        )
    elif status:
        text = f"Selection status: {status}"
    else:
        text = f"Selection method: {sel.get('method', 'unknown')}"
    extras = []
    if gap is not None and status != "proven optimal":
        extras.append(f"at most {100 * float(gap):.2f} % below the best possible")
    if value is not None:
        extras.append(f"covered score {_fmt(float(value), 1)}")
    if bound is not None and status != "proven optimal":
        extras.append(f"upper bound {_fmt(float(bound), 1)}")
    return text + (" (" + "; ".join(extras) + ")" if extras else "") + "."


def _rules(sel: dict[str, Any], area: str) -> tuple[str, ...]:
    rules = [
        f"{sel.get('n_cans')} CANs, each a group of neighbouring LSOAs (sharing a border).",
        f"Each CAN has {int(sel.get('min_population') or 0):,} to "
        f"{int(sel.get('max_population') or 0):,} residents.",
        (
            "At most one CAN"
            if sel.get("max_per_borough") == 1
            else f"At most {sel.get('max_per_borough')} CANs"
        )
        + " in any one borough (a CAN crossing a borough boundary counts in each borough).",
    ]
    if sel.get("separation"):
        rules.append("CANs do not touch each other (otherwise two CANs would be one).")
    if sel.get("min_member_score") is not None:
        rules.append(f"Every member LSOA has a score of at least {sel['min_member_score']:g}.")
    rules.append(
        "Among all groupings obeying these rules, the CANs cover as much population-weighted "
        f"score (population x score, summed over members) as possible across {area}."
    )
    return tuple(rules)


def _method(build: Build, status_sentence: str) -> tuple[str, ...]:
    sc = build.scenario
    n = len(build.lsoa)
    weights = ", ".join(f"{i.label} {i.weight:.2f}" for i in sc.indicators)
    transforms = sorted({i.transform for i in sc.indicators})
    return (
        f"Areas. The study area is {sc.area.label}: {n:,} Lower layer Super Output Areas "
        "(LSOAs), small statistical areas of about 1,500 residents each.",
        "Indicators. Each indicator is measured for every LSOA and put on a common scale "
        f"({', '.join(transforms)}), so that a higher value always means more stress "
        "(indicators where a lower value is worse are turned round first).",
        f"Composite score. The scaled indicators are combined by a weighted {sc.aggregation} "
        f"mean with these weights: {weights}. Rank 1 is the most stressed LSOA of the study "
        "area; decile 1 holds its most stressed 10 %.",
        "Community Action Neighbourhoods. "
        + " ".join(_rules(build.manifest["selection"], sc.area.label)),
        status_sentence,
        "Profiles. For each indicator a CAN's value is the population-weighted mean of its "
        "LSOAs; the chart on each CAN page divides it by the median LSOA of the study area "
        "(1.0 = the median; 2.0 = twice the median).",
        "Summary measures. Average score, average rank (population-weighted mean of LSOA "
        "ranks, lower = more stressed), proportion in the most stressed 10 %, extent and local "
        "concentration follow the MHCLG definitions of the Indices of Deprivation, with ranks "
        "out of the study area's LSOAs rather than England's.",
        "Stability. The command canrank sensitivity re-runs the selection many times with "
        "perturbed weights and data; a CAN's stability is the share of runs in which it (or "
        "most of its population) is chosen again.",
        "Local knowledge. The boundaries are a starting point: the comment boxes are for "
        "changes that local people and organisations propose. Overrides can be fed back into "
        "a new build (canrank build --overrides).",
    )


def _sources(manifest: dict[str, Any]) -> tuple[dict[str, str], ...]:
    out = []
    for inp in manifest.get("inputs", []):
        out.append(
            {
                "source": str(inp.get("source", "")),
                "publisher": str(inp.get("publisher", "")),
                "title": str(inp.get("title", "")),
                "reference_date": str(inp.get("reference_date") or "not stated"),
                "rows": "" if inp.get("rows") is None else f"{int(inp['rows']):,}",
                "files": ", ".join(str(f.get("file", "")) for f in inp.get("files", [])),
            }
        )
    return tuple(out)


def build_texts(build: Build) -> BuildTexts:
    """What the reports say about a build: title, status, indicators, proxies, rules, method."""
    sc = build.scenario
    manifest = build.manifest
    sel = dict(manifest.get("selection") or {})
    status = str(sel.get("status") or getattr(build.selection, "status", "") or "")
    inputs = {str(i.get("source")): i for i in manifest.get("inputs", [])}
    indicators = []
    for ind in sc.indicators:
        src = inputs.get(ind.source, {})
        date = ind.reference_date or src.get("reference_date") or "not stated"
        where = " - ".join(str(x) for x in (src.get("publisher"), src.get("title")) if x)
        indicators.append(
            IndicatorText(
                key=ind.key,
                label=ind.label,
                weight=float(ind.weight),
                reference_date=str(date),
                source=where or ind.source,
                direction=ind.direction,
                transform=ind.transform,
                proxy_note=ind.proxy_note,
            )
        )
    sentence = _status_sentence(sel, status)
    return BuildTexts(
        title=f"Community Action Neighbourhoods, {sc.area.label}",
        scenario=sc.name,
        description=sc.description,
        area=sc.area.label,
        n_lsoas=len(build.lsoa),
        n_cans=len(build.cans),
        status=status or str(sel.get("method", "")),
        status_sentence=sentence,
        indicators=tuple(indicators),
        proxies=tuple(str(p) for p in (manifest.get("proxies") or sc.proxies)),
        rules=_rules(sel, sc.area.label),
        method=_method(build, sentence),
        sources=_sources(manifest),
        # proxies are said in their own section; the other warnings (repairs, overrides) here
        warnings=tuple(
            str(w) for w in manifest.get("warnings", []) if not str(w).startswith("proxy used")
        ),
        canrank_version=str(manifest.get("canrank_version", "")),
    )


# --------------------------------------------------------------------------------------------
# One page per CAN: the data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CanPage:
    """What one CAN page shows (plain values; the renderers format and escape them)."""

    can_id: int
    name: str
    population: int
    n_lsoas: int
    boroughs: str
    wards: tuple[str, ...]
    mean_score: float
    best_rank: int
    profile: tuple[tuple[str, float, float, float, str], ...]  # label, value, median, ratio, dir
    top: pd.DataFrame
    stability: str
    override: str = ""
    facts: tuple[tuple[str, str], ...] = field(default=())


def sensitivity_table(build: Build) -> pd.DataFrame | None:
    """``<build>/sensitivity/sensitivity_cans.csv`` if a sensitivity run wrote it, else None."""
    if build.folder is None:
        return None
    path = Path(build.folder) / "sensitivity" / "sensitivity_cans.csv"
    if not path.is_file():
        return None
    from canrank.outputs import unneutralise_frame

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError):
        return None
    if "can_id" not in frame.columns:
        return None
    return unneutralise_frame(frame)


def _stability(sens: pd.DataFrame | None, can_id: int, name: str) -> str:
    if sens is None:
        return "No sensitivity run yet (canrank sensitivity measures it)."
    rows = sens[pd.to_numeric(sens["can_id"], errors="coerce") == can_id]
    if rows.empty:
        return "Not in the latest sensitivity run (it was made for another build)."
    row = rows.iloc[0]
    if "name" in row.index and str(row["name"]) != name:
        return "The latest sensitivity run was made for an earlier build; run it again."
    freq_col = next((c for c in ("frequency", "selection_frequency") if c in row.index), None)
    if freq_col is None or pd.isna(row[freq_col]):
        return "The sensitivity run holds no frequency for this CAN."
    text = f"Chosen again in {100 * float(row[freq_col]):.0f} % of the sensitivity runs"
    if {"ci_low", "ci_high"} <= set(row.index) and pd.notna(row["ci_low"]):
        text += (
            f" (95 % interval {100 * float(row['ci_low']):.0f} to "
            f"{100 * float(row['ci_high']):.0f} %)"
        )
    return text + "."


def can_pages(build: Build) -> list[CanPage]:
    """The content of every CAN page, in CAN order."""
    lsoa = build.lsoa
    sens = sensitivity_table(build)
    pages = []
    can_ids = pd.to_numeric(lsoa["can_id"], errors="coerce").fillna(0).astype(int)
    for row in build.cans.sort_values("can_id").itertuples(index=False):
        cid = int(row.can_id)
        members = lsoa[(can_ids == cid).to_numpy()].sort_values("rank", kind="stable")
        wards: tuple[str, ...] = ()
        if "ward_name" in members.columns:
            by_pop = members.groupby("ward_name", sort=True)["population"].sum()
            wards = tuple(str(w) for w in by_pop.sort_values(ascending=False, kind="stable").index)
        profile = []
        for ind in build.scenario.indicators:
            cols = [f"{ind.key}_value", f"{ind.key}_area_median", f"{ind.key}_median_ratio"]
            if all(c in build.cans.columns for c in cols):
                v, m, r = (float(getattr(row, c)) for c in cols)
                profile.append((ind.label, v, m, r, ind.direction))
        top_cols = [
            c
            for c in ("lsoa_code", "lsoa_name", "ward_name", "score", "rank", "decile")
            if c in members.columns
        ]
        name = str(row.name)
        override = str(getattr(row, "override", "") or "")
        if override in ("nan", "None"):
            override = ""
        pages.append(
            CanPage(
                can_id=cid,
                name=name,
                population=int(row.population),
                n_lsoas=int(row.n_lsoas),
                boroughs=str(row.boroughs),
                wards=wards,
                mean_score=float(row.mean_score),
                best_rank=int(row.best_rank),
                profile=tuple(profile),
                top=members[top_cols].head(TOP_LSOAS).reset_index(drop=True),
                stability=_stability(sens, cid, name),
                override=override,
                facts=(
                    ("Population", f"{int(row.population):,}"),
                    ("LSOAs", f"{int(row.n_lsoas)}"),
                    ("Boroughs", str(row.boroughs)),
                    ("Wards", _short_list(wards, 8) if wards else "not known (no ward layer)"),
                    ("Mean score", _fmt(float(row.mean_score))),
                    ("Most stressed LSOA's rank", f"{int(row.best_rank):,} of {len(lsoa):,}"),
                ),
            )
        )
    return pages


def _short_list(items: Sequence[str], n: int) -> str:
    shown = ", ".join(items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


# --------------------------------------------------------------------------------------------
# Drawing (matplotlib, Agg)
# --------------------------------------------------------------------------------------------


@dataclass
class _Geo:
    """Geometry and classes shared by every map of one report."""

    lsoa: gpd.GeoDataFrame
    colours: list[str]
    classes: np.ndarray
    bins: np.ndarray
    lows: list[float]
    boroughs: gpd.GeoDataFrame | None
    wards: gpd.GeoDataFrame | None
    can_outlines: dict[int, Any]


def _prepare_geo(build: Build) -> _Geo:
    import shapely

    from canrank.maps.palettes import assign_classes, class_breaks, colours

    mp = build.scenario.map
    score = build.lsoa["score"].to_numpy(dtype=float)
    bins = class_breaks(score, mp.scheme, mp.k)
    cols = list(colours(mp.palette, len(bins)))
    finite = score[np.isfinite(score)]
    lows = [float(finite.min()) if len(finite) else 0.0, *bins[:-1].tolist()]
    can_ids = pd.to_numeric(build.lsoa["can_id"], errors="coerce").fillna(0).astype(int)
    outlines = {}
    geoms = build.lsoa.geometry.to_numpy()
    for cid in sorted(set(can_ids) - {0}):
        outlines[int(cid)] = shapely.union_all(geoms[(can_ids == cid).to_numpy()])
    return _Geo(
        lsoa=build.lsoa,
        colours=cols,
        classes=assign_classes(score, bins),
        bins=bins,
        lows=lows,
        boroughs=build.boroughs,
        wards=build.wards,
        can_outlines=outlines,
    )


def _halo() -> list[Any]:
    import matplotlib.patheffects as pe

    return [pe.withStroke(linewidth=2.2, foreground="white")]


def _inner(geom: Any) -> Any:
    from canrank.maps.geometry import inner_point

    return inner_point(geom)


def _view(
    bounds: Sequence[float], aspect: float, pad: float = 0.25, min_m: float = 600
) -> tuple[float, float, float, float]:
    """A view around ``bounds`` with a margin, widened to the axes' width/height ratio."""
    minx, miny, maxx, maxy = bounds
    w = max(maxx - minx, min_m) * (1 + 2 * pad)
    h = max(maxy - miny, min_m) * (1 + 2 * pad)
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def _scale_bar(ax: Axes, view: tuple[float, float, float, float]) -> None:
    minx, miny, maxx, maxy = view
    target = (maxx - minx) / 5
    length = next(
        (s for s in (100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000) if s >= target), 50000
    )
    x0, y0 = minx + 0.03 * (maxx - minx), miny + 0.03 * (maxy - miny)
    h = 0.008 * (maxy - miny)
    ax.add_patch(_rect((x0, y0), length, h, "black"))
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length} m"
    ax.text(
        x0 + length / 2,
        y0 + 2 * h,
        label,
        ha="center",
        va="bottom",
        fontsize=6.5,
        path_effects=_halo(),
    )


def _rect(xy: tuple[float, float], w: float, h: float, colour: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle(xy, w, h, facecolor=colour, edgecolor=colour)


def _draw_overview(ax: Axes, geo: _Geo) -> None:
    import geopandas as gpd

    ax.set_axis_off()
    geo.lsoa.plot(ax=ax, color=[geo.colours[c] for c in geo.classes], edgecolor="none", linewidth=0)
    if geo.boroughs is not None and len(geo.boroughs):
        geo.boroughs.boundary.plot(ax=ax, color="#444444", linewidth=0.4)
    halo = _halo()
    for cid, outline in geo.can_outlines.items():
        gpd.GeoSeries([outline], crs=geo.lsoa.crs).boundary.plot(ax=ax, color=NAVY, linewidth=1.2)
        p = _inner(outline)
        ax.text(
            p.x,
            p.y,
            str(cid),
            ha="center",
            va="center",
            fontsize=7.5,
            fontweight="bold",
            color=NAVY,
            path_effects=halo,
        )
    minx, miny, maxx, maxy = (float(v) for v in geo.lsoa.total_bounds)
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect("equal")
    _scale_bar(ax, (minx, miny, maxx, maxy))


def _legend(ax: Axes, geo: _Geo, *, fontsize: float = 6.5) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = []
    for j in reversed(range(len(geo.bins))):
        handles.append(
            Patch(
                facecolor=geo.colours[j],
                edgecolor="#777777",
                label=f"{geo.lows[j]:.3f} to {geo.bins[j]:.3f}",
            )
        )
    handles.append(Line2D([], [], color=NAVY, lw=1.4, label="CAN outline"))
    ax.legend(
        handles=handles,
        loc="lower right",
        fontsize=fontsize,
        title="Composite score",
        title_fontsize=fontsize + 0.5,
        framealpha=0.9,
    )


def _draw_can_map(ax: Axes, geo: _Geo, can_id: int) -> None:
    """The CAN over its neighbourhood: score classes, LSOA and ward outlines and names."""
    import geopandas as gpd
    import shapely

    ax.set_axis_off()
    outline = geo.can_outlines[can_id]
    bbox = ax.get_position()
    from matplotlib.figure import Figure

    fig = ax.get_figure(root=True)
    fw, fh = fig.get_size_inches() if isinstance(fig, Figure) else (1.0, 1.0)
    aspect = (bbox.width * fw) / (bbox.height * fh)
    view = _view(shapely.bounds(outline).tolist(), aspect)
    box = shapely.box(*view)
    lsoa = geo.lsoa
    in_view = shapely.intersects(lsoa.geometry.to_numpy(), box)
    sub = lsoa[in_view]
    can_ids = pd.to_numeric(sub["can_id"], errors="coerce").fillna(0).astype(int).to_numpy()
    members = can_ids == can_id
    cls = geo.classes[in_view]
    colours = np.array([geo.colours[c] for c in cls], dtype=object)
    if (~members).any():
        sub[~members].plot(
            ax=ax, color=list(colours[~members]), alpha=0.55, edgecolor="#8a8a8a", linewidth=0.3
        )
    sub[members].plot(ax=ax, color=list(colours[members]), edgecolor="#555555", linewidth=0.4)
    halo = _halo()
    if geo.wards is not None and len(geo.wards):
        wards = geo.wards[shapely.intersects(geo.wards.geometry.to_numpy(), box)]
        wards.boundary.plot(ax=ax, color="#333333", linewidth=0.8, linestyle=(0, (4, 2)))
        for w in wards.itertuples(index=False):
            p = _inner(shapely.intersection(w.geometry, box))
            if not p.is_empty:
                ax.text(
                    p.x,
                    p.y,
                    _wrap(str(w.ward_name), 18),
                    ha="center",
                    va="center",
                    fontsize=6.5,
                    style="italic",
                    color="#222222",
                    path_effects=halo,
                    clip_on=True,
                )
    if geo.boroughs is not None and len(geo.boroughs):
        geo.boroughs.boundary.plot(ax=ax, color="#000000", linewidth=1.0)
    for other, geom in geo.can_outlines.items():
        if other != can_id and shapely.intersects(geom, box):
            gpd.GeoSeries([geom]).boundary.plot(
                ax=ax, color=NAVY, linewidth=1.0, linestyle=(0, (2, 1))
            )
            p = _inner(shapely.intersection(geom, box))
            if not p.is_empty:
                ax.text(
                    p.x,
                    p.y,
                    f"CAN {other}",
                    ha="center",
                    fontsize=7,
                    color=NAVY,
                    path_effects=halo,
                    clip_on=True,
                )
    gpd.GeoSeries([outline]).boundary.plot(ax=ax, color=NAVY, linewidth=2.2)
    for m in sub[members].itertuples(index=False):
        p = _inner(m.geometry)
        label = f"{_short_lsoa(str(m.lsoa_name), str(m.borough_name))}\n#{int(m.rank):,}"
        ax.text(
            p.x,
            p.y,
            label,
            ha="center",
            va="center",
            fontsize=5.2,
            color="#111111",
            path_effects=halo,
            clip_on=True,
        )
    ax.set_xlim(view[0], view[2])
    ax.set_ylim(view[1], view[3])
    ax.set_aspect("equal")
    _scale_bar(ax, view)
    _legend(ax, geo, fontsize=5.5)


def _short_lsoa(name: str, borough: str) -> str:
    """``Westminster 009F`` -> ``009F`` inside its borough's map (the borough is named above)."""
    return name[len(borough) :].strip() if borough and name.startswith(borough + " ") else name


def _draw_profile(ax: Axes, page: CanPage, area: str) -> None:
    """Bars: the CAN's value of each indicator as a multiple of the study area's median."""
    labels, ratios, colours = [], [], []
    for label, _value, _median, ratio, direction in page.profile:
        labels.append(_wrap(label, 30))
        r = ratio if np.isfinite(ratio) else 0.0
        ratios.append(r)
        worse = r > 1 if direction == "higher_is_worse" else r < 1
        colours.append("#d7301f" if worse else "#969696")
    y = np.arange(len(labels))[::-1]
    ax.barh(y, ratios, color=colours, height=0.6)
    ax.axvline(1.0, color="#000000", linewidth=0.8, linestyle=(0, (3, 2)))
    ax.set_yticks(y, labels, fontsize=6.5)
    top = max([*ratios, 1.0]) * 1.25
    ax.set_xlim(0, top)
    for yi, r in zip(y, ratios, strict=True):
        ax.text(r + top * 0.01, yi, f"{r:.2f}x", va="center", fontsize=6.5)
    ax.set_xlabel(f"times the median LSOA of {area} (dashed line = median)", fontsize=6.5)
    ax.tick_params(axis="x", labelsize=6.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _lines(text: str, width: int) -> list[str]:
    """Wrapped lines; never breaks inside hyphenated names such as Bromley-by-Bow."""
    return textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=True)


def _wrap(text: str, width: int) -> str:
    return "\n".join(_lines(text, width)) or text


def _footer(fig: Figure, texts: BuildTexts, page: int, total: int) -> None:
    fig.text(
        0.06,
        0.024,
        texts.attribution.replace("; Contains OS", ";\nContains OS"),
        fontsize=6,
        color="#333333",
        va="bottom",
        linespacing=1.3,
    )
    fig.text(
        0.94,
        0.012,
        f"{texts.title}, scenario {texts.scenario} - page {page} of {total}",
        fontsize=6,
        ha="right",
        va="bottom",
        color="#555555",
    )


def _page() -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=A4_PORTRAIT, dpi=100)


def _chars(size: float, width_in: float, weight: str = "normal") -> int:
    """How many characters of DejaVu Sans at ``size`` points fit in ``width_in`` inches."""
    per_char = size * (0.64 if weight == "bold" else 0.56) / 72
    return max(10, int(width_in / per_char))


def _text_block(
    fig: Figure,
    x: float,
    y: float,
    lines: Sequence[tuple[str, float, str]],
    *,
    width: float = 0.88,
    gap: float = 0.004,
) -> float:
    """Write (text, fontsize, weight) lines from ``y`` down, wrapped to ``width`` (a fraction
    of the page width); return the next y."""
    fw, height = fig.get_size_inches()
    for text, size, weight in lines:
        wrapped = _lines(text, _chars(size, width * fw, weight)) or [""]
        for line in wrapped:
            fig.text(x, y, line, fontsize=size, fontweight=weight, va="top")
            y -= size * 1.35 / 72 / height
        y -= gap
    return y


def _cover(texts: BuildTexts) -> Figure:
    fig = _page()
    y = _text_block(
        fig,
        0.06,
        0.95,
        [
            (texts.title, 18, "bold"),
            (f"Consultation pack - scenario {texts.scenario}", 13, "normal"),
        ],
    )
    y -= 0.01
    lines: list[tuple[str, float, str]] = [
        (texts.description, 9.5, "normal"),
        (
            f"{texts.n_cans} proposed Community Action Neighbourhoods (CANs) among the "
            f"{texts.n_lsoas:,} LSOAs of {texts.area}.",
            9.5,
            "normal",
        ),
        (texts.status_sentence, 9.5, "bold"),
        ("Indicators and reference dates", 11, "bold"),
    ]
    for ind in texts.indicators:
        lines.append(
            (
                f"- {ind.label} (weight {ind.weight:.2f}; reference date "
                f"{ind.reference_date}; source: {ind.source})",
                8.5,
                "normal",
            )
        )
    lines.append(("Proxies", 11, "bold"))
    if texts.proxies:
        lines += [(f"- {p}", 8.5, "normal") for p in texts.proxies]
    else:
        lines.append(("None: every indicator uses its own published source.", 8.5, "normal"))
    lines.append(("Rules the CANs follow", 11, "bold"))
    lines += [(f"- {r}", 8.5, "normal") for r in texts.rules]
    if texts.warnings:
        lines.append(("Warnings from the build", 11, "bold"))
        lines += [(f"- {w}", 8.5, "normal") for w in texts.warnings[:8]]
        if len(texts.warnings) > 8:
            lines.append(
                (f"... and {len(texts.warnings) - 8} more (see manifest.json)", 8.5, "normal")
            )
    lines.append(("How to use this pack", 11, "bold"))
    lines.append(
        (
            "Page 2 maps every CAN. Each CAN then has a page with its map, its people "
            "and places, how it compares with the study area, its most stressed LSOAs, "
            "its stability, and a box for local comments: please note where the boundary "
            "should change and why. The last page explains the method.",
            8.5,
            "normal",
        )
    )
    _text_block(fig, 0.06, y, lines)
    return fig


def _overview(texts: BuildTexts, geo: _Geo, pages: list[CanPage]) -> Figure:
    fig = _page()
    fig.text(
        0.06,
        0.965,
        f"Overview: the {len(pages)} proposed CANs",
        fontsize=14,
        fontweight="bold",
        va="top",
    )
    fig.text(
        0.06,
        0.94,
        _wrap(
            f"LSOAs coloured by composite score ({len(geo.bins)} classes, darker = more "
            "stressed); CANs outlined and numbered; thin lines are borough boundaries.",
            120,
        ),
        fontsize=8,
        va="top",
    )
    ax = fig.add_axes((0.04, 0.36, 0.92, 0.56))
    _draw_overview(ax, geo)
    _legend(ax, geo)
    names = [f"{p.can_id}. {p.name} - {p.population:,} residents" for p in pages]
    half = (len(names) + 1) // 2
    for col, chunk in enumerate((names[:half], names[half:])):
        _text_block(
            fig, 0.06 + 0.46 * col, 0.34, [(n, 7.5, "normal") for n in chunk], width=0.43, gap=0.001
        )
    return fig


def _can_figure(texts: BuildTexts, geo: _Geo, page: CanPage) -> Figure:
    fig = _page()
    y = _text_block(fig, 0.06, 0.972, [(f"CAN {page.can_id}: {page.name}", 14, "bold")], gap=0)
    fig.text(
        0.06,
        y - 0.002,
        f"Scenario {texts.scenario} - {texts.area}",
        fontsize=8,
        va="top",
        color="#444444",
    )
    ax = fig.add_axes((0.06, 0.50, 0.88, y - 0.52))
    _draw_can_map(ax, geo, page.can_id)
    fig.text(
        0.06,
        0.495,
        "Coloured: composite score class (members full colour, "
        "neighbours faded). Thick navy: this CAN; dashed: wards and other CANs; labels: "
        "LSOA name and rank.",
        fontsize=6,
        va="top",
        color="#444444",
    )
    facts = [(f"{k}: {v}", 8, "normal") for k, v in page.facts]
    facts.append((f"Stability: {page.stability}", 8, "normal"))
    if page.override:
        facts.append((f"Local override: {page.override}", 8, "normal"))
    _text_block(fig, 0.06, 0.475, facts, width=0.40, gap=0.002)
    cx = fig.add_axes((0.72, 0.31, 0.24, 0.15))
    _draw_profile(cx, page, texts.area)
    fig.text(0.52, 0.478, "Compared with the study area", fontsize=8.5, fontweight="bold", va="top")
    _top_table(fig, page, 0.29)
    box = fig.add_axes((0.06, 0.05, 0.88, 0.105))
    box.set_xticks([])
    box.set_yticks([])
    box.text(
        0.01,
        0.95,
        "Local comments (where should the boundary change, and why?):",
        fontsize=8,
        va="top",
        transform=box.transAxes,
    )
    for yy in (0.62, 0.40, 0.18):
        box.axhline(yy, xmin=0.01, xmax=0.99, color="#bbbbbb", linewidth=0.5)
    return fig


def _top_table(fig: Figure, page: CanPage, top: float) -> None:
    fig.text(
        0.06, top, "Most stressed LSOAs of this CAN", fontsize=8.5, fontweight="bold", va="top"
    )
    header = ["LSOA", "Name", "Ward", "Score", "Rank", "Decile"]
    xs = [0.06, 0.19, 0.40, 0.70, 0.79, 0.88]
    y = top - 0.02
    for x, h in zip(xs, header, strict=True):
        fig.text(x, y, h, fontsize=7, fontweight="bold", va="top")
    for row in page.top.itertuples(index=False):
        y -= 0.016
        values = [
            str(row.lsoa_code),
            _clip(str(row.lsoa_name), 30),
            _clip(str(getattr(row, "ward_name", "") or ""), 40),
            f"{float(row.score):.3f}",
            f"{int(row.rank):,}",
            str(getattr(row, "decile", "")),
        ]
        for x, v in zip(xs, values, strict=True):
            fig.text(x, y, v, fontsize=7, va="top")


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _methods(texts: BuildTexts) -> Figure:
    fig = _page()
    lines: list[tuple[str, float, str]] = [("Method", 14, "bold")]
    lines += [(p, 8.5, "normal") for p in texts.method]
    lines.append(("Sources", 11, "bold"))
    for s in texts.sources:
        lines.append(
            (
                f"- {s['publisher']}: {s['title']} (reference date {s['reference_date']};"
                f" files {s['files']})",
                7.5,
                "normal",
            )
        )
    lines.append(
        (
            f"Made with canrank {texts.canrank_version}; the build's manifest.json "
            "records the checksum of every input.",
            7.5,
            "normal",
        )
    )
    _text_block(fig, 0.06, 0.95, lines, gap=0.006)
    return fig


def _figures(build: Build, texts: BuildTexts, pages: list[CanPage]) -> Iterator[Figure]:
    geo = _prepare_geo(build)
    yield _cover(texts)
    yield _overview(texts, geo, pages)
    for page in pages:
        yield _can_figure(texts, geo, page)
    yield _methods(texts)


def render_pdf(
    build: Build, path: Path, *, texts: BuildTexts | None = None, pages: list[CanPage] | None = None
) -> int:
    """Write the PDF pack to ``path`` (identical bytes for identical builds); return pages."""
    from matplotlib.backends.backend_pdf import PdfPages

    texts = texts or build_texts(build)
    pages = can_pages(build) if pages is None else pages
    total = len(pages) + 3
    with _plain_text(), PdfPages(path, metadata=PDF_METADATA) as pdf:
        for n, fig in enumerate(_figures(build, texts, pages), start=1):
            _footer(fig, texts, n, total)
            pdf.savefig(fig)
    return total


# --------------------------------------------------------------------------------------------
# HTML: the same content, self-contained
# --------------------------------------------------------------------------------------------


@contextmanager
def _plain_text() -> Iterator[None]:
    """Draw every text literally: a name holding ``$`` is not mathtext (nor an error)."""
    import matplotlib

    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        yield


def _png(fig: Figure, dpi: int = 110) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata=PNG_METADATA)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _overview_png(geo: _Geo) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 6.5), dpi=110)
    ax = fig.add_axes((0, 0, 1, 1))
    _draw_overview(ax, geo)
    _legend(ax, geo)
    return _png(fig)


def _can_pngs(geo: _Geo, page: CanPage, area: str) -> tuple[str, str]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5.5), dpi=110)
    ax = fig.add_axes((0, 0, 1, 1))
    _draw_can_map(ax, geo, page.can_id)
    chart = Figure(figsize=(6, 0.45 * max(len(page.profile), 1) + 0.8), dpi=110)
    cx = chart.add_axes((0.45, 0.3, 0.5, 0.65))
    _draw_profile(cx, page, area)
    return _png(fig), _png(chart, dpi=120)


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;
margin:0;color:#1a1a1a;background:#f4f4f4;line-height:1.45}
section{background:#fff;max-width:60rem;margin:1.2rem auto;padding:1.4rem 2rem;
box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{font-size:1.7rem;margin:.2rem 0}h2{font-size:1.3rem;margin:.2rem 0 .6rem}
h3{font-size:1.05rem;margin:1rem 0 .3rem}img{max-width:100%;height:auto}
table{border-collapse:collapse;font-size:.9rem;margin:.3rem 0}
th,td{border-bottom:1px solid #ddd;padding:.2rem .6rem;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.status{font-weight:600}.muted{color:#555;font-size:.85rem}
.comments{border:1px solid #888;min-height:7rem;padding:.5rem;margin-top:.6rem}
footer{font-size:.75rem;color:#444;border-top:1px solid #ddd;margin-top:1rem;padding-top:.4rem}
@media print{body{background:#fff}section{box-shadow:none;page-break-after:always;margin:0}}
"""


def _facts_table(rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th scope='row'>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _top_html(page: CanPage) -> str:
    head = "".join(
        f"<th scope='col'>{_e(c)}</th>" for c in ("LSOA", "Name", "Ward", "Score", "Rank", "Decile")
    )
    rows = []
    for r in page.top.itertuples(index=False):
        rows.append(
            "<tr>"
            f"<td>{_e(r.lsoa_code)}</td><td>{_e(r.lsoa_name)}</td>"
            f"<td>{_e(getattr(r, 'ward_name', '') or '')}</td>"
            f"<td class='n'>{float(r.score):.3f}</td><td class='n'>{int(r.rank):,}</td>"
            f"<td class='n'>{_e(getattr(r, 'decile', ''))}</td></tr>"
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _profile_html(page: CanPage) -> str:
    rows = "".join(
        f"<tr><td>{_e(label)}</td><td class='n'>{v:.3f}</td><td class='n'>{m:.3f}</td>"
        f"<td class='n'>{r:.2f}x</td></tr>"
        for label, v, m, r, _d in page.profile
    )
    head = "<tr><th>Indicator</th><th>CAN</th><th>Study-area median</th><th>Ratio</th></tr>"
    return f"<table><thead>{head}</thead><tbody>{rows}</tbody></table>"


def render_html(
    build: Build, path: Path, *, texts: BuildTexts | None = None, pages: list[CanPage] | None = None
) -> None:
    """Write the pack as one self-contained HTML page (images inline, every text escaped)."""
    texts = texts or build_texts(build)
    pages = can_pages(build) if pages is None else pages
    with _plain_text():
        _write_html(build, path, texts, pages)


def _write_html(build: Build, path: Path, texts: BuildTexts, pages: list[CanPage]) -> None:
    geo = _prepare_geo(build)
    foot = f"<footer>{_e(texts.attribution)}</footer>"
    parts = [
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{_e(texts.title)} - scenario {_e(texts.scenario)}</title>",
        f"<style>{CSS}</style></head><body>",
        "<section id='cover'>",
        f"<h1>{_e(texts.title)}</h1><h2>Consultation pack - scenario {_e(texts.scenario)}</h2>",
        f"<p>{_e(texts.description)}</p>",
        f"<p>{texts.n_cans} proposed Community Action Neighbourhoods (CANs) among the "
        f"{texts.n_lsoas:,} LSOAs of {_e(texts.area)}.</p>",
        f"<p class='status'>{_e(texts.status_sentence)}</p>",
        "<h3>Indicators and reference dates</h3><table><thead><tr><th>Indicator</th>"
        "<th>Weight</th><th>Reference date</th><th>Source</th></tr></thead><tbody>",
        *(
            f"<tr><td>{_e(i.label)}</td><td class='n'>{i.weight:.2f}</td>"
            f"<td>{_e(i.reference_date)}</td><td>{_e(i.source)}</td></tr>"
            for i in texts.indicators
        ),
        "</tbody></table><h3>Proxies</h3><ul>",
        *(f"<li>{_e(p)}</li>" for p in texts.proxies),
        "" if texts.proxies else "<li>None: every indicator uses its own published source.</li>",
        "</ul><h3>Rules the CANs follow</h3><ul>",
        *(f"<li>{_e(r)}</li>" for r in texts.rules),
        "</ul>",
    ]
    if texts.warnings:
        parts += [
            "<h3>Warnings from the build</h3><ul>",
            *(f"<li>{_e(w)}</li>" for w in texts.warnings),
            "</ul>",
        ]
    parts += [
        foot,
        "</section>",
        "<section id='overview'>",
        f"<h2>Overview: the {len(pages)} proposed CANs</h2>",
        f"<img alt='Map of the study area with the {len(pages)} CANs outlined' "
        f"src='{_overview_png(geo)}'>",
        "<ol>",
        *(
            f"<li value='{p.can_id}'><a href='#can-{p.can_id}'>{_e(p.name)}</a> - "
            f"{p.population:,} residents</li>"
            for p in pages
        ),
        "</ol>",
        foot,
        "</section>",
    ]
    for page in pages:
        map_png, chart_png = _can_pngs(geo, page, texts.area)
        facts = [*page.facts, ("Stability", page.stability)]
        if page.wards:
            facts[3] = ("Wards", ", ".join(page.wards))
        if page.override:
            facts.append(("Local override", page.override))
        parts += [
            f"<section id='can-{page.can_id}'>",
            f"<h2>CAN {page.can_id}: {_e(page.name)}</h2>",
            f"<img alt='Map of CAN {page.can_id} with its LSOAs and wards' src='{map_png}'>",
            "<p class='muted'>Coloured: composite score class (members full colour, neighbours "
            "faded). Thick navy: this CAN; dashed: wards and other CANs; labels: LSOA name and "
            "rank.</p>",
            _facts_table(facts),
            "<h3>Compared with the study area</h3>",
            f"<img alt='Chart comparing CAN {page.can_id} with the study-area median' "
            f"src='{chart_png}'>",
            _profile_html(page),
            "<h3>Most stressed LSOAs of this CAN</h3>",
            _top_html(page),
            "<h3>Local comments</h3><p class='muted'>Where should the boundary change, and "
            "why?</p><div class='comments'></div>",
            foot,
            "</section>",
        ]
    parts += [
        "<section id='method'><h2>Method</h2>",
        *(f"<p>{_e(p)}</p>" for p in texts.method),
        "<h3>Sources</h3><table><thead><tr><th>Publisher</th><th>Title</th>"
        "<th>Reference date</th><th>Files</th></tr></thead><tbody>",
        *(
            f"<tr><td>{_e(s['publisher'])}</td><td>{_e(s['title'])}</td>"
            f"<td>{_e(s['reference_date'])}</td><td>{_e(s['files'])}</td></tr>"
            for s in texts.sources
        ),
        "</tbody></table>",
        f"<p class='muted'>Made with canrank {_e(texts.canrank_version)}.</p>",
        foot,
        "</section></body></html>\n",
    ]
    path.write_text("\n".join(parts), encoding="utf-8")


def write_report(build: Build, folder: Path | None = None) -> tuple[Path, Path]:
    """Write ``report.pdf`` and ``report.html`` into ``folder`` (default ``<build>/report``).

    Only files canrank wrote are replaced (:func:`canrank.outputs.output_folder`); returns
    the two paths.
    """
    from canrank.errors import InputError
    from canrank.outputs import output_folder

    if folder is None:
        if build.folder is None:
            raise InputError(
                "an in-memory build has no folder to write the report into",
                hint="write the build first or pass a folder",
            )
        folder = Path(build.folder) / "report"
    texts = build_texts(build)
    pages = can_pages(build)
    if not pages:
        raise InputError(
            "the build has no CANs to report on",
            file=build.folder,
            hint="check the selection rules and rebuild",
        )
    if "geometry" not in build.lsoa.columns or build.lsoa.geometry.isna().all():
        raise InputError("the build has no geometry", file=build.folder, hint="rebuild")
    with output_folder(folder, names=["report.pdf", "report.html"]) as tmp:
        render_pdf(build, tmp / "report.pdf", texts=texts, pages=pages)
        render_html(build, tmp / "report.html", texts=texts, pages=pages)
    return folder / "report.pdf", folder / "report.html"
