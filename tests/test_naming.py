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
