"""CAN names: from wards when there is a ward layer, else from the MSOA part of LSOA names."""

from __future__ import annotations

import numpy as np
import pandas as pd

from canrank.naming import name_cans


def test_names_from_wards_with_boroughs_and_unique() -> None:
    frame = pd.DataFrame(
        {
            "lsoa_name": ["Haringey 001A", "Haringey 001B", "Haringey 002A", "Haringey 003A"],
            "ward_name": [
                "Northumberland Park",
                "Northumberland Park",
                "White Hart Lane",
                "Northumberland Park",
            ],
            "borough_name": ["Haringey"] * 4,
            "population": [1500.0, 1500.0, 200.0, 1400.0],
        }
    )
    names = name_cans(frame, np.array([1, 1, 1, 2]))
    assert names[1] == "Northumberland Park (Haringey)"
    # the second CAN in the same ward gets a distinct name
    assert names[2] != names[1] and names[2].startswith("Northumberland Park")


def test_second_ward_named_when_it_holds_a_quarter() -> None:
    frame = pd.DataFrame(
        {
            "lsoa_name": ["A 001A", "A 001B", "B 001A"],
            "ward_name": ["Wick", "Wick", "Chatham"],
            "borough_name": ["Hackney", "Hackney", "Islington"],
            "population": [1500.0, 1500.0, 1400.0],
        }
    )
    assert name_cans(frame, np.array([1, 1, 1]))[1] == "Wick & Chatham (Hackney / Islington)"


def test_names_without_wards_use_msoa_names() -> None:
    frame = pd.DataFrame(
        {
            "lsoa_name": ["Liverpool 023C", "Liverpool 023D", "Liverpool 031A", "Sefton 001A"],
            "borough_name": ["Liverpool", "Liverpool", "Liverpool", "Sefton"],
            "population": [1500.0, 1500.0, 1600.0, 100.0],
        }
    )
    names = name_cans(frame, np.array([1, 1, 1, 2]))
    assert names == {1: "Liverpool 023 & 031 (Liverpool)", 2: "Sefton 001 (Sefton)"}


def test_ward_of_each_lsoa_is_the_nearest_ward_of_its_point() -> None:
    """Points inside one ward, in a gap between wards and inside two overlapping wards: the
    fast query gives what the nearest-ward join gives for every one of them."""
    import geopandas as gpd
    import shapely

    from canrank.naming import assign_wards

    wards = gpd.GeoDataFrame(
        {"ward_name": ["West", "East", "Overlap", "Far"]},
        geometry=[
            shapely.box(0, 0, 100, 100),
            shapely.box(110, 0, 200, 100),  # a 10 m gap from West
            shapely.box(150, 50, 260, 150),  # overlaps East
            shapely.box(500, 500, 600, 600),
        ],
        crs=27700,
    )
    centres = [(50, 50), (104, 50), (108, 50), (130, 20), (170, 80), (240, 140), (400, 400)]
    lsoa = gpd.GeoDataFrame(
        {"lsoa_code": [f"E0100000{i}" for i in range(len(centres))]},
        geometry=[shapely.box(x - 1, y - 1, x + 1, y + 1) for x, y in centres],
        crs=27700,
        index=pd.Index(range(10, 10 + len(centres))),
    )
    got = assign_wards(lsoa, wards)
    points = gpd.GeoDataFrame(geometry=lsoa.geometry.representative_point(), crs=27700)
    joined = gpd.sjoin_nearest(points, wards[["ward_name", "geometry"]], how="left")
    expected = joined[~joined.index.duplicated(keep="first")]["ward_name"]
    assert got.index.equals(lsoa.index)
    assert got.tolist() == expected.tolist()
    assert got.tolist()[:4] == ["West", "West", "East", "East"]
