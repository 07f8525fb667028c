"""Contiguity on boundaries that do not share vertices, and on the real London layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from canrank.contiguity import Contiguity
from canrank.loaders.boundaries import read_lsoa_boundaries

from synthetic import grid_boundaries


def _grid(rows: int, cols: int, gap: float = 0.3) -> Contiguity:
    g = grid_boundaries(rows, cols, gap=gap)
    return Contiguity.from_geometry(g.geometry.values, list(g["LSOA11CD"]), tolerance_m=1.0)


def test_rook_on_gapped_grid_finds_edge_neighbours_only() -> None:
    graph = _grid(3, 3)
    assert graph.n_edges == 12  # 3x3 grid: 6 horizontal + 6 vertical
    assert sorted(graph.neighbors(4).tolist()) == [1, 3, 5, 7]
    assert graph.n_components == 1 and graph.islands == []


def test_queen_adds_corner_neighbours() -> None:
    g = grid_boundaries(3, 3, gap=0.3)
    queen = Contiguity.from_geometry(g.geometry.values, list(g["LSOA11CD"]), rule="queen")
    assert queen.n_edges == 20  # 12 edges + 8 diagonals
    assert len(queen.neighbors(4)) == 8


def test_gap_wider_than_tolerance_makes_islands() -> None:
    graph = _grid(2, 2, gap=5.0)
    assert graph.n_edges == 0
    assert graph.islands == ["E01000001", "E01000002", "E01000003", "E01000004"]
    assert graph.n_components == 4


def test_exact_touching_needs_no_tolerance() -> None:
    g = grid_boundaries(1, 3, gap=0.0)
    graph = Contiguity.from_geometry(g.geometry.values, list(g["LSOA11CD"]), tolerance_m=0.0)
    assert graph.n_edges == 2


def test_shared_border_length_and_short_contacts() -> None:
    a = shapely.box(0, 0, 100, 100)
    b = shapely.box(100.2, 0, 200, 100)  # shares 100 m with a, 0.2 m apart
    c = shapely.box(100.2, 99.0, 200, 300)  # touches a along 1 m only
    graph = Contiguity.from_geometry([a, b, c], ["E01000001", "E01000002", "E01000003"])
    assert graph.neighbors(0).tolist() == [1]
    # measured inside a tolerance buffer, so up to 2 x tolerance of end effects
    assert graph.shared_m[0] == pytest.approx(100, abs=2.0)
    loose = Contiguity.from_geometry(
        [a, b, c], ["E01000001", "E01000002", "E01000003"], min_shared_m=0.5
    )
    assert loose.neighbors(0).tolist() == [1, 2]


def test_connectivity_queries() -> None:
    graph = _grid(3, 3)
    assert graph.is_connected([0, 1, 2])
    assert not graph.is_connected([0, 2])
    assert not graph.is_connected([])
    assert graph.touches([0], [1]) and not graph.touches([0], [8])
    with pytest.raises(ValueError, match="read-only"):
        graph.indices[0] = 5
    summary = graph.summary()
    assert summary["edges"] == 12 and summary["components"] == 1


def test_from_edges_merges_duplicates() -> None:
    graph = Contiguity.from_edges(["a", "b", "c"], [(0, 1), (1, 0), (1, 2)], [3.0, 5.0, 1.0])
    assert graph.n_edges == 2
    assert graph.neighbors(1).tolist() == [0, 2]
    assert np.isclose(graph.shared_m[graph.indptr[0]], 5.0)


@pytest.mark.realdata
def test_real_london_contiguity(mirror: Path) -> None:
    lsoa = read_lsoa_boundaries(next(mirror.rglob("LSOA_2011_London_gen_MHW.shp")))
    graph = Contiguity.from_geometry(lsoa.geometry.values, list(lsoa["lsoa_code"]))
    assert graph.islands == []
    assert graph.n_components == 1
    assert 5.5 < graph.degree().mean() < 6.2
    # a vertex-based Queen graph (libpysal) finds almost no neighbours on this layer
    from libpysal.weights import Queen

    queen = Queen.from_dataframe(lsoa, use_index=False, silence_warnings=True)
    assert queen.mean_neighbors < 1.0 < graph.degree().mean()
