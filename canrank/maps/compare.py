"""Two scenarios side by side on synchronised maps, with the CANs that differ highlighted.

Like folium's DualMap, but self-contained: the LSOA geometry is embedded once and drawn by both
panels, and the two views are kept in step by a few lines of inline script (DualMap loads
Leaflet.Sync from a CDN).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from branca.element import Figure, MacroElement
from jinja2 import Template

from canrank.errors import InputError
from canrank.maps.interactive import (
    _JsonData,
    add_view,
    inline_assets,
    measures_for,
    new_map,
    number_ids,
    scenario_title,
)
from canrank.maps.payload import PreparedGeometry, geometry_payload, prepare, view_payload

if TYPE_CHECKING:
    from canrank.pipeline import BuildResult

__all__ = ["can_sets", "changed_cans", "compare_map"]


class _Sync(MacroElement):
    """Keeps the two panels on the same centre and zoom."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "canrankMap.sync({{ this.a.get_name() }}, {{ this.b.get_name() }});"
        "{% endmacro %}"
    )

    def __init__(self, a: Any, b: Any) -> None:
        super().__init__()
        self._name = "canrank_sync"
        self.a = a
        self.b = b


def can_sets(result: BuildResult) -> dict[int, frozenset[str]]:
    """Each CAN's LSOA codes."""
    return {
        int(row.can_id): frozenset(str(row.lsoa_codes).split(";"))
        for row in result.cans.itertuples()
    }


def changed_cans(a: BuildResult, b: BuildResult) -> tuple[list[int], list[int]]:
    """CAN numbers of ``a`` and of ``b`` with no CAN of exactly the same LSOAs in the other."""
    sa, sb = can_sets(a), can_sets(b)
    in_b, in_a = set(sb.values()), set(sa.values())
    return (
        sorted(k for k, v in sa.items() if v not in in_b),
        sorted(k for k, v in sb.items() if v not in in_a),
    )


def _view(result: BuildResult, prep: PreparedGeometry, changed: list[int], other: str) -> dict:
    sc = result.study.scenario
    return view_payload(
        prep,
        result.lsoa,
        result.cans,
        title=scenario_title(sc),
        notes=[f"Proxy: {p}" for p in sc.proxies],
        measures=measures_for(sc.indicators),
        scheme=sc.map.scheme,
        k=sc.map.k,
        palette=sc.map.palette,
        area=sc.area.label,
        changed=changed,
        changed_note=f"CAN not in scenario {other} (dashed)",
    )


def compare_map(result_a: BuildResult, result_b: BuildResult) -> Figure:
    """A page with scenario A on the left and B on the right, moving together.

    Both builds must cover the same LSOAs (the same study area); get them with
    ``canrank.pipeline.build(..., write=False)``.
    """
    codes_a = set(result_a.lsoa["lsoa_code"].astype(str))
    codes_b = set(result_b.lsoa["lsoa_code"].astype(str))
    if codes_a != codes_b:
        raise InputError(
            f"the two scenarios cover different areas ({len(codes_a)} and {len(codes_b)} LSOAs, "
            f"{len(codes_a ^ codes_b)} not in both)",
            hint="compare scenarios of the same study area",
        )
    sc_a, sc_b = result_a.study.scenario, result_b.study.scenario
    prep = prepare(result_a.lsoa, result_a.study.boroughs, sc_a.map.simplify_m)
    changed_a, changed_b = changed_cans(result_a, result_b)
    figure = Figure(title=f"canrank: {sc_a.name} vs {sc_b.name}")
    figure.html.add_child(_JsonData("canrank-geometry", geometry_payload(prep)), name="geometry")
    inline_assets(figure)
    maps = []
    for j, (res, changed, other) in enumerate(
        ((result_a, changed_a, sc_b.name), (result_b, changed_b, sc_a.name))
    ):
        fmap = new_map(width="50%", height="100%", left=f"{50 * j}%", top="0%", position="absolute")
        figure.add_child(fmap, name=f"map_{j}")
        add_view(
            fmap, "canrank-geometry", f"canrank-view-{j + 1}", _view(res, prep, changed, other)
        )
        maps.append(fmap)
    _Sync(maps[0], maps[1]).add_to(figure)
    number_ids(figure)
    return figure
