"""The consultee map: a folium choropleth of the composite score with CAN outlines on top.

Geometry is simplified in metres and coordinates rounded to ~1 m before embedding, to keep the
London map small. Every text value is HTML-escaped before it enters the page, so a hostile name
shows as text. Element ids are numbered deterministically, so the same inputs give the same bytes.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import branca.colormap as bcm
import folium
import geopandas as gpd
import mapclassify
import numpy as np
import pandas as pd
import shapely

__all__ = ["class_breaks", "make_map", "prepare_geometry", "save_map"]

_SCHEMES = {
    "quantiles": "Quantiles",
    "fisher_jenks": "FisherJenksSampled",
    "equal_interval": "EqualInterval",
}
#: ColorBrewer sequential palettes (colour-blind safe, Harrower & Brewer 2003), 3-9 classes.
_PALETTES = {
    "YlOrRd": ["#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026"],
    "PuBu": ["#f1eef6", "#d0d1e6", "#a6bddb", "#74a9cf", "#3690c0", "#0570b0", "#034e7b"],
    "Purples": ["#f2f0f7", "#dadaeb", "#bcbddc", "#9e9ac8", "#807dba", "#6a51a3", "#4a1486"],
}


def class_breaks(values: np.ndarray, scheme: str, k: int) -> np.ndarray:
    """Upper class bounds from mapclassify (sampled Fisher-Jenks keeps this fast without numba)."""
    name = _SCHEMES[scheme]
    kwargs = {"k": k}
    if name == "FisherJenksSampled":
        kwargs["truncate"] = False
    classifier = getattr(mapclassify, name)(np.asarray(values, dtype=float), **kwargs)
    return np.asarray(classifier.bins, dtype=float)


def _colours(palette: str, k: int) -> list[str]:
    base = _PALETTES.get(palette, _PALETTES["YlOrRd"])
    idx = np.linspace(0, len(base) - 1, k).round().astype(int)
    return [base[i] for i in idx]


def prepare_geometry(frame: gpd.GeoDataFrame, simplify_m: float) -> gpd.GeoDataFrame:
    """Simplify in EPSG:27700, reproject to WGS 84 and round coordinates to 1e-5 degrees."""
    out = frame.copy()
    if simplify_m > 0:
        out.geometry = out.geometry.simplify(simplify_m, preserve_topology=True)
    out = out.to_crs(4326)
    out.geometry = shapely.set_precision(out.geometry.values, 1e-5)
    return out


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: object, digits: int = 3) -> str:
    if isinstance(value, float | np.floating):
        return "" if np.isnan(value) else f"{value:.{digits}f}"
    return _esc(value)


def _number_ids(element: folium.Element, counter: list[int]) -> None:
    """Replace folium's random element ids with a counter (reproducible HTML)."""
    counter[0] += 1
    element._id = f"{counter[0]:06d}"
    for child in element._children.values():
        _number_ids(child, counter)


def make_map(
    lsoa: gpd.GeoDataFrame,
    cans: gpd.GeoDataFrame,
    *,
    title: str,
    indicator_fields: Sequence[tuple[str, str]],
    scheme: str = "quantiles",
    k: int = 5,
    palette: str = "YlOrRd",
    simplify_m: float = 8.0,
    notes: Sequence[str] = (),
) -> folium.Map:
    """Build the map: score choropleth, CAN outlines with names, tooltips, legend, title."""
    geo = prepare_geometry(lsoa, simplify_m)
    bins = class_breaks(geo["score"].to_numpy(), scheme, k)
    colours = _colours(palette, len(bins))
    cls = np.searchsorted(bins, geo["score"].to_numpy(), side="left").clip(0, len(bins) - 1)
    props = pd.DataFrame(
        {
            "name": geo["lsoa_name"].map(_esc),
            "code": geo["lsoa_code"].map(_esc),
            "borough": geo["borough_name"].map(_esc),
        }
    )
    for col, _label in indicator_fields:
        props[col] = geo[col].map(_fmt)
    props["score"] = geo["score"].map(_fmt)
    props["rank"] = geo["rank"].astype(int).astype(str)
    props["decile"] = geo["decile"].astype(int).astype(str)
    props["can"] = geo["can_name"].fillna("").map(_esc)
    props["fill"] = [colours[c] for c in cls]
    features = gpd.GeoDataFrame(props, geometry=geo.geometry.values, crs=geo.crs)

    minx, miny, maxx, maxy = features.total_bounds
    fmap = folium.Map(tiles=None, control_scale=True, prefer_canvas=False)
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    folium.TileLayer("cartodbpositron", name="Base map (online only)", show=False).add_to(fmap)

    aliases = ["LSOA", "Code", "Borough", *[lab for _, lab in indicator_fields]]
    aliases += ["Composite score", "Rank (1 = most stressed)", "Decile", "CAN"]
    fields = ["name", "code", "borough", *[c for c, _ in indicator_fields]]
    fields += ["score", "rank", "decile", "can"]
    folium.GeoJson(
        features.__geo_interface__,
        name="Composite score",
        style_function=lambda f: {
            "fillColor": f["properties"]["fill"],
            "color": "#666666",
            "weight": 0.3,
            "fillOpacity": 0.75,
        },
        highlight_function=lambda f: {"weight": 2, "color": "#000000"},
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases, sticky=True),
        smooth_factor=0.5,
    ).add_to(fmap)

    if len(cans):
        can_geo = prepare_geometry(cans, simplify_m)
        can_props = gpd.GeoDataFrame(
            {
                "can_id": can_geo["can_id"].astype(str),
                "name": can_geo["name"].map(_esc),
                "population": can_geo["population"].map(lambda v: f"{int(v):,}"),
                "n_lsoas": can_geo["n_lsoas"].astype(str),
                "mean_score": can_geo["mean_score"].map(_fmt),
            },
            geometry=can_geo.geometry.values,
            crs=can_geo.crs,
        )
        group = folium.FeatureGroup(name="Community Action Neighbourhoods", show=True)
        folium.GeoJson(
            can_props.__geo_interface__,
            name="CAN outlines",
            style_function=lambda f: {"fill": False, "color": "#08306b", "weight": 3},
            tooltip=folium.GeoJsonTooltip(
                fields=["can_id", "name", "population", "n_lsoas", "mean_score"],
                aliases=["CAN", "Name", "Population", "LSOAs", "Mean score"],
            ),
            popup=folium.GeoJsonPopup(
                fields=["can_id", "name", "population", "n_lsoas", "mean_score"],
                aliases=["CAN", "Name", "Population", "LSOAs", "Mean score"],
            ),
        ).add_to(group)
        for _, row in can_geo.iterrows():
            point = row.geometry.representative_point()
            folium.Marker(
                [point.y, point.x],
                icon=folium.DivIcon(
                    html=(
                        '<div class="can-label" style="font:bold 11px sans-serif;color:#08306b;'
                        'text-shadow:0 0 3px #fff,0 0 3px #fff;white-space:nowrap">'
                        f"{int(row['can_id'])}. {_esc(row['name'])}</div>"
                    )
                ),
            ).add_to(group)
        group.add_to(fmap)

    legend = bcm.StepColormap(
        colours,
        index=[float(geo["score"].min()), *bins.tolist()],
        vmin=float(geo["score"].min()),
        vmax=float(bins[-1]),
        caption=f"Composite score ({scheme.replace('_', ' ')}, {len(bins)} classes; "
        "darker = more stressed)",
    )
    legend.add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    note_html = "".join(f"<div>{_esc(n)}</div>" for n in notes)
    fmap.get_root().html.add_child(
        folium.Element(
            '<div id="canrank-title" style="position:fixed;top:8px;left:50px;z-index:1000;'
            "background:rgba(255,255,255,.92);padding:6px 10px;border-radius:4px;"
            'font:14px sans-serif;max-width:60%">'
            f"<b>{_esc(title)}</b>{note_html}</div>"
        )
    )
    _number_ids(fmap, [0])
    return fmap


def save_map(fmap: folium.Map, path: Path) -> None:
    """Render the map to ``path`` (UTF-8)."""
    path.write_text(fmap.get_root().render(), encoding="utf-8")
