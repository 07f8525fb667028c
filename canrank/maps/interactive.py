"""The consultee map (``map.html``): one self-contained page that works offline on any screen.

:func:`write_map` takes the build's ``lsoa`` and ``cans`` tables (geometry in EPSG:27700), a
:class:`~canrank.maps.spec.MapSpec`, and optionally borough and ward polygons. The LSOA geometry
is embedded once and restyled in the browser for each measure, so an extra indicator costs a few
numbers per LSOA, not another copy of the area. The older folium-era names (``make_map``,
``save_map``, ``map_for_result``) remain as thin wrappers until every caller has moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from canrank.maps.page import Page, check_offline, render_page
from canrank.maps.spec import MapSpec, MeasureInfo

if TYPE_CHECKING:
    import geopandas as gpd

    from canrank.maps.payload import PreparedGeometry

__all__ = [
    "check_offline",
    "make_map",
    "map_for_result",
    "map_page",
    "save_map",
    "scenario_title",
    "write_map",
]


def map_page(
    lsoa: gpd.GeoDataFrame,
    cans: gpd.GeoDataFrame,
    spec: MapSpec,
    *,
    boroughs: gpd.GeoDataFrame | None = None,
    wards: gpd.GeoDataFrame | None = None,
    prepared: PreparedGeometry | None = None,
) -> Page:
    """The page of one scenario (see :func:`write_map`)."""
    from canrank.maps.payload import geometry_payload, prepare, view_payload

    prep = prepared or prepare(lsoa, boroughs, spec.simplify_m, wards)
    view = view_payload(prep, lsoa, cans, spec)
    return render_page(spec.title, geometry_payload(prep), [view])


def write_map(
    lsoa: gpd.GeoDataFrame,
    cans: gpd.GeoDataFrame,
    spec: MapSpec,
    path: Path,
    *,
    boroughs: gpd.GeoDataFrame | None = None,
    wards: gpd.GeoDataFrame | None = None,
) -> None:
    """Write the interactive map of one scenario to ``path``.

    ``lsoa`` has the columns of the build's ``lsoa.csv`` (lsoa_code, lsoa_name, borough_name,
    population, ``<key>_value`` per indicator, score, rank, decile, can_id, ward_name ...) and
    geometry; ``cans`` the ``cans.csv`` columns (can_id, name, boroughs, n_lsoas, population,
    mean_score, best_rank ...). Identical inputs give identical bytes on any machine.
    """
    map_page(lsoa, cans, spec, boroughs=boroughs, wards=wards).save(Path(path))


# ---- the folium-era API, kept until the pipeline and CLI call write_map -------------------


def scenario_title(sc: Any) -> str:
    """The map title of a resolved scenario."""
    return f"Community Action Neighbourhoods, {sc.area.label}: scenario {sc.name}"


def _parts(result: Any) -> tuple[Any, Any, Any]:
    """(scenario, boroughs, wards) of a BuildResult (``.study``) or a Build."""
    study = getattr(result, "study", None)
    holder = study if study is not None else result
    return holder.scenario, getattr(holder, "boroughs", None), getattr(holder, "wards", None)


def spec_for_result(result: Any) -> MapSpec:
    """The MapSpec of a finished build (either Build or the older BuildResult)."""
    sc, _, _ = _parts(result)
    sel = getattr(result, "selection", None)
    return MapSpec.from_scenario(
        sc, n_lsoas=len(result.lsoa), selection_status=getattr(sel, "status", None)
    )


def map_for_result(result: Any, *, prepared: PreparedGeometry | None = None) -> Page:
    """The interactive map of a finished build."""
    _, boroughs, wards = _parts(result)
    return map_page(
        result.lsoa, result.cans, spec_for_result(result), boroughs=boroughs, wards=wards,
        prepared=prepared,
    )


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
    wards: gpd.GeoDataFrame | None = None,
) -> Page:
    """Older keyword API: build a MapSpec from the arguments and return the page."""
    if indicators is not None:
        infos = [
            MeasureInfo(i.key, i.label, i.direction, getattr(i, "reference_date", None),
                        getattr(i, "proxy_note", None))
            for i in indicators
        ]
    else:
        infos = [MeasureInfo(col.removesuffix("_value"), label) for col, label in indicator_fields]
    spec = MapSpec(
        title=title,
        scenario=title,
        area_label=area,
        n_lsoas=len(lsoa),
        measures=(MeasureInfo("score", "Composite score"), *infos),
        scheme=scheme,
        k=k,
        palette=palette,
        simplify_m=simplify_m,
        notes=tuple(notes),
    )
    return map_page(lsoa, cans, spec, boroughs=boroughs, wards=wards, prepared=prepared)


def save_map(page: Page, path: Path) -> None:
    """Write a page made by :func:`make_map`, :func:`map_for_result` or the compare map."""
    page.save(Path(path))
