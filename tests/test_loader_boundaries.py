"""Boundary loader: CRS checks, reprojection, geometry repair, and layouts of both publishers."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from canrank.errors import GeometryError, InputError
from canrank.loaders.boundaries import read_boroughs, read_lsoa_boundaries, read_wards

from synthetic import grid_boundaries


def test_reads_gpkg_in_bng(tmp_path: Path) -> None:
    path = tmp_path / "lsoa.gpkg"
    grid_boundaries(2, 3).to_file(path)
    frame = read_lsoa_boundaries(path)
    assert frame.crs.to_epsg() == 27700
    assert list(frame.columns) == ["lsoa_code", "lsoa_name", "lad_code", "lad_name", "geometry"]
    assert frame.attrs["lsoa_vintage"] == "2011"
    assert frame.attrs["repaired_geometries"] == []


def test_geojson_in_wgs84_is_reprojected(tmp_path: Path) -> None:
    path = tmp_path / "lsoa.geojson"
    grid = grid_boundaries(2, 2)
    grid.to_crs(4326).to_file(path, driver="GeoJSON")
    frame = read_lsoa_boundaries(path)
    assert frame.crs.to_epsg() == 27700
    assert abs(frame.total_bounds[0] - grid.total_bounds[0]) < 1.0


def test_shapefile_without_prj_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "lsoa.shp"
    grid_boundaries(2, 2).to_file(path)
    (tmp_path / "lsoa.prj").unlink()
    with pytest.raises(GeometryError, match=r"lsoa\.prj are missing") as info:
        read_lsoa_boundaries(path)
    assert info.value.file is not None and info.value.file.endswith("lsoa.prj")


def test_wrong_crs_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "lsoa.gpkg"
    grid_boundaries(2, 2).set_crs(4326, allow_override=True).to_file(path)
    with pytest.raises(GeometryError, match="look like metres"):
        read_lsoa_boundaries(path)
    other = tmp_path / "utm.gpkg"
    grid_boundaries(2, 2).set_crs(32630, allow_override=True).to_file(other)
    with pytest.raises(GeometryError, match="outside Great Britain"):
        read_lsoa_boundaries(other)


def test_invalid_geometry_is_repaired_and_reported(tmp_path: Path) -> None:
    grid = grid_boundaries(1, 2)
    x0, y0, x1, y1 = grid.geometry.iloc[0].bounds
    bowtie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])
    grid.loc[0, "geometry"] = bowtie
    assert not bowtie.is_valid
    path = tmp_path / "lsoa.gpkg"
    grid.to_file(path)
    frame = read_lsoa_boundaries(path)
    assert frame.is_valid.all()
    assert frame.attrs["repaired_geometries"] == ["E01000001"]
    assert frame.geometry.iloc[0].geom_type in {"Polygon", "MultiPolygon"}
    assert frame.geometry.iloc[0].area > 0


def test_missing_code_field_and_vintage_mismatch(tmp_path: Path) -> None:
    grid = grid_boundaries(1, 2).rename(columns={"LSOA11CD": "CODE_X"})
    path = tmp_path / "bad.gpkg"
    grid.to_file(path)
    with pytest.raises(InputError, match="no LSOA code field"):
        read_lsoa_boundaries(path)
    newer = grid_boundaries(1, 2).rename(columns={"LSOA11CD": "LSOA21CD"})
    path21 = tmp_path / "lsoa21.gpkg"
    newer.to_file(path21)
    with pytest.raises(InputError, match="LSOA 2021 boundaries but LSOA 2011"):
        read_lsoa_boundaries(path21, vintage="2011")


def test_duplicate_and_empty_files(tmp_path: Path) -> None:
    grid = grid_boundaries(1, 3)
    grid.loc[2, "LSOA11CD"] = grid.loc[0, "LSOA11CD"]
    path = tmp_path / "dup.gpkg"
    grid.to_file(path)
    with pytest.raises(InputError, match="appears more than once"):
        read_lsoa_boundaries(path)
    empty = tmp_path / "empty.geojson"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_lsoa_boundaries(empty)


@pytest.mark.realdata
def test_real_london_layers(mirror: Path) -> None:
    lsoa = read_lsoa_boundaries(next(mirror.rglob("LSOA_2011_London_gen_MHW.shp")))
    assert len(lsoa) == 4_835
    assert lsoa.is_valid.all()
    assert len(lsoa.attrs["repaired_geometries"]) == 8
    assert lsoa["lad_code"].nunique() == 33
    wards = read_wards(next(mirror.rglob("London_Ward_CityMerged.shp")))
    assert len(wards) == 625 and wards.crs.to_epsg() == 27700
    boroughs = read_boroughs(next(mirror.rglob("London_Borough_Excluding_MHW.shp")))
    assert sorted(boroughs["borough_code"])[0] == "E09000001" and len(boroughs) == 33


@pytest.mark.realdata
def test_real_england_wales_geojson(mirror: Path) -> None:
    frame = read_lsoa_boundaries(next(mirror.rglob("LSOA.geojson")))
    assert len(frame) == 34_753
    assert frame["lsoa_code"].str.startswith("W01").sum() == 1_909
    assert isinstance(frame, gpd.GeoDataFrame) and frame.crs.to_epsg() == 27700
