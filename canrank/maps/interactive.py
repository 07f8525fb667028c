"""The consultee map (``map.html``): one self-contained folium page that works offline.

folium builds the page (map, layer control, optional OpenStreetMap layer, deterministic element
ids); Leaflet and canrank's own small script are inlined from :mod:`canrank.maps.assets`
instead of folium's CDN links. The LSOA geometry is embedded once and restyled in the browser
for each indicator, so adding an indicator costs a few numbers per LSOA, not another copy of
London.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import folium
import geopandas as gpd
from branca.element import Element, Figure, MacroElement
from folium.map import Layer
from jinja2 import Template

from canrank.maps.assets import load_assets
from canrank.maps.payload import (
    MeasureSpec,
    PreparedGeometry,
    geometry_payload,
    prepare,
    script_json,
    view_payload,
)

if TYPE_CHECKING:
    from canrank.pipeline import BuildResult

__all__ = [
    "add_view",
    "check_offline",
    "inline_assets",
    "make_map",
    "map_for_result",
    "measures_for",
    "number_ids",
    "save_map",
]

_OSM = "OpenStreetMap base map (needs internet; off by default)"


class _JsonData(Element):
    """A ``<script type="application/json">`` block in the page body (data, never executed)."""

    def __init__(self, dom_id: str, data: object) -> None:
        super().__init__()
        self.dom_id = dom_id
        self.text = script_json(data)

    def render(self, **kwargs: Any) -> str:
        return f'<script type="application/json" id="{self.dom_id}">{self.text}</script>'


class _Context(MacroElement):
    """Reads one geometry and one view payload for a map (must come before the layers)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "var {{ this.get_name() }} = canrankMap.context({{ this._parent.get_name() }}, "
        "{{ this.geom_id|tojson }}, {{ this.view_id|tojson }});"
        "{% endmacro %}"
    )

    def __init__(self, geom_id: str, view_id: str) -> None:
        super().__init__()
        self._name = "canrank_context"
        self.geom_id = geom_id
        self.view_id = view_id


class _JsLayer(Layer):
    """A Leaflet layer made by one of canrankMap's functions, listed in the layer control."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "var {{ this.get_name() }} = canrankMap.{{ this.factory }}({{ this.ctx.get_name() }}"
        "{% if this.arg is not none %}, {{ this.arg|tojson }}{% endif %});"
        "{% endmacro %}"
    )

    def __init__(
        self,
        ctx: _Context,
        factory: str,
        name: str,
        *,
        arg: object = None,
        overlay: bool = True,
        show: bool = True,
    ) -> None:
        super().__init__(name=name, overlay=overlay, control=True, show=show)
        self._name = f"canrank_{factory}"
        self.ctx = ctx
        self.factory = factory
        self.arg = arg


class _Chrome(MacroElement):
    """Title box and legend of one map."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "canrankMap.chrome({{ this.ctx.get_name() }});"
        "{% endmacro %}"
    )

    def __init__(self, ctx: _Context) -> None:
        super().__init__()
        self._name = "canrank_chrome"
        self.ctx = ctx


def inline_assets(figure: Figure) -> None:
    """Put Leaflet's and canrank's CSS and JavaScript inline in the page head."""
    assets = load_assets()
    css = assets.leaflet_css + "\n" + assets.canrank_css
    js = (assets.leaflet_js + "\n" + assets.canrank_js).replace("</script", "<\\/script")
    figure.header.add_child(Element(f"<style>{css}</style>"), name="canrank_css")
    figure.header.add_child(Element(f"<script>{js}</script>"), name="canrank_js")


def _strip_defaults(fmap: folium.Map) -> None:
    """Drop folium's CDN links (jQuery, Bootstrap, awesome-markers...; none is needed here)."""
    fmap.default_js = []
    fmap.default_css = []


def add_view(
    fmap: folium.Map, geom_id: str, view_id: str, view: dict[str, Any], *, osm: bool = True
) -> _Context:
    """Add one scenario's layers, legend and title to ``fmap`` (its data in the page body)."""
    figure = fmap.get_root()
    figure.html.add_child(_JsonData(view_id, view), name=view_id)
    ctx = _Context(geom_id, view_id)
    ctx.add_to(fmap)
    if osm:
        folium.TileLayer("OpenStreetMap", name=_OSM, overlay=True, show=False, control=True).add_to(
            fmap
        )
    for k, measure in enumerate(view["measures"]):
        _JsLayer(
            ctx,
            "measureChoice",
            f"Colour by: {measure['label']}",
            arg=k,
            overlay=False,
            show=k == 0,
        ).add_to(fmap)
    _JsLayer(ctx, "lsoaLayer", "LSOAs (hover for values)").add_to(fmap)
    _JsLayer(ctx, "boroughLayer", "Borough boundaries").add_to(fmap)
    _JsLayer(ctx, "canLayer", "CAN outlines (click for profile)").add_to(fmap)
    _JsLayer(ctx, "canLabels", "CAN names").add_to(fmap)
    _Chrome(ctx).add_to(fmap)
    folium.LayerControl(collapsed=True, position="topright").add_to(fmap)
    return ctx


def number_ids(element: Element, counter: list[int] | None = None) -> None:
    """Replace folium's random element ids with a counter (reproducible HTML)."""
    counter = counter if counter is not None else [0]
    counter[0] += 1
    element._id = f"{counter[0]:06d}"
    for child in element._children.values():
        number_ids(child, counter)


def new_map(**kwargs: Any) -> folium.Map:
    """A folium map with no default tiles and no CDN assets."""
    fmap = folium.Map(tiles=None, control_scale=True, prefer_canvas=False, **kwargs)
    _strip_defaults(fmap)
    return fmap


def measures_for(indicators: Sequence[Any]) -> list[MeasureSpec]:
    """Measure specs from resolved indicators (reference date from the config or the catalogue)."""
    from canrank.sources import get_source

    out = []
    for ind in indicators:
        date = getattr(ind, "reference_date", None)
        if not date:
            try:
                date = get_source(ind.source).reference_date
            except Exception:  # an unknown source only loses the date on the legend
                date = None
        out.append(MeasureSpec(ind.key, f"{ind.key}_value", ind.label, ind.direction, date or None))
    return out


def make_map(
    lsoa: gpd.GeoDataFrame,
    cans: gpd.GeoDataFrame,
    *,
    title: str,
    indicator_fields: Sequence[tuple[str, str]] = (),
    scheme: str = "quantiles",
    k: int = 5,
    palette: str = "YlOrRd",
    simplify_m: float = 8.0,
    notes: Sequence[str] = (),
    boroughs: gpd.GeoDataFrame | None = None,
    indicators: Sequence[Any] | None = None,
    area: str = "Study area",
    prepared: PreparedGeometry | None = None,
) -> folium.Map:
    """The map: score and indicator choropleths, CANs with names and profiles, boroughs, legend.

    ``indicators`` (resolved indicators) give directions and reference dates; without them
    ``indicator_fields`` ``[(column, label)]`` are shown as higher-is-worse measures.
    """
    if indicators is not None:
        measures = measures_for(indicators)
    else:
        measures = [
            MeasureSpec(col.removesuffix("_value"), col, label) for col, label in indicator_fields
        ]
    prep = prepared or prepare(lsoa, boroughs, simplify_m)
    view = view_payload(
        prep,
        lsoa,
        cans,
        title=title,
        notes=notes,
        measures=measures,
        scheme=scheme,
        k=k,
        palette=palette,
        area=area,
    )
    fmap = new_map()
    figure = fmap.get_root()
    figure.html.add_child(_JsonData("canrank-geometry", geometry_payload(prep)), name="geometry")
    inline_assets(figure)
    add_view(fmap, "canrank-geometry", "canrank-view-1", view)
    figure.title = title
    number_ids(figure)
    return fmap


def map_for_result(result: BuildResult, *, prepared: PreparedGeometry | None = None) -> folium.Map:
    """The interactive map of a finished build (``build(..., write=False)`` is enough)."""
    sc = result.study.scenario
    return make_map(
        result.lsoa,
        result.cans,
        title=scenario_title(sc),
        scheme=sc.map.scheme,
        k=sc.map.k,
        palette=sc.map.palette,
        simplify_m=sc.map.simplify_m,
        notes=[f"Proxy: {p}" for p in sc.proxies],
        boroughs=result.study.boroughs,
        indicators=sc.indicators,
        area=sc.area.label,
        prepared=prepared,
    )


def scenario_title(sc: Any) -> str:
    """The map title: what, where, which scenario, whether proxies are used."""
    text = f"canrank: Community Action Neighbourhoods, {sc.area.label}, scenario {sc.name}"
    return text + (" (uses proxies)" if sc.proxies else "")


_EXTERNAL = re.compile(
    r"<(?:script|img|iframe)\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//|"
    r"<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//|@import\s+url\(\s*[\"']?(?:https?:)?//",
    re.IGNORECASE,
)


def check_offline(page: str) -> None:
    """Raise if the page would load a script, style sheet or image from the network."""
    match = _EXTERNAL.search(page)
    if match:
        raise RuntimeError(f"map page references an external asset: {match.group(0)[:80]!r}")


def save_map(fmap: folium.Map | Figure, path: Path) -> None:
    """Render the page to ``path`` (UTF-8), refusing to write one that needs the network."""
    root = fmap.get_root() if isinstance(fmap, folium.Map) else fmap
    page = root.render()
    check_offline(page)
    Path(path).write_text(page, encoding="utf-8", newline="\n")
