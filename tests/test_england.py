"""England-wide: every English LSOA ranked and CANs selected under the same rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from canrank.pipeline import build
from canrank.selection import validate_selection

from conftest import CONFIG


@pytest.mark.realdata
@pytest.mark.slow
def test_england_build(mirror: Path, tmp_path: Path) -> None:
    result = build(
        CONFIG,
        scenario="lcc-2017-proxies",
        area="england",
        mirror=mirror,
        raw_dir=tmp_path,
        write=False,
    )
    lsoa = result.lsoa
    assert len(lsoa) == 32_844
    assert lsoa["lsoa_code"].str.startswith("E01").all()
    assert lsoa["borough_code"].nunique() == 326
    assert result.manifest["contiguity"]["components"] >= 1
    assert len(result.cans) == 15
    problem_ids = {c: i for i, c in enumerate(result.graph.ids)}
    members = [
        np.array([problem_ids[c] for c in codes.split(";")]) for codes in result.cans["lsoa_codes"]
    ]
    assert validate_selection(result.problem(), members) == []
    assert result.cans["name"].is_unique
