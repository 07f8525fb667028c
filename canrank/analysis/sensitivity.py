"""How stable are the build's published CANs? Uncertainty and sensitivity analysis of a build.

Reads a build (never rebuilds it): the nominal is the build's own selection, under its own
CAN ids and names, with its overrides. Each Monte Carlo *draw* perturbs the modeller's choices
(OECD/JRC Handbook on Constructing Composite Indicators, 2008, step 7; COINr's
``get_sensitivity``), re-ranks every LSOA and re-selects the CANs with the build's method:
``optimal`` (exact, warm-started from the nominal solve's candidate CANs and duals) or, when
asked by name, ``greedy`` (which then measures the stability of the greedy rule).

Factors and their encoding. A draw is a point ``u`` of the unit cube ``[0, 1)^k``, one
coordinate per active factor:

* ``weight:<key>`` (one per indicator): ``uniform`` maps ``u`` to ``w0 x (1 - s + 2 s u)``
  (the JRC's usual +/- ``s`` = 25 %); ``dirichlet`` maps it to the Gamma(``c w0``) quantile of
  ``u`` (independent Gammas, normalised, are a Dirichlet(``c w0``) draw); ``fixed`` keeps
  ``w0`` (no weight factors). Weights are then rescaled to sum to one.
* ``normalisation``: option ``floor(u T)`` of the ``T`` normalisations (all indicators at once).
* ``leave_out``: ``floor(u (m + 1)) - 1``: -1 keeps every indicator, ``j`` drops indicator ``j``
  (its weight becomes 0 before rescaling).

Results: for each published CAN, the share of draws that select it, where a draw *selects* a
published CAN when one of the draw's CANs has a Jaccard overlap of LSOAs with it of at least
``match`` (0.5 by default), with a Wilson 95 % interval; for each LSOA, the probability of
being in some CAN (Wilson interval) and its 5-50-95 % rank percentiles.

Variance-based indices (Saltelli et al. 2010, *Comput. Phys. Commun.* 181, 259-270; as in the
JRC handbook and COINr): each draw ``d`` has two independent points ``A_d`` and ``B_d`` and,
for each factor ``i``, ``AB_d^i`` (``A_d`` with coordinate ``i`` from ``B_d``). For an output
``f`` (a CAN's 0/1 selection indicator, an LSOA's rank), ``mu`` and ``V`` its mean and
variance over ``A`` and ``B``: first order ``S_i = mean((f(B) - mu)(f(AB^i) - f(A))) / V``
(Saltelli 2010, on centred outputs as SALib does) and total
``S_Ti = mean((f(A) - f(AB^i))^2) / (2 V)`` (Jansen 1999). Uncertainty figures use the ``A``
points only (independent draws); ``B`` and ``AB`` cost ``k + 1`` more selections a draw.

Reproducible at any scale: draw ``d``'s points come from
``SeedSequence(seed, spawn_key=(d,))`` (the ``d``-th child of ``SeedSequence(seed).spawn``),
every draw warm-starts from the *nominal* solve (never from another draw), and every aggregate
is an integer sum. So one process, a LocalCluster or a remote scheduler give identical results
however the draws are chunked. Batches are checkpointed as Parquet parts
(``<build>/sensitivity/draws/part-<start>-<stop>.parquet``); a killed run resumes from them.
``precision`` stops at the first check boundary (every ``check_every`` draws, fixed, so the
stopping point does not depend on chunking or speed) where every Wilson interval is narrower.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from canrank.composite import TRANSFORMS, aggregate, normalise, winsorise
from canrank.errors import ConfigError, InputError
from canrank.selection.fast_greedy import njit

if TYPE_CHECKING:
    from canrank.builds import Build
    from canrank.selection import Selection, SelectionProblem

__all__ = [
    "MATCH_RULE",
    "NORMALISATIONS",
    "Design",
    "DrawBatch",
    "Factor",
    "SensitivityInputs",
    "SensitivityResult",
    "decode_points",
    "indices_from_sums",
    "inputs_from_build",
    "match_cans",
    "run_batch",
    "run_sensitivity",
    "saltelli_sums",
    "sample_points",
    "wilson",
    "with_design",
]

#: Normalisations a draw may pick (the Handbook's ranking, z-score, min-max, and the IoD's
#: exponential transform of the rank).
NORMALISATIONS = ("rank", "zscore", "minmax", "exp_rank")
#: How a draw's CAN is matched to a published CAN (``{match}`` is the threshold).
MATCH_RULE = (
    "a draw selects a published CAN when one of the draw's CANs has a Jaccard overlap of LSOAs "
    "(shared LSOAs / LSOAs in either) of at least {match} with it"
)
#: Up to this many LSOAs, rank percentiles are exact (one histogram bin per rank).
EXACT_RANK_LIMIT = 8192
#: Beyond it, ranks are counted in this many equal-width bins (reported at the bin centre).
RANK_BINS = 4096
#: Options of a warm-started exact draw: the nominal solve's candidate CANs replace the pool
#: of regions grown from seeds (measured on London: 30 % less CPU a draw, same optimum;
#: the status still proves optimality).
WARM_OPTIONS: dict[str, Any] = {"pool_seeds": 0}
#: z of the two-sided 95 % Wilson interval.
Z95 = 1.959963984540054
#: Greedy runs with fewer evaluations than this stay in-process (a cluster costs seconds).
LOCAL_CLUSTER_MIN_EVALS = 16_000


@dataclass(frozen=True)
class Design:
    """What a draw varies (defaults: JRC audit practice) and whether indices are estimated."""

    weights: Literal["uniform", "dirichlet", "fixed"] = "uniform"
    spread: float = 0.25  # uniform: each weight x U(1 - spread, 1 + spread)
    concentration: float = 50.0  # dirichlet: alpha = concentration x nominal weights
    normalisations: tuple[str, ...] = NORMALISATIONS  # empty: the scenario's own transforms
    leave_one_out: bool = True
    indices: bool = True  # Saltelli A/B/AB design (k + 2 selections a draw)
    match: float = 0.5  # Jaccard threshold for "the draw selects this published CAN"

    def check(self, aggregation: str = "arithmetic") -> None:
        """Raise ConfigError for a design that cannot be run."""
        if self.weights not in ("dirichlet", "uniform", "fixed"):
            raise ConfigError(
                f"unknown weight perturbation {self.weights!r}",
                hint="use dirichlet, uniform or fixed",
            )
        if not self.concentration > 0:
            raise ConfigError(
                "the Dirichlet concentration must be positive", hint="try --concentration 50"
            )
        if not 0 <= self.spread < 1:
            raise ConfigError("the uniform spread must be in [0, 1)", hint="try --spread 0.25")
        if not 0 < self.match <= 1:
            raise ConfigError("the match threshold must be in (0, 1]", hint="try --match 0.5")
        for t in self.normalisations:
            if t not in TRANSFORMS or t in ("raw", "rate"):
                raise ConfigError(
                    f"unknown normalisation {t!r}", hint=f"choose from {', '.join(NORMALISATIONS)}"
                )
        if aggregation == "geometric" and set(self.normalisations) & {"zscore", "minmax"}:
            raise ConfigError(
                "geometric aggregation needs strictly positive values; zscore and minmax give "
                "zero or negative ones",
                hint="restrict --normalisations to rank,exp_rank",
            )


@dataclass(frozen=True)
class Factor:
    """One input factor: a coordinate of the unit cube and what it changes."""

    name: str  # weight:<key>, normalisation, leave_out
    kind: Literal["weight", "normalisation", "leave_out"]
    index: int  # indicator index for weights, else -1
    encoding: str


@dataclass(frozen=True, eq=False)
class SensitivityInputs:
    """Everything a worker needs: normalised indicators, the problem, the nominal CANs."""

    codes: np.ndarray  # LSOA codes, build (rank) order = problem rows
    keys: tuple[str, ...]
    weights: np.ndarray  # nominal weights (sum 1)
    norm: np.ndarray  # (T, n, m) indicators under each normalisation option
    norm_names: tuple[str, ...]
    aggregation: str
    tiebreak: np.ndarray  # position of each LSOA in code order (rank ties)
    nominal_rank: np.ndarray  # (n,)
    nominal_label: np.ndarray  # (n,) published CAN position 1..C (build.cans row + 1), 0 none
    can_ids: np.ndarray  # (C,) published can_id
    problem: SelectionProblem
    method: str  # "optimal" or "greedy"
    options: dict[str, Any]
    factors: tuple[Factor, ...]
    design: Design
    warm_start: Any = None  # WarmStart of the nominal exact solve
    arrays: Any = None  # GreedyArrays (no overrides): greedy draws, the exact greedy start
    rank_width: int = 1
    nominal: dict[str, Any] = field(default_factory=dict)  # the nominal re-solve's check

    @property
    def n(self) -> int:
        """Number of LSOAs."""
        return len(self.codes)

    @property
    def n_cans(self) -> int:
        """Number of published CANs."""
        return len(self.can_ids)

    @property
    def k(self) -> int:
        """Number of active factors."""
        return len(self.factors)

    @property
    def n_bins(self) -> int:
        """Number of rank histogram bins."""
        return math.ceil(self.n / self.rank_width)

    @property
    def evaluations_per_draw(self) -> int:
        """Selections per draw: 1, or k + 2 with indices."""
        return self.k + 2 if self.design.indices else 1


@dataclass
class DrawBatch:
    """Draws ``start..stop-1``: per-draw records of the A points plus integer index sums."""

    start: int
    stop: int
    records: dict[str, np.ndarray]  # draw, point, option, dropped, weights, objective, ...
    matched: np.ndarray  # (d, C) bool: published CAN selected in the A draw
    in_can: np.ndarray  # (d, n) bool
    rank: np.ndarray  # (d, n) uint16/uint32
    sums: dict[str, np.ndarray] | None  # Saltelli sums over the batch (int64), or None


@dataclass
class SensitivityResult:
    """The aggregated results (every field deterministic for a seed and a build)."""

    inputs: SensitivityInputs
    design: Design
    seed: int
    draws: int
    frequency: np.ndarray  # (C,)
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_in_can: np.ndarray  # (n,)
    p_low: np.ndarray
    p_high: np.ndarray
    rank_p05: np.ndarray
    rank_p50: np.ndarray
    rank_p95: np.ndarray
    can_s: np.ndarray | None  # (k, C) first-order indices of each CAN's selection
    can_st: np.ndarray | None  # (k, C) total indices
    rank_s: np.ndarray | None  # (k, n) first-order indices of each LSOA's rank
    rank_st: np.ndarray | None
    records: dict[str, np.ndarray]
    widest: float  # widest Wilson interval
    stopped: str  # why the run stopped
    execution: dict[str, Any] = field(default_factory=dict)  # not part of the results


# --------------------------------------------------------------------------------------------
# Sampling and the factor encoding
# --------------------------------------------------------------------------------------------


def sample_points(seed: int, k: int, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``A`` and ``B`` points of draws ``start..stop-1`` (each ``(stop - start, k)``).

    Draw ``d`` uses only ``SeedSequence(seed, spawn_key=(d,))``, so a draw's points never
    depend on how the draws are batched or where they run.
    """
    a = np.empty((stop - start, k))
    b = np.empty((stop - start, k))
    for row, d in enumerate(range(start, stop)):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(d,)))
        a[row] = rng.random(k)
        b[row] = rng.random(k)
    return a, b


def factors_for(keys: Sequence[str], n_options: int, design: Design) -> tuple[Factor, ...]:
    """The active factors of a design (a factor that cannot vary is left out)."""
    m = len(keys)
    out: list[Factor] = []
    if design.weights != "fixed" and m > 1:
        enc = (
            f"w0 x (1 - {design.spread:g} + {2 * design.spread:g} u), then rescaled to sum 1"
            if design.weights == "uniform"
            else f"Gamma({design.concentration:g} w0) quantile of u, then rescaled (Dirichlet)"
        )
        out += [Factor(f"weight:{key}", "weight", j, enc) for j, key in enumerate(keys)]
    if n_options > 1:
        out.append(Factor("normalisation", "normalisation", -1, f"option floor(u x {n_options})"))
    if design.leave_one_out and m > 1:
        out.append(
            Factor(
                "leave_out",
                "leave_out",
                -1,
                f"floor(u x {m + 1}) - 1: -1 keeps all, j drops indicator j",
            )
        )
    return tuple(out)


def decode_points(
    points: np.ndarray,
    factors: Sequence[Factor],
    nominal: np.ndarray,
    n_options: int,
    design: Design,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalisation option, dropped indicator (-1 none) and weights (sum 1) of each point."""
    e = points.shape[0]
    m = len(nominal)
    option = np.zeros(e, dtype=np.int64)
    dropped = np.full(e, -1, dtype=np.int64)
    weights = np.broadcast_to(nominal, (e, m)).astype(float)
    for col, f in enumerate(factors):
        u = points[:, col]
        if f.kind == "weight":
            j = f.index
            if design.weights == "uniform":
                weights[:, j] = nominal[j] * (1 - design.spread + 2 * design.spread * u)
            else:
                from scipy.special import gammaincinv

                q = np.clip(u, 1e-12, 1 - 1e-12)
                weights[:, j] = gammaincinv(design.concentration * nominal[j], q)
        elif f.kind == "normalisation":
            option = np.minimum((u * n_options).astype(np.int64), n_options - 1)
        else:
            dropped = np.minimum((u * (m + 1)).astype(np.int64), m) - 1
    rows = np.flatnonzero(dropped >= 0)
    weights[rows, dropped[rows]] = 0.0
    weights /= weights.sum(axis=1, keepdims=True)
    return option, dropped, weights


# --------------------------------------------------------------------------------------------
# Estimators
# --------------------------------------------------------------------------------------------


def wilson(successes: np.ndarray, n: int, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion (Wilson 1927)."""
    s = np.asarray(successes, dtype=float)
    if n == 0:
        return np.zeros_like(s), np.ones_like(s)
    p = s / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def saltelli_sums(y_a: np.ndarray, y_b: np.ndarray, y_ab: np.ndarray) -> dict[str, np.ndarray]:
    """The sums the estimators need, over the draws of a batch.

    ``y_a``, ``y_b``: ``(d, p)`` outputs at ``A`` and ``B``; ``y_ab``: ``(d, k, p)`` at each
    ``AB^i``. Integer inputs give exact int64 sums, so batches add up in any order.
    """
    dt = np.int64 if np.issubdtype(y_a.dtype, np.integer) else np.float64
    a = y_a.astype(dt)
    b = y_b.astype(dt)
    ab = y_ab.astype(dt)
    return {
        "n": np.array([len(a)], dtype=np.int64),
        "a1": a.sum(axis=0),
        "a2": (a * a).sum(axis=0),
        "b1": b.sum(axis=0),
        "b2": (b * b).sum(axis=0),
        "ab1": ab.sum(axis=0),
        "first": (b[:, None, :] * (ab - a[:, None, :])).sum(axis=0),
        "total": ((a[:, None, :] - ab) ** 2).sum(axis=0),
    }


def add_sums(total: dict[str, np.ndarray] | None, part: dict[str, np.ndarray]) -> dict[str, Any]:
    """Add two sets of Saltelli sums."""
    if total is None:
        return {k: v.copy() for k, v in part.items()}
    return {k: total[k] + part[k] for k in total}


def indices_from_sums(sums: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """First-order (Saltelli 2010) and total (Jansen) indices, ``(k, p)`` each.

    ``V`` is the variance over the ``A`` and ``B`` outputs together; outputs that never vary
    (``V = 0``) get NaN (an index is undefined there). The first-order sum is taken about the
    output mean ``mu`` (``f(B) - mu`` in place of ``f(B)``, as SALib does by standardising
    outputs): the same expectation, far less noise for outputs far from zero such as ranks.
    """
    n = int(sums["n"][0])
    s1 = (sums["a1"] + sums["b1"]).astype(float)
    s2 = (sums["a2"] + sums["b2"]).astype(float)
    mu = s1 / (2 * n)
    var = s2 / (2 * n) - mu**2
    ok = var > 1e-12 * np.maximum(1.0, s2 / (2 * n))
    centred = sums["first"].astype(float) - mu * (
        sums["ab1"].astype(float) - sums["a1"].astype(float)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        first = np.where(ok, (centred / n) / var, np.nan)
        total = np.where(ok, (sums["total"].astype(float) / (2 * n)) / var, np.nan)
    return first, total


# --------------------------------------------------------------------------------------------
# One batch of draws
# --------------------------------------------------------------------------------------------


def _ranks(scores: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """Rank 1 = highest score per row, ties by code order (as ``composite.ranks_from_scores``)."""
    s = np.round(scores, 12)
    order = np.lexsort((np.broadcast_to(tiebreak, s.shape), -s), axis=-1)
    ranks = np.empty(s.shape, dtype=np.int64)
    np.put_along_axis(ranks, order, np.arange(1, s.shape[-1] + 1), axis=-1)
    return ranks


def match_cans(
    nominal_label: np.ndarray, labels: np.ndarray, n_cans: int, threshold: float
) -> np.ndarray:
    """Which published CANs (``nominal_label`` 1..C) a draw's CANs (``labels`` 1..K) select:
    Jaccard overlap of LSOAs ``>= threshold``."""
    k = int(labels.max()) if len(labels) else 0
    if k == 0:
        return np.zeros(n_cans, dtype=bool)
    cross = np.bincount(nominal_label * (k + 1) + labels, minlength=(n_cans + 1) * (k + 1))
    inter = cross.reshape(n_cans + 1, k + 1)[1:, 1:].astype(float)
    size_p = np.bincount(nominal_label, minlength=n_cans + 1)[1:].astype(float)
    size_d = np.bincount(labels, minlength=k + 1)[1:].astype(float)
    union = size_p[:, None] + size_d[None, :] - inter
    jac = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return np.asarray((jac >= threshold - 1e-12).any(axis=1))


def _greedy_selection(inputs: SensitivityInputs, problem: SelectionProblem) -> Selection:
    """The compiled greedy's selection of ``problem`` (what ``optimal`` would compute first)."""
    from canrank.selection import Selection

    labels, _grown = inputs.arrays.labels(problem.score)
    weight = problem.weight
    cans = [np.flatnonzero(labels == k).astype(np.int64) for k in range(1, int(labels.max()) + 1)]
    cans.sort(key=lambda c: (-float(weight[c].sum()), int(c.min())))
    return Selection(
        cans=tuple(cans),
        objective=problem.objective(cans),
        method="greedy",
        status="heuristic (greedy)",
    )


def _select(inputs: SensitivityInputs, score: np.ndarray) -> tuple[np.ndarray, float, str]:
    """Labels (1..K, 0 none), objective and status of one re-selection."""
    n = inputs.n
    if inputs.method == "greedy" and inputs.arrays is not None:
        labels = np.zeros(n, dtype=np.int64)
        inputs.arrays.labels(score, out=labels)
        pop = inputs.problem.population
        return labels, float((pop * score)[labels > 0].sum()), "heuristic (greedy)"
    from canrank.selection import select

    scale = 1.0
    options = dict(inputs.options)
    if inputs.method == "optimal" and inputs.warm_start is not None:
        options["warm_start"] = inputs.warm_start
        options.update(WARM_OPTIONS)
        if inputs.problem.rules.min_member_score is None:
            scale = _scale(inputs.problem.score, score)
    problem = replace(inputs.problem, score=np.ascontiguousarray(score * scale, dtype=float))
    if inputs.method == "optimal" and inputs.arrays is not None:
        options["greedy"] = _greedy_selection(inputs, problem)  # compiled twin, same CANs
    sel = select(problem, inputs.method, **options)
    return sel.labels(n), float(sel.objective) / scale, str(getattr(sel, "status", "") or "")


def _scale(nominal: np.ndarray, score: np.ndarray) -> float:
    """A positive factor putting a draw's scores on the nominal scores' scale (same largest
    score), so that the nominal duals that warm-start it are of the right size. The selection
    maximises a sum of population x score, so a positive factor never changes which CANs are
    best (a z-score draw on London: 35 -> 25 rounds, a third less CPU, the same optimum).
    A member-score floor is a threshold on the unscaled scores, so it keeps the factor 1."""
    top, now = float(np.max(nominal)), float(np.max(score))
    if top <= 0 or now <= 0:
        return 1.0
    return top / now


def _evaluate(
    inputs: SensitivityInputs, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Re-rank and re-select at each point: ranks, labels, option, dropped, weights, objective,
    status."""
    opt, dropped, weights = decode_points(
        points, inputs.factors, inputs.weights, len(inputs.norm_names), inputs.design
    )
    e = points.shape[0]
    scores = np.empty((e, inputs.n))
    for t in np.unique(opt):
        rows = np.flatnonzero(opt == t)
        scores[rows] = aggregate(inputs.norm[t], weights[rows], inputs.aggregation)
    ranks = _ranks(scores, inputs.tiebreak)
    labels = np.zeros((e, inputs.n), dtype=np.int64)
    objective = np.zeros(e)
    status: list[str] = []
    for row in range(e):
        labels[row], objective[row], st = _select(inputs, scores[row])
        status.append(st)
    return ranks, labels, opt, dropped, weights, objective, status


def _not_proven(inputs: SensitivityInputs, status: list[str], d: int) -> np.ndarray:
    """Per draw: how many of its exact selections (A, B, every AB^i) are not proven optimal."""
    out = np.zeros(d, dtype=np.int64)
    if inputs.method != "optimal":
        return out
    k = inputs.k
    for r in range(d):
        own = [status[r]]
        if inputs.design.indices:
            own += [status[d + r], *status[2 * d + r * k : 2 * d + (r + 1) * k]]
        out[r] = sum(1 for s in own if s != "proven optimal")
    return out


def run_batch(inputs: SensitivityInputs, seed: int, start: int, stop: int) -> DrawBatch:
    """Run draws ``start..stop-1`` (each: ``A``, and with indices ``B`` and every ``AB^i``)."""
    a, b = sample_points(seed, inputs.k, start, stop)
    d, k, c = stop - start, inputs.k, inputs.n_cans
    rank_dtype = np.uint16 if inputs.n < 65536 else np.uint32
    if inputs.design.indices:
        ab = np.repeat(a[:, None, :], k, axis=1)
        for i in range(k):
            ab[:, i, i] = b[:, i]
        points = np.concatenate([a, b, ab.reshape(d * k, k)])
    else:
        points = a
    ranks, labels, opt, dropped, weights, objective, status = _evaluate(inputs, points)
    matched = np.array(
        [match_cans(inputs.nominal_label, lab, c, inputs.design.match) for lab in labels],
        dtype=bool,
    ).reshape(len(points), c)
    sums = None
    if inputs.design.indices:
        y = np.concatenate([matched.astype(np.int64), ranks], axis=1)
        sums = saltelli_sums(y[:d], y[d : 2 * d], y[2 * d :].reshape(d, k, -1))
    records = {
        "draw": np.arange(start, stop, dtype=np.int64),
        "point": a,
        "option": opt[:d],
        "dropped": dropped[:d],
        "weights": weights[:d],
        "objective": objective[:d],
        "n_cans": labels[:d].max(axis=1, initial=0),
        "n_matched": matched[:d].sum(axis=1),
        "status": np.array(status[:d], dtype=object),
        "not_proven": _not_proven(inputs, status, d),
    }
    return DrawBatch(
        start=start,
        stop=stop,
        records=records,
        matched=matched[:d],
        in_can=labels[:d] > 0,
        rank=ranks[:d].astype(rank_dtype),
        sums=sums,
    )


# --------------------------------------------------------------------------------------------
# Inputs from a build
# --------------------------------------------------------------------------------------------


def _options_of(build: Build, method: str) -> dict[str, Any]:
    """The configured options of the re-selection method."""
    sel = build.scenario.selection
    options: dict[str, Any] = {"seeds": sel.seeds}
    if method == "optimal":
        options["time_limit_s"] = sel.time_limit_s
    return options


def exact_warm_start_available() -> bool:
    """Whether the installed ``optimal`` method accepts a warm start (exact draws need it)."""
    from dataclasses import fields

    from canrank.selection import Selection

    try:
        from canrank.selection.optimal import select_optimal
    except ImportError:  # pragma: no cover - selection package without the exact method
        return False
    takes = "warm_start" in inspect.signature(select_optimal).parameters
    return takes and "warm_start" in {f.name for f in fields(Selection)}


def _same_cans(a: Iterable[np.ndarray], b: Iterable[np.ndarray]) -> bool:
    key = sorted(tuple(np.sort(np.asarray(x)).tolist()) for x in a)
    return key == sorted(tuple(np.sort(np.asarray(x)).tolist()) for x in b)


def _normalised(build: Build, options: tuple[str, ...]) -> np.ndarray:
    """``(T, n, m)``: the build's own normalised values, or each indicator re-normalised from
    its raw value (after the scenario's winsorising) with every option."""
    sc = build.scenario
    lsoa = build.lsoa
    names = options or ("nominal",)
    norm = np.empty((len(names), len(lsoa), len(sc.indicators)))
    for t, name in enumerate(names):
        for j, ind in enumerate(sc.indicators):
            if name == "nominal":
                norm[t, :, j] = lsoa[f"{ind.key}_norm"].to_numpy(dtype=float)
                continue
            raw = lsoa[f"{ind.key}_value"].to_numpy(dtype=float)
            clipped = winsorise(raw, *ind.winsorise) if ind.winsorise else raw
            norm[t, :, j] = normalise(clipped, name, ind.direction)
    return norm


def inputs_from_build(
    build: Build, design: Design, *, method: str | None = None
) -> SensitivityInputs:
    """Prepare the worker inputs from a :class:`canrank.builds.Build` (nothing is rebuilt).

    ``method`` defaults to the build's own. For ``optimal`` the nominal problem (with the
    build's overrides) is solved once; its candidate CANs and duals warm-start every draw, and
    whether it reproduces the published CANs is recorded in ``nominal``.
    """
    sc = build.scenario
    design.check(sc.aggregation)
    method = method or build.selection.method
    if method not in ("optimal", "greedy"):
        raise ConfigError(
            f"sensitivity draws cannot be re-selected with {method!r}",
            hint="use --method optimal (the exact selection) or --method greedy",
        )
    if method == "optimal" and not exact_warm_start_available():
        raise ConfigError(
            "this canrank's optimal selection cannot be warm-started, so exact draws would "
            "each cost a cold solve",
            hint="update canrank, or pass --method greedy to measure the greedy rule",
        )
    lsoa = build.lsoa
    codes = lsoa["lsoa_code"].astype(str).to_numpy()
    n = len(codes)
    keys = tuple(i.key for i in sc.indicators)
    w0 = np.array([i.weight for i in sc.indicators], dtype=float)
    w0 = w0 / w0.sum()
    names = design.normalisations or ("nominal",)
    factors = factors_for(keys, len(names), design)
    if not factors:
        raise ConfigError(
            "this design varies nothing (fixed weights, one normalisation, no leave-one-out)",
            hint="vary the weights, offer several --normalisations or allow --leave-one-out",
        )
    tiebreak = np.empty(n, dtype=np.int64)
    tiebreak[np.argsort(codes, kind="stable")] = np.arange(n)
    index = {c: i for i, c in enumerate(codes)}
    label = np.zeros(n, dtype=np.int64)
    for pos, text in enumerate(build.cans["lsoa_codes"].astype(str), start=1):
        label[[index[c] for c in text.split(";")]] = pos
    problem = build.problem()
    options = _options_of(build, method)
    arrays = None
    warm = None
    if not (problem.fixed or problem.locked):
        from canrank.selection.fast_greedy import GreedyArrays

        arrays = GreedyArrays(problem, seeds=int(options["seeds"]))
    inputs = SensitivityInputs(
        codes=codes,
        keys=keys,
        weights=w0,
        norm=_normalised(build, design.normalisations),
        norm_names=names,
        aggregation=sc.aggregation,
        tiebreak=tiebreak,
        nominal_rank=lsoa["rank"].to_numpy(dtype=np.int64),
        nominal_label=label,
        can_ids=build.cans["can_id"].to_numpy(dtype=np.int64),
        problem=problem,
        method=method,
        options=options,
        factors=factors,
        design=design,
        arrays=arrays,
        rank_width=1 if n <= EXACT_RANK_LIMIT else math.ceil(n / RANK_BINS),
    )
    published = [np.flatnonzero(label == p) for p in range(1, len(inputs.can_ids) + 1)]
    if method == "optimal":
        from canrank.selection import select

        nominal_sel: Selection = select(problem, "optimal", **options)
        warm = getattr(nominal_sel, "warm_start", None)
        cans = nominal_sel.cans
        status = str(getattr(nominal_sel, "status", ""))
    else:
        labels, _obj, status = _select(inputs, problem.score)
        cans = tuple(np.flatnonzero(labels == p) for p in range(1, int(labels.max()) + 1))
    nominal = {
        "method": method,
        "build_method": build.selection.method,
        "reproduces_published_cans": _same_cans(cans, published),
        "status": status,
    }
    return replace(inputs, warm_start=warm, nominal=nominal)


def with_design(inputs: SensitivityInputs, build: Build, design: Design) -> SensitivityInputs:
    """The same inputs (nominal solve and warm start kept) under another design."""
    design.check(inputs.aggregation)
    names = design.normalisations or ("nominal",)
    factors = factors_for(inputs.keys, len(names), design)
    if not factors:
        raise ConfigError("this design varies nothing", hint="vary at least one factor")
    return replace(
        inputs,
        design=design,
        norm=_normalised(build, design.normalisations),
        norm_names=names,
        factors=factors,
    )


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------


def manifest_sha256(build: Build) -> str:
    """SHA-256 of the build's manifest.json (or of its canonical JSON when in memory)."""
    if build.folder is not None and (Path(build.folder) / "manifest.json").exists():
        return hashlib.sha256((Path(build.folder) / "manifest.json").read_bytes()).hexdigest()
    text = json.dumps(build.manifest, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def run_key(inputs: SensitivityInputs, seed: int, build_sha: str) -> dict[str, Any]:
    """What a checkpointed draw depends on; parts from a run with another key are discarded."""
    return {
        "seed": seed,
        "design": design_record(inputs.design),
        "factors": [f.name for f in inputs.factors],
        "method": inputs.method,
        "options": {k: v for k, v in inputs.options.items()
                    if k not in ("time_limit_s", "threads")},
        "warm_options": WARM_OPTIONS if inputs.method == "optimal" else {},
        "build_manifest_sha256": build_sha,
        "n_lsoas": inputs.n,
        "n_cans": inputs.n_cans,
    }


def _unpack(blobs: list[bytes], width: int) -> np.ndarray:
    """Bit-packed rows back to a ``(len(blobs), width)`` boolean array."""
    rows = [np.unpackbits(np.frombuffer(b, np.uint8))[:width] for b in blobs]
    return np.array(rows, dtype=bool).reshape(len(blobs), width)


class Checkpoint:
    """A folder of Parquet parts, one per finished batch, plus ``key.json``."""

    def __init__(self, folder: Path, key: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.key = key
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "key.json"
        old = None
        if path.exists():
            try:
                old = json.loads(path.read_text("utf-8"))
            except (OSError, ValueError):
                old = None
        self.discarded = 0
        if old != key:
            for part in self.folder.glob("part-*.parquet"):
                part.unlink()
                self.discarded += 1
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(key, indent=2, sort_keys=True) + "\n", "utf-8")
            os.replace(tmp, path)

    def save(self, batch: DrawBatch, inputs: SensitivityInputs) -> None:
        """Write one batch atomically (a killed run leaves whole parts only)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        rec = batch.records
        cols: dict[str, Any] = {
            "draw": pa.array(rec["draw"]),
            "point": pa.array(list(rec["point"])),
            "option": pa.array(rec["option"]),
            "dropped": pa.array(rec["dropped"]),
            "weights": pa.array(list(rec["weights"])),
            "objective": pa.array(rec["objective"]),
            "n_cans": pa.array(rec["n_cans"]),
            "n_matched": pa.array(rec["n_matched"]),
            "not_proven": pa.array(rec["not_proven"]),
            "status": pa.array([str(s) for s in rec["status"]]),
            "matched": pa.array([np.packbits(r).tobytes() for r in batch.matched], pa.binary()),
            "in_can": pa.array([np.packbits(r).tobytes() for r in batch.in_can], pa.binary()),
            "rank": pa.array([r.tobytes() for r in batch.rank], pa.binary()),
        }
        meta = {b"canrank_batch": json.dumps([batch.start, batch.stop]).encode()}
        if batch.sums is not None:
            buf = io.BytesIO()
            savez: Any = np.savez  # typed stubs mistake the arrays for its keyword options
            savez(buf, **batch.sums)
            meta[b"canrank_sums"] = buf.getvalue()
        table = pa.table(cols).replace_schema_metadata(meta)
        final = self.folder / f"part-{batch.start:06d}-{batch.stop:06d}.parquet"
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, final)

    def load(self, inputs: SensitivityInputs) -> list[DrawBatch]:
        """Every readable part (a damaged one is ignored and recomputed)."""
        import pyarrow.parquet as pq

        out = []
        rank_dtype = np.uint16 if inputs.n < 65536 else np.uint32
        for path in sorted(self.folder.glob("part-*.parquet")):
            try:
                table = pq.read_table(path)
            except Exception:
                continue
            meta = table.schema.metadata or {}
            start, stop = json.loads(meta[b"canrank_batch"])
            sums = None
            if b"canrank_sums" in meta:
                with np.load(io.BytesIO(meta[b"canrank_sums"])) as z:
                    sums = {k: z[k] for k in z.files}
            col = table.to_pydict()
            records = {
                "draw": np.array(col["draw"], dtype=np.int64),
                "point": np.array(col["point"], dtype=float).reshape(len(col["draw"]), -1),
                "option": np.array(col["option"], dtype=np.int64),
                "dropped": np.array(col["dropped"], dtype=np.int64),
                "weights": np.array(col["weights"], dtype=float).reshape(len(col["draw"]), -1),
                "objective": np.array(col["objective"], dtype=float),
                "n_cans": np.array(col["n_cans"], dtype=np.int64),
                "n_matched": np.array(col["n_matched"], dtype=np.int64),
                "status": np.array(col["status"], dtype=object),
                "not_proven": np.array(col["not_proven"], dtype=np.int64),
            }
            out.append(
                DrawBatch(
                    start=int(start),
                    stop=int(stop),
                    records=records,
                    matched=_unpack(col["matched"], inputs.n_cans),
                    in_can=_unpack(col["in_can"], inputs.n),
                    rank=np.array(
                        [np.frombuffer(b, rank_dtype) for b in col["rank"]], dtype=rank_dtype
                    ).reshape(len(col["draw"]), inputs.n),
                    sums=sums,
                )
            )
        return out


# --------------------------------------------------------------------------------------------
# Running the draws
# --------------------------------------------------------------------------------------------


@contextmanager
def _executor(
    inputs: SensitivityInputs,
    seed: int,
    scheduler: Any,
    workers: int,
    local: bool,
) -> Iterator[tuple[Callable[[list[tuple[int, int]]], Iterator[DrawBatch]], dict[str, Any]]]:
    """Yield ``run(batches) -> iterator of finished batches`` (any completion order)."""
    if local:

        def run_local(batches: list[tuple[int, int]]) -> Iterator[DrawBatch]:
            for lo, hi in batches:
                yield run_batch(inputs, seed, lo, hi)

        yield run_local, {"mode": "in-process", "workers": 1}
        return
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    own_client = True
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        if inputs.method == "optimal":  # share this machine's cores between the workers'
            # pricing threads (the selections do not depend on the thread count)
            from canrank.cores import available_cores

            inputs = replace(inputs, options={**inputs.options,
                                              "threads": max(1, available_cores() // workers)})
        client = Client(cluster)
        mode = "local-cluster"
    elif isinstance(scheduler, Client):
        client, own_client, mode = scheduler, False, "scheduler"
    else:
        client, mode = Client(scheduler), "scheduler"
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or workers)
        remote = client.scatter(inputs, broadcast=True)

        def run_dask(batches: list[tuple[int, int]]) -> Iterator[DrawBatch]:
            futures = [
                client.submit(run_batch, remote, seed, lo, hi, pure=False) for lo, hi in batches
            ]
            for future in as_completed(futures):
                batch = future.result()
                future.release()
                yield batch

        yield run_dask, {"mode": mode, "workers": n_workers}
    finally:
        if own_client:
            client.close()
        if cluster is not None:
            cluster.close()


def _split(lo: int, hi: int, size: int, done: set[int]) -> list[tuple[int, int]]:
    """Batches of at most ``size`` draws covering ``[lo, hi)`` minus the draws already done."""
    out: list[tuple[int, int]] = []
    d = lo
    while d < hi:
        if d in done:
            d += 1
            continue
        e = d
        while e < hi and e not in done and e - d < size:
            e += 1
        out.append((d, e))
        d = e
    return out


class _Tally:
    """Running integer counts of the A draws (for progress and the precision check)."""

    def __init__(self, inputs: SensitivityInputs) -> None:
        self.n = 0
        self.matched = np.zeros(inputs.n_cans, dtype=np.int64)
        self.in_can = np.zeros(inputs.n, dtype=np.int64)

    def add(self, batch: DrawBatch) -> None:
        self.n += batch.stop - batch.start
        self.matched += batch.matched.sum(axis=0)
        self.in_can += batch.in_can.sum(axis=0)

    def widest(self) -> float:
        if self.n == 0:
            return 1.0
        lo, hi = wilson(np.concatenate([self.matched, self.in_can]), self.n)
        return float((hi - lo).max())


def run_sensitivity(
    inputs: SensitivityInputs,
    *,
    draws: int,
    seed: int,
    precision: float | None = None,
    check_every: int = 100,
    scheduler: str | Any | None = None,
    workers: int | None = None,
    batch_size: int | None = None,
    checkpoint: Path | None = None,
    build_sha: str = "",
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> SensitivityResult:
    """Run up to ``draws`` draws; stop early once every Wilson interval is narrower than
    ``precision`` at a check boundary (multiples of ``check_every``, and ``draws``).

    ``scheduler`` is a Dask address or ``distributed.Client``; without one, ``workers > 1``
    starts a LocalCluster (greedy runs too small to pay for it stay in-process). ``batch_size``
    and the execution only change speed, never a result. ``checkpoint``: a folder of Parquet
    parts to resume from and write to. ``on_progress`` receives ``{"done", "total", "rate",
    "widest"}`` after every batch.
    """
    if draws < 1:
        raise ConfigError("at least one draw is needed", hint="pass --draws 100")
    if precision is not None and not 0 < precision < 1:
        raise ConfigError("--precision is an interval width in (0, 1)", hint="try 0.1")
    if check_every < 1:
        raise ConfigError("check_every must be positive", hint="try 100")
    workers = workers or os.cpu_count() or 1
    evals = draws * inputs.evaluations_per_draw
    local = scheduler is None and (
        workers <= 1 or (inputs.arrays is not None and evals < LOCAL_CLUSTER_MIN_EVALS)
    )
    n_workers_guess = 1 if local else workers
    size = batch_size or _default_batch(inputs, draws, n_workers_guess)
    store = Checkpoint(checkpoint, run_key(inputs, seed, build_sha)) if checkpoint else None
    parts: dict[tuple[int, int], DrawBatch] = {}
    if store is not None:
        for b in store.load(inputs):
            if b.stop <= draws:
                parts[(b.start, b.stop)] = b
    resumed = sum(b.stop - b.start for b in parts.values())
    boundaries = sorted({*range(check_every, draws, check_every), draws}) if precision else [draws]
    started = time.perf_counter()
    computed = 0
    tally = _Tally(inputs)
    used: list[DrawBatch] = []
    stop_at, stopped = draws, f"draw limit ({draws:,} draws)"
    with _executor(inputs, seed, scheduler, workers, local) as (execute, info):
        lo = 0
        for bound in boundaries:
            inside = _disjoint([b for key, b in parts.items() if lo <= key[0] and key[1] <= bound])
            for b in inside:
                tally.add(b)
                used.append(b)
            done = {d for b in inside for d in range(b.start, b.stop)}
            todo = _split(lo, bound, size, done)
            for batch in execute(todo):
                if store is not None:
                    store.save(batch, inputs)
                used.append(batch)
                tally.add(batch)
                computed += batch.stop - batch.start
                if on_progress:
                    seconds = time.perf_counter() - started
                    on_progress(
                        {
                            "done": tally.n,
                            "total": draws,
                            "rate": computed / seconds if seconds > 0 else 0.0,
                            "widest": tally.widest(),
                        }
                    )
            lo = bound
            if precision is not None and tally.widest() < precision:
                stop_at = bound
                stopped = f"every interval narrower than {precision:g} after {bound:,} draws"
                break
    used = _cover(used, stop_at)
    execution = {
        **info,
        "batch_size": size,
        "resumed_draws": resumed,
        "computed_draws": computed,
        "seconds": time.perf_counter() - started,
    }
    if store is not None:
        execution["discarded_parts"] = store.discarded
    return combine(inputs, seed, stop_at, used, stopped, execution)


def _default_batch(inputs: SensitivityInputs, draws: int, workers: int) -> int:
    """Small batches for exact draws (checkpoints often), larger for greedy."""
    if inputs.arrays is None:
        return max(1, min(8, math.ceil(draws / (2 * workers))))
    return max(16, min(1000, math.ceil(draws / (4 * workers))))


def _disjoint(batches: list[DrawBatch]) -> list[DrawBatch]:
    """Checkpointed batches without overlaps (longest first), so no draw is counted twice."""
    taken: set[int] = set()
    out: list[DrawBatch] = []
    for b in sorted(batches, key=lambda b: (-(b.stop - b.start), b.start)):
        span = set(range(b.start, b.stop))
        if not span & taken:
            taken |= span
            out.append(b)
    return sorted(out, key=lambda b: b.start)


def _cover(batches: list[DrawBatch], stop: int) -> list[DrawBatch]:
    """The batches in draw order, checked to cover draws ``0..stop-1`` exactly once."""
    ordered = sorted(batches, key=lambda b: b.start)
    d = 0
    for b in ordered:
        if b.start != d:
            raise RuntimeError(f"draw {d} is missing or repeated in the results")  # a bug
        d = b.stop
    if d != stop:
        raise RuntimeError(f"draws {d}..{stop - 1} are missing from the results")
    return ordered


@njit(cache=True)
def _add_histogram(hist: np.ndarray, bins: np.ndarray) -> None:  # pragma: no cover - compiled
    """``hist[i, bins[d, i]] += 1`` for every draw ``d`` and area ``i``."""
    for d in range(bins.shape[0]):
        for i in range(bins.shape[1]):
            hist[i, bins[d, i]] += 1


def _percentiles(hist: np.ndarray, draws: int, width: int, qs: Sequence[float]) -> np.ndarray:
    """Percentiles (NumPy's default linear rule) of each row's ranks from its histogram."""
    n, n_bins = hist.shape
    centre = np.arange(n_bins) * width + (width + 1) / 2 if width > 1 else np.arange(1, n_bins + 1)
    out = np.empty((len(qs), n), dtype=float)
    block = max(1, 2**24 // max(n_bins, 1))
    for lo in range(0, n, block):
        cum = np.cumsum(hist[lo : lo + block], axis=1, dtype=np.int64)
        for qi, q in enumerate(qs):
            h = (draws - 1) * q / 100.0
            k_lo = math.floor(h)
            k_hi = min(k_lo + 1, draws - 1)
            v_lo = centre[(cum <= k_lo).sum(axis=1)]
            v_hi = centre[(cum <= k_hi).sum(axis=1)]
            out[qi, lo : lo + block] = v_lo + (h - k_lo) * (v_hi - v_lo)
    return out


def combine(
    inputs: SensitivityInputs,
    seed: int,
    draws: int,
    batches: list[DrawBatch],
    stopped: str,
    execution: dict[str, Any],
) -> SensitivityResult:
    """Aggregate batches (in draw order; every sum is of integers, so exact)."""
    batches = sorted(batches, key=lambda b: b.start)
    hist = np.zeros((inputs.n, inputs.n_bins), dtype=np.uint32)
    matched = np.zeros(inputs.n_cans, dtype=np.int64)
    in_can = np.zeros(inputs.n, dtype=np.int64)
    sums: dict[str, Any] | None = None
    for b in batches:
        bins = ((b.rank.astype(np.int64) - 1) // inputs.rank_width).astype(np.int64)
        _add_histogram(hist, bins)
        matched += b.matched.sum(axis=0)
        in_can += b.in_can.sum(axis=0)
        if b.sums is not None:
            sums = add_sums(sums, b.sums)
    records = {
        name: np.concatenate([b.records[name] for b in batches]) for name in batches[0].records
    }
    f_lo, f_hi = wilson(matched, draws)
    p_lo, p_hi = wilson(in_can, draws)
    p05, p50, p95 = _percentiles(hist, draws, inputs.rank_width, (5, 50, 95))
    can_s = can_st = rank_s = rank_st = None
    if inputs.design.indices and sums is not None:
        first, total = indices_from_sums(sums)
        c = inputs.n_cans
        can_s, can_st = first[:, :c], total[:, :c]
        rank_s, rank_st = first[:, c:], total[:, c:]
    widest = float(np.concatenate([f_hi - f_lo, p_hi - p_lo]).max())
    return SensitivityResult(
        inputs=inputs,
        design=inputs.design,
        seed=seed,
        draws=draws,
        frequency=matched / draws,
        ci_low=f_lo,
        ci_high=f_hi,
        p_in_can=in_can / draws,
        p_low=p_lo,
        p_high=p_hi,
        rank_p05=p05,
        rank_p50=p50,
        rank_p95=p95,
        can_s=can_s,
        can_st=can_st,
        rank_s=rank_s,
        rank_st=rank_st,
        records=records,
        widest=widest,
        stopped=stopped,
        execution=execution,
    )


def design_record(design: Design) -> dict[str, Any]:
    """The design as plain data for the record."""
    data = asdict(design)
    data["normalisations"] = list(design.normalisations) or ["nominal"]
    return data


def prepare_output(folder: Path) -> Path:
    """Create ``folder`` (canrank's, via the output-folder rules) with its ``draws`` subfolder
    for checkpoints; return the checkpoint folder."""
    from canrank.outputs import output_folder

    draws = Path(folder) / "draws"
    if not draws.is_dir():
        try:
            with output_folder(folder, names=["draws"]) as tmp:
                (tmp / "draws").mkdir()
        except OSError as exc:  # pragma: no cover - disk errors
            raise InputError(f"cannot create {draws} ({exc})", file=draws) from None
    return draws


def clear_checkpoint(folder: Path) -> None:
    """Remove a checkpoint folder's parts (``--fresh``)."""
    if folder.is_dir():
        for part in folder.glob("part-*.parquet"):
            part.unlink()
        (folder / "key.json").unlink(missing_ok=True)
