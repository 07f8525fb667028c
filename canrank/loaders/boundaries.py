"""LSOA, ward and borough boundaries (ONS and London Datastore), returned in EPSG:27700 and valid.

Boundary files arrive as shapefiles, GeoJSON or GeoPackage with 2011 or 2021 codes. This module
checks the CRS (a file without one, or whose coordinates do not fit it, is rejected), reprojects
to British National Grid, and repairs invalid polygons with ``shapely.make_valid``, keeping only
their polygonal parts, so that contiguity and dissolves downstream are sound.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

from canrank.errors import GeometryError, InputError, quote
from canrank.loaders._validate import check_lsoa_codes

__all__ = ["BNG", "read_boroughs", "read_lsoa_boundaries", "read_wards", "repair_geometry"]

BNG = "EPSG:27700"
#: Extent of Great Britain in British National Grid metres, used to catch a mislabelled CRS.
_GB_BOUNDS = (-10_000.0, -10_000.0, 700_000.0, 1_300_000.0)

_CODE_FIELDS = ("LSOA11CD", "LSOA21CD", "lsoa11cd", "lsoa21cd", "LSOA_CODE", "code")
_NAME_FIELDS = ("LSOA11NM", "LSOA21NM", "lsoa11nm", "lsoa21nm", "LSOA_NAME", "name")
_LAD_FIELDS = ("LAD11CD", "LAD21CD", "LAD22CD", "LAD23CD", "LAD24CD")
_LAD_NAME_FIELDS = ("LAD11NM", "LAD21NM", "LAD22NM", "LAD23NM", "LAD24NM")


#: Files a shapefile needs beside its ``.shp``: index, attributes and coordinate system.
SHAPEFILE_SIDECARS = (".shx", ".dbf", ".prj")


def missing_sidecars(path: Path) -> list[Path]:
    """The sidecar files of a shapefile that are not beside it (either case of suffix)."""
    if path.suffix.lower() != ".shp":
        return []
    missing = []
    for ext in SHAPEFILE_SIDECARS:
        if not any(path.with_suffix(e).is_file() for e in (ext, ext.upper())):
            missing.append(path.with_suffix(ext))
    return missing


def _read(path: Path, layer: str | None, what: str) -> gpd.GeoDataFrame:
    """Open a vector file with pyogrio, turning driver errors into ``InputError``."""
    if not path.exists():
        raise InputError("file not found", file=path, hint="check the path or run `canrank fetch`")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError("the file is empty", file=path, hint=f"download the {what} again")
    missing = missing_sidecars(path)
    if missing:
        names = ", ".join(p.name for p in missing)
        error = GeometryError if [p.suffix for p in missing] == [".prj"] else InputError
        raise error(
            f"the shapefile's companion file(s) {names} are missing; a shapefile is several "
            "files that must sit together (.shp geometry, .shx index, .dbf attributes, "
            ".prj coordinate system)",
            file=missing[0],
            hint=f"copy {names} from the same download into {path.parent}, or download the "
            f"{what} again",
        )
    try:
        frame = pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:  # pyogrio raises several driver-specific error types
        raise InputError(
            f"cannot read {what}: {exc}",
            file=path,
            hint="check the file is complete (for a shapefile, the .shp, .shx, .dbf and .prj "
            "must sit together)",
        ) from exc
    if frame.empty:
        raise InputError(f"the {what} file has no features", file=path, hint="download it again")
    return frame


def _to_bng(frame: gpd.GeoDataFrame, path: Path) -> gpd.GeoDataFrame:
    """Reproject to EPSG:27700 after checking the declared CRS fits the coordinates.

    Only ``total_bounds`` is used before the checks pass, so a wrong CRS is reported at once
    instead of after minutes of geometry work (degrees read as metres make every polygon a
    neighbour of every other).
    """
    if frame.crs is None:
        raise GeometryError(
            "the file has no coordinate reference system (for a shapefile: no .prj file)",
            file=path,
            hint="use the file as published, with its .prj, or a GeoJSON/GeoPackage with a CRS",
        )
    minx, miny, maxx, maxy = frame.total_bounds
    if not np.isfinite([minx, miny, maxx, maxy]).all():
        raise GeometryError(
            "the coordinates include infinite or missing (NaN) values",
            file=path,
            hint="use the boundary file as published",
        )
    if frame.crs.is_projected and -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90:
        raise GeometryError(
            f"the file declares the projected CRS {frame.crs.name} (metres) but every "
            f"coordinate lies within ({minx:.3f}, {miny:.3f})-({maxx:.3f}, {maxy:.3f}): these "
            "look like longitude/latitude degrees",
            file=path,
            hint="the file's CRS is wrong: declare EPSG:4326 (WGS 84) for longitude/latitude, "
            "or use the boundary file as published",
        )
    if frame.crs.is_geographic and not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise GeometryError(
            f"the CRS is geographic ({frame.crs.name}) but coordinates reach "
            f"({minx:.0f}, {miny:.0f}); they look like metres",
            file=path,
            hint="the file's CRS is wrong; re-download it or set the right CRS",
        )
    if frame.crs.to_epsg(min_confidence=20) != 27700:
        frame = frame.to_crs(BNG)
    else:
        frame = frame.set_crs(BNG, allow_override=True)
    minx, miny, maxx, maxy = frame.total_bounds
    gx0, gy0, gx1, gy1 = _GB_BOUNDS
    if not (gx0 <= minx and gy0 <= miny and maxx <= gx1 and maxy <= gy1):
        raise GeometryError(
            f"coordinates ({minx:.0f}, {miny:.0f})-({maxx:.0f}, {maxy:.0f}) are outside Great "
            f"Britain in EPSG:27700: the declared CRS ({frame.crs.name}) is wrong",
            file=path,
            hint="re-download the boundaries; do not edit the .prj",
        )
    return frame


def repair_geometry(frame: gpd.GeoDataFrame, *, path: Path, id_column: str) -> gpd.GeoDataFrame:
    """Make every geometry valid and polygonal; record what was repaired in ``attrs``."""
    geoms = frame.geometry.values
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise GeometryError(
            f"feature {quote(frame[id_column].iloc[i])} has no geometry "
            f"({int(missing.sum())} such feature(s))",
            file=path,
            row=i + 1,
            hint="use the complete published boundary file",
        )
    invalid = ~shapely.is_valid(geoms)
    repaired = list(frame.loc[invalid, id_column].astype(str))
    if invalid.any():
        fixed = shapely.make_valid(geoms[invalid])
        # make_valid can return collections holding lines; keep the polygonal parts only.
        parts = shapely.get_parts(fixed, return_index=True)
        polys = shapely.get_type_id(parts[0]) == 3
        multi = [
            shapely.multipolygons(parts[0][polys & (parts[1] == k)]) for k in range(len(fixed))
        ]
        geoms = geoms.copy()
        geoms[invalid] = np.array(multi, dtype=object)
        still = ~shapely.is_valid(geoms) | shapely.is_empty(geoms)
        if still.any():
            i = int(np.flatnonzero(still)[0])
            raise GeometryError(
                f"feature {quote(frame[id_column].iloc[i])} has invalid geometry that could not "
                "be repaired",
                file=path,
                row=i + 1,
                hint="use the published boundary file (generalised or full resolution)",
            )
        frame = frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs))
    frame.attrs["repaired_geometries"] = repaired
    return frame


def _first(fields: tuple[str, ...], columns: list[str]) -> str | None:
    return next((f for f in fields if f in columns), None)


def read_lsoa_boundaries(
    path: str | Path, *, layer: str | None = None, vintage: str | None = None
) -> gpd.GeoDataFrame:
    """Read LSOA polygons (London Datastore or ONS; 2011 or 2021) as a valid EPSG:27700 frame.

    Columns: ``lsoa_code``, ``lsoa_name``, ``lad_code``/``lad_name`` where the file has them,
    ``geometry``. ``attrs['lsoa_vintage']`` says 2011 or 2021, from the code field name.
    """
    path = Path(path)
    raw = _read(path, layer, "LSOA boundaries")
    columns = list(raw.columns)
    code = _first(_CODE_FIELDS, columns)
    if code is None:
        raise InputError(
            "no LSOA code field (expected LSOA11CD or LSOA21CD); fields are "
            + ", ".join(quote(c) for c in columns if c != "geometry"),
            file=path,
            column="LSOA11CD",
            hint="use an ONS or London Datastore LSOA boundary file",
        )
    file_vintage = "2021" if "21" in code else "2011"
    if vintage is not None and vintage != file_vintage:
        raise InputError(
            f"these are LSOA {file_vintage} boundaries but LSOA {vintage} ones are needed",
            file=path,
            column=code,
            hint="use boundaries of the same vintage as the indicators, or a vintage lookup",
        )
    name = _first(_NAME_FIELDS, columns)
    lad = _first(_LAD_FIELDS, columns)
    lad_name = _first(_LAD_NAME_FIELDS, columns)
    out = gpd.GeoDataFrame(
        {
            "lsoa_code": raw[code].astype(str).str.strip(),
            "lsoa_name": raw[name].astype(str) if name else raw[code].astype(str),
        },
        geometry=raw.geometry,
        crs=raw.crs,
    )
    if lad:
        out.insert(2, "lad_code", raw[lad].astype(str).str.strip())
    if lad_name:
        out.insert(3, "lad_name", raw[lad_name].astype(str))
    check_lsoa_codes(
        out["lsoa_code"],
        file=path,
        column=code,
        header_rows=0,
        countries="EW",
        vintage=file_vintage,
    )
    out = _to_bng(out, path)
    out = repair_geometry(out, path=path, id_column="lsoa_code")
    out = out.sort_values("lsoa_code", kind="stable").reset_index(drop=True)
    out.attrs["lsoa_vintage"] = file_vintage
    return out


def read_wards(path: str | Path, *, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read London Datastore ward polygons: ``ward_code``, ``ward_name``, ``borough_name``."""
    path = Path(path)
    raw = _read(path, layer, "ward boundaries")
    columns = list(raw.columns)
    for field in ("NAME", "GSS_CODE"):
        if field not in columns:
            raise InputError(
                "this is not a London Datastore ward layer (fields NAME, GSS_CODE, BOROUGH)",
                file=path,
                column=field,
                hint="use London_Ward_CityMerged.shp from statistical-gis-boundaries-london",
            )
    out = gpd.GeoDataFrame(
        {
            "ward_code": raw["GSS_CODE"].astype(str),
            "ward_name": raw["NAME"].astype(str),
            "borough_name": raw["BOROUGH"].astype(str) if "BOROUGH" in columns else "",
        },
        geometry=raw.geometry,
        crs=raw.crs,
    )
    out = _to_bng(out, path)
    return repair_geometry(out, path=path, id_column="ward_code")


def read_boroughs(path: str | Path, *, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read London borough polygons: ``borough_code``, ``borough_name``."""
    path = Path(path)
    raw = _read(path, layer, "borough boundaries")
    if "GSS_CODE" not in raw.columns or "NAME" not in raw.columns:
        raise InputError(
            "this is not a London Datastore borough layer (fields NAME, GSS_CODE)",
            file=path,
            column="GSS_CODE",
            hint="use London_Borough_Excluding_MHW.shp",
        )
    out = gpd.GeoDataFrame(
        {"borough_code": raw["GSS_CODE"].astype(str), "borough_name": raw["NAME"].astype(str)},
        geometry=raw.geometry,
        crs=raw.crs,
    )
    out = _to_bng(out, path)
    return repair_geometry(out, path=path, id_column="borough_code")
