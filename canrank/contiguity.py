"""Contiguity between areas on real boundary files, as an immutable sparse graph.

Published generalised LSOA boundaries (e.g. the London Datastore layer) do not share vertices
between neighbours and contain self-intersecting rings, so vertex-hash Queen contiguity
(libpysal ``Queen.from_dataframe``) finds almost no neighbours. Here geometry is repaired first
and two areas are neighbours when they lie within ``tolerance`` metres of each other and, for
the rook rule, share at least ``min_shared`` metres of border (measured as the length of one
boundary inside a ``tolerance`` buffer of the other). This is the fuzzy contiguity of libpysal's
``Graph.build_fuzzy_contiguity`` with a shared-border test added so that corner touches can be
excluded; it is written here because libpysal's builders do not report the shared length.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from canrank.cores import available_cores

__all__ = ["Contiguity"]


def _in_threads(func: Callable[..., np.ndarray], *arrays: np.ndarray) -> np.ndarray:
    """``func`` (a vectorised shapely function, which releases the GIL) over aligned arrays,
    in two halves on two threads when the machine has the cores; the halves are joined in
    order, so the result is identical to one call."""
    n = len(arrays[0])
    if available_cores() < 2 or n < 512:
        return np.asarray(func(*arrays))
    half = n // 2
    with ThreadPoolExecutor(max_workers=2) as pool:
        parts = list(pool.map(lambda sl: np.asarray(func(*(a[sl] for a in arrays))),
                              (slice(0, half), slice(half, n))))
    return np.concatenate(parts)


@dataclass(frozen=True, eq=False)
class Contiguity:
    """Symmetric adjacency between ``ids`` (CSR arrays) with the shared border length per edge.

    Build with :meth:`from_geometry` or :meth:`from_edges`; instances are immutable.
    """

    ids: tuple[str, ...]
    indptr: np.ndarray
    indices: np.ndarray
    shared_m: np.ndarray
    rule: str = "rook"
    tolerance_m: float = 0.0
    min_shared_m: float = 0.0
    _labels: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for arr in (self.indptr, self.indices, self.shared_m):
            arr.setflags(write=False)
        _, labels = connected_components(self.to_sparse(), directed=False)
        labels.setflags(write=False)
        object.__setattr__(self, "_labels", labels)

    # -- builders -------------------------------------------------------------------------
    @classmethod
    def from_edges(
        cls,
        ids: Sequence[str],
        edges: Sequence[tuple[int, int]] | np.ndarray,
        shared_m: Sequence[float] | np.ndarray | None = None,
        **meta: object,
    ) -> Contiguity:
        """Build from undirected index pairs (each pair once or twice; duplicates merged)."""
        n = len(ids)
        e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        w = np.ones(len(e)) if shared_m is None else np.asarray(shared_m, dtype=float)
        keep = e[:, 0] != e[:, 1]
        e, w = e[keep], w[keep]
        rows = np.concatenate([e[:, 0], e[:, 1]])
        cols = np.concatenate([e[:, 1], e[:, 0]])
        vals = np.concatenate([w, w])
        mat = sparse.coo_matrix((vals, (rows, cols)), shape=(n, n)).tocsr()
        mat.sum_duplicates()
        mat.sort_indices()
        # duplicates were summed; restore the single length (max of the two measurements)
        lengths = sparse.coo_matrix((vals, (rows, cols)), shape=(n, n))
        maxed = _max_duplicates(lengths, n)
        return cls(
            ids=tuple(ids),
            indptr=mat.indptr.astype(np.int64),
            indices=mat.indices.astype(np.int64),
            shared_m=maxed,
            **meta,  # type: ignore[arg-type]
        )

    @classmethod
    def from_geometry(
        cls,
        geometry: Sequence[shapely.Geometry] | np.ndarray,
        ids: Sequence[str],
        *,
        tolerance_m: float = 1.0,
        rule: str = "rook",
        min_shared_m: float = 5.0,
    ) -> Contiguity:
        """Neighbours within ``tolerance_m`` metres; rook also needs ``min_shared_m`` of border.

        Geometry must be projected in metres (EPSG:27700) and valid (the boundary loader
        repairs it).
        """
        if rule not in ("rook", "queen"):
            raise ValueError("rule must be 'rook' or 'queen'")
        geoms = np.asarray(geometry, dtype=object)
        tree = shapely.STRtree(geoms)
        # candidate pairs by envelopes grown by the tolerance, then the exact test
        box = shapely.bounds(geoms) + np.array([-1.0, -1.0, 1.0, 1.0]) * max(tolerance_m, 0.0)
        left, right = tree.query(shapely.box(box[:, 0], box[:, 1], box[:, 2], box[:, 3]))
        keep = left < right
        left, right = left[keep], right[keep]
        if tolerance_m > 0:
            near = _in_threads(lambda a, b: shapely.dwithin(a, b, tolerance_m),
                               geoms[left], geoms[right])
        else:
            near = _in_threads(shapely.intersects, geoms[left], geoms[right])
        left, right = left[near], right[near]
        buffer = max(tolerance_m, 0.01)
        # each area's buffer and boundary once; the intersections pair by pair
        zone = _in_threads(lambda g: shapely.buffer(g, buffer, quad_segs=2), geoms)
        edge = _in_threads(shapely.boundary, geoms)
        shared = _in_threads(lambda b, z: shapely.length(shapely.intersection(b, z)),
                             edge[right], zone[left])
        if rule == "rook":
            ok = shared >= max(min_shared_m, 2.5 * buffer)
            left, right, shared = left[ok], right[ok], shared[ok]
        return cls.from_edges(
            ids,
            np.column_stack([left, right]),
            shared,
            rule=rule,
            tolerance_m=float(tolerance_m),
            min_shared_m=float(min_shared_m if rule == "rook" else 0.0),
        )

    # -- queries --------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of areas."""
        return len(self.ids)

    @property
    def n_edges(self) -> int:
        """Number of undirected neighbour pairs."""
        return len(self.indices) // 2

    def degree(self) -> np.ndarray:
        """Neighbour count per area."""
        return np.diff(self.indptr)

    def neighbors(self, i: int) -> np.ndarray:
        """Indices of the neighbours of area ``i`` (ascending)."""
        return self.indices[self.indptr[i] : self.indptr[i + 1]]

    @property
    def islands(self) -> list[str]:
        """Ids of areas with no neighbour at all."""
        return [self.ids[i] for i in np.flatnonzero(self.degree() == 0)]

    @property
    def component_labels(self) -> np.ndarray:
        """Connected-component label per area (read-only)."""
        return self._labels

    @property
    def n_components(self) -> int:
        """Number of connected components (islands count as components)."""
        return int(self._labels.max()) + 1 if self.n else 0

    def to_sparse(self) -> sparse.csr_matrix:
        """Binary symmetric adjacency as a SciPy CSR matrix."""
        data = np.ones(len(self.indices), dtype=np.int8)
        return sparse.csr_matrix((data, self.indices, self.indptr), shape=(self.n, self.n))

    def is_connected(self, members: Sequence[int] | np.ndarray) -> bool:
        """True when ``members`` induce a connected subgraph (an empty set is not connected)."""
        idx = np.unique(np.asarray(members, dtype=np.int64))
        if len(idx) == 0:
            return False
        sub = self.to_sparse()[idx][:, idx]
        count, _ = connected_components(sub, directed=False)
        return count == 1

    def touches(self, a: Sequence[int] | np.ndarray, b: Sequence[int] | np.ndarray) -> bool:
        """True when some member of ``a`` neighbours (or is) a member of ``b``."""
        bset = set(np.asarray(b).tolist())
        return any(int(i) in bset or bset.intersection(self.neighbors(int(i)).tolist()) for i in a)

    def summary(self) -> dict[str, object]:
        """Diagnostics for the manifest: rule, tolerance, mean degree, islands, components."""
        deg = self.degree()
        sizes = np.bincount(self._labels) if self.n else np.array([], dtype=int)
        return {
            "rule": self.rule,
            "tolerance_m": self.tolerance_m,
            "min_shared_m": self.min_shared_m,
            "areas": self.n,
            "edges": self.n_edges,
            "mean_neighbours": round(float(deg.mean()), 3) if self.n else 0.0,
            "islands": self.islands,
            "components": self.n_components,
            "component_sizes": sorted((int(s) for s in sizes), reverse=True)[:10],
        }


def _max_duplicates(coo: sparse.coo_matrix, n: int) -> np.ndarray:
    """CSR-ordered data of a COO matrix where duplicate entries keep their maximum."""
    order = np.lexsort((coo.col, coo.row))
    r, c, v = coo.row[order], coo.col[order], coo.data[order]
    if len(r) == 0:
        return np.zeros(0)
    first = np.ones(len(r), dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    groups = np.cumsum(first) - 1
    out = np.full(int(groups[-1]) + 1, -np.inf)
    np.maximum.at(out, groups, v)
    return out
