"""The consultee map (``map.html``): one self-contained page that works offline on any screen.

:func:`write_map` takes the build's ``lsoa`` and ``cans`` tables (geometry in EPSG:27700), a
:class:`~canrank.maps.spec.MapSpec`, and optionally borough and ward polygons. The LSOA geometry
is embedded once and restyled in the browser for each measure, so an extra indicator costs a few
numbers per LSOA, not another copy of the area.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from canrank.maps.page import Page, check_offline, render_page
from canrank.maps.spec import MapSpec

if TYPE_CHECKING:
    import geopandas as gpd

    from canrank.maps.payload import PreparedGeometry

__all__ = ["check_offline", "map_page", "write_map"]


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
