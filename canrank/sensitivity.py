"""Uncertainty analysis of the ranking and the CAN selection (OECD/JRC Handbook, 2008, step 7).

Monte Carlo over the modeller's choices, as in the Handbook and COINr's ``get_sensitivity``: each
draw perturbs the weights (Dirichlet around the nominal weights, or each weight times
U(1 - spread, 1 + spread), the JRC's usual ±25 %), picks one normalisation for all indicators
(rank / zscore / minmax / exp_rank) and may leave one indicator out (each of "none" and the ``m``
indicators equally likely). Every draw re-ranks all LSOAs and re-selects the CANs under the
scenario's rules with the compiled twin of the greedy method. Outputs: per LSOA the probability
of being in a CAN and its rank interval (5th/50th/95th percentile); per nominal CAN how often it,
or most of its population (> 50 % in one selected CAN), is selected again.

Reproducible: draw ``d`` uses ``numpy.random.default_rng([seed, d])`` only, and every aggregate
is an integer count summed over draws, so a seed gives identical results however the draws are
split into batches, processes or Dask workers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

from canrank.composite import TRANSFORMS, aggregate
from canrank.errors import ConfigError
from canrank.selection.fast_greedy import GreedyArrays, njit

__all__ = [
    "NORMALISATIONS",
    "Design",
    "DrawBatch",
    "SensitivityInputs",
    "SensitivityResult",
    "draw_design",
    "inputs_from_build",
    "run_batch",
    "run_sensitivity",
]

#: Normalisations a draw may pick (the Handbook's ranking, z-score, min-max, and the IoD's
#: exponential transform of the rank).
NORMALISATIONS = ("rank", "zscore", "minmax", "exp_rank")

#: Up to this many LSOAs, rank percentiles are exact (one histogram bin per rank).
EXACT_RANK_LIMIT = 8192
#: Beyond it, ranks are counted in this many equal-width bins (reported at the bin centre).
RANK_BINS = 4096
#: Below this many draws, ``run_sensitivity`` without a scheduler runs in-process.
LOCAL_CLUSTER_MIN_DRAWS = 2000


@dataclass(frozen=True)
class Design:
    """What a Monte Carlo draw varies; the defaults follow JRC audit practice."""

    weights: Literal["dirichlet", "uniform", "fixed"] = "dirichlet"
    concentration: float = 50.0  # Dirichlet alpha = concentration x nominal weights
    spread: float = 0.25  # uniform: each weight x U(1 - spread, 1 + spread)
    normalisations: tuple[str, ...] = NORMALISATIONS  # empty: the scenario's own transforms
    leave_one_out: bool = True

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
class SensitivityInputs:
    """Everything a worker needs to run draws: normalised indicators, rules, nominal CANs."""

    codes: np.ndarray  # LSOA codes in graph order
    keys: tuple[str, ...]  # indicator keys
    weights: np.ndarray  # nominal weights (sum 1)
    norm: np.ndarray  # (T, n, m): indicators under each normalisation option
    norm_names: tuple[str, ...]  # the T options ("nominal" when the design keeps transforms)
    aggregation: str
    tiebreak: np.ndarray  # position of each LSOA in code order (rank ties)
    arrays: GreedyArrays
    nominal_rank: np.ndarray  # (n,)
    nominal_can: np.ndarray  # (n,) nominal can_id, 0 = none
    n_nominal: int
    rank_width: int  # ranks per histogram bin (1 = exact)

    @property
    def n(self) -> int:
        """Number of LSOAs."""
        return len(self.codes)

    @property
    def n_bins(self) -> int:
        """Number of rank histogram bins."""
        return math.ceil(self.n / self.rank_width)


@dataclass
class DrawBatch:
    """Results of draws ``start..stop-1``: integer counts plus one record per draw."""

    start: int
    stop: int
    rank_bin: np.ndarray  # (k, n) histogram bin of each LSOA's rank per draw
    in_can: np.ndarray  # (n,) draws in which the LSOA is in a CAN
    records: dict[str, np.ndarray]  # per draw: normalisation, dropped, objective, CAN shares...


@dataclass
class SensitivityResult:
    """The aggregated Monte Carlo results."""

    inputs: SensitivityInputs
    design: Design
    seed: int
    draws: int
    p_in_can: np.ndarray
    rank_p05: np.ndarray
    rank_p50: np.ndarray
    rank_p95: np.ndarray
    selection_frequency: np.ndarray  # per nominal CAN (index can_id - 1)
    mean_share: np.ndarray  # per nominal CAN: mean share of its population in selected CANs
    records: dict[str, np.ndarray]
    execution: dict[str, Any] = field(default_factory=dict)


def _options(design: Design) -> tuple[str, ...]:
    return design.normalisations if design.normalisations else ("nominal",)


def draw_design(
    design: Design, nominal: np.ndarray, n_options: int, seed: int, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalisation option, dropped indicator (-1 none) and weights of draws ``start..stop-1``.

    Each draw's stream is ``default_rng([seed, draw])``: independent of how draws are batched.
    """
    m = len(nominal)
    k = stop - start
    option = np.zeros(k, dtype=np.int64)
    dropped = np.full(k, -1, dtype=np.int64)
    weights = np.empty((k, m), dtype=float)
    alpha = design.concentration * nominal
    for row, d in enumerate(range(start, stop)):
        rng = np.random.default_rng([seed, d])
        option[row] = rng.integers(n_options) if n_options > 1 else 0
        if design.leave_one_out and m > 1:
            dropped[row] = rng.integers(m + 1) - 1
        if design.weights == "dirichlet":
            w = rng.dirichlet(alpha)
        elif design.weights == "uniform":
            w = nominal * rng.uniform(1 - design.spread, 1 + design.spread, m)
        else:
            w = nominal.copy()
        if dropped[row] >= 0:
            w[dropped[row]] = 0.0
        weights[row] = w / w.sum()
    return option, dropped, weights


def _ranks(scores: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """Rank 1 = highest score per row, ties by code order (as ``composite.ranks_from_scores``)."""
    s = np.round(scores, 12)
    if np.array_equal(tiebreak, np.arange(s.shape[-1])):  # rows already in code order
        order = np.argsort(-s, axis=-1, kind="stable")
    else:
        order = np.lexsort((np.broadcast_to(tiebreak, s.shape), -s), axis=-1)
    ranks = np.empty(s.shape, dtype=np.int64)
    np.put_along_axis(ranks, order, np.arange(1, s.shape[-1] + 1), axis=-1)
    return ranks


@njit(cache=True)
def _add_histogram(hist: np.ndarray, bins: np.ndarray) -> None:  # pragma: no cover - compiled
    """``hist[i, bins[d, i]] += 1`` for every draw ``d`` and area ``i``."""
    for d in range(bins.shape[0]):
        for i in range(bins.shape[1]):
            hist[i, bins[d, i]] += 1


def run_batch(
    inputs: SensitivityInputs, design: Design, seed: int, start: int, stop: int, chunk: int = 256
) -> DrawBatch:
    """Run draws ``start..stop-1`` (scores vectorised ``chunk`` draws at a time)."""
    n, k_nom = inputs.n, inputs.n_nominal
    pop = inputs.arrays.population
    nominal_pop = np.bincount(inputs.nominal_can, weights=pop, minlength=k_nom + 1)
    bin_dtype = np.uint16 if inputs.n_bins <= 65536 else np.uint32
    rank_bin = np.empty((stop - start, n), dtype=bin_dtype)
    in_can = np.zeros(n, dtype=np.int64)
    rec: dict[str, list[Any]] = {
        "normalisation": [],
        "dropped": [],
        "objective": [],
        "n_cans": [],
        "nominal_cans_kept": [],
        "mean_abs_rank_shift": [],
        "weights": [],
        "can_kept": [],
        "can_share": [],
    }
    n_lab = inputs.arrays.rules.n_cans + 1
    for lo in range(start, stop, chunk):
        hi = min(stop, lo + chunk)
        k = hi - lo
        option, dropped, weights = draw_design(
            design, inputs.weights, len(inputs.norm_names), seed, lo, hi
        )
        scores = np.empty((k, n), dtype=float)
        for t in np.unique(option):
            rows = np.flatnonzero(option == t)
            scores[rows] = aggregate(inputs.norm[t], weights[rows], inputs.aggregation)
        ranks = _ranks(scores, inputs.tiebreak)
        rank_bin[lo - start : hi - start] = (ranks - 1) // inputs.rank_width
        labels = np.zeros((k, n), dtype=np.int64)
        for row in range(k):
            inputs.arrays.labels(scores[row], out=labels[row])
        selected = labels > 0
        in_can += selected.sum(axis=0)
        # population of each nominal CAN inside each selected CAN, per draw (row-wise sums,
        # so a draw's figures never depend on which other draws share its chunk)
        key = (np.arange(k)[:, None] * (k_nom + 1) + inputs.nominal_can[None, :]) * n_lab + labels
        cross = np.bincount(
            key.ravel(),
            weights=np.broadcast_to(pop, (k, n)).ravel(),
            minlength=k * (k_nom + 1) * n_lab,
        ).reshape(k, k_nom + 1, n_lab)[:, 1:, 1:]
        kept = cross.max(axis=2, initial=0.0) > 0.5 * nominal_pop[1:]
        rec["can_kept"].append(kept)
        rec["can_share"].append(cross.sum(axis=2) / nominal_pop[1:])
        rec["objective"].append(np.where(selected, pop * scores, 0.0).sum(axis=1))
        rec["n_cans"].append(labels.max(axis=1))
        rec["nominal_cans_kept"].append(kept.sum(axis=1))
        rec["mean_abs_rank_shift"].append(np.abs(ranks - inputs.nominal_rank).mean(axis=1))
        rec["normalisation"].extend(option.tolist())
        rec["dropped"].extend(dropped.tolist())
        rec["weights"].append(weights)
    records = {
        name: np.asarray(v) if name in ("normalisation", "dropped") else np.concatenate(v)
        for name, v in rec.items()
    }
    return DrawBatch(start, stop, rank_bin, in_can, records)


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
            # value of the k-th smallest (0-based): first bin whose cumulative count exceeds k
            v_lo = centre[(cum <= k_lo).sum(axis=1)]
            v_hi = centre[(cum <= k_hi).sum(axis=1)]
            out[qi, lo : lo + block] = v_lo + (h - k_lo) * (v_hi - v_lo)
    return out


def _with_transform(study: Any, transform: str) -> Any:
    """The study with every indicator of its scenario normalised by ``transform``."""
    sc = study.scenario
    indicators = tuple(i.model_copy(update={"transform": transform}) for i in sc.indicators)
    return replace(study, scenario=sc.model_copy(update={"indicators": indicators}))


def inputs_from_build(result: Any, design: Design) -> SensitivityInputs:
    """Prepare the worker inputs from a :class:`canrank.pipeline.BuildResult`."""
    from canrank.pipeline import build_problem, rank_study

    study = result.study
    sc = study.scenario
    if result.selection.method != "greedy":
        raise ConfigError(
            f"the nominal selection was made with {result.selection.method!r}, but draws are "
            "re-selected with greedy, so method differences would look like instability",
            hint="build the nominal scenario with method='greedy' (canrank sensitivity does)",
        )
    design.check(sc.aggregation)
    ranked = rank_study(study)
    problem = build_problem(ranked, result.graph, sc)
    if getattr(problem, "fixed", ()) or getattr(problem, "locked", ()):
        raise ConfigError(
            f"scenario {sc.name!r} fixes or locks CANs by local knowledge; sensitivity analysis "
            "re-selects every CAN and does not support such overrides yet",
            hint="run it on the scenario without overrides",
        )
    codes = ranked["lsoa_code"].to_numpy().astype(str)
    options = _options(design)
    norm = np.empty((len(options), len(codes), len(sc.indicators)), dtype=float)
    for t, name in enumerate(options):
        # rank_study itself normalises, so any treatment it applies first (e.g. winsorising)
        # is applied in the draws too
        frame = ranked if name == "nominal" else rank_study(_with_transform(study, name))
        for j, ind in enumerate(sc.indicators):
            norm[t, :, j] = frame[f"{ind.key}_norm"].to_numpy(dtype=float)
    tiebreak = np.empty(len(codes), dtype=np.int64)
    tiebreak[np.argsort(codes, kind="stable")] = np.arange(len(codes))
    by_code = result.lsoa.set_index("lsoa_code")
    nominal_can = by_code.loc[codes, "can_id"].fillna(0).to_numpy(dtype=np.int64)
    n = len(codes)
    return SensitivityInputs(
        codes=codes,
        keys=tuple(i.key for i in sc.indicators),
        weights=np.array([i.weight for i in sc.indicators], dtype=float),
        norm=norm,
        norm_names=options,
        aggregation=sc.aggregation,
        tiebreak=tiebreak,
        arrays=GreedyArrays(problem, seeds=sc.selection.seeds),
        nominal_rank=ranked["rank"].to_numpy(dtype=np.int64),
        nominal_can=nominal_can,
        n_nominal=len(result.cans),
        rank_width=1 if n <= EXACT_RANK_LIMIT else math.ceil(n / RANK_BINS),
    )


def _batches(draws: int, size: int) -> list[tuple[int, int]]:
    return [(lo, min(draws, lo + size)) for lo in range(0, draws, size)]


def _combine(
    inputs: SensitivityInputs,
    design: Design,
    seed: int,
    draws: int,
    batches: Iterable[DrawBatch],
    execution: dict[str, Any],
) -> SensitivityResult:
    """Sum the integer counts of every batch (order does not matter) and take percentiles.

    Per-draw records are put back in draw order before any float is summed, so no total
    depends on the batch size or on the order in which batches complete.
    """
    hist = np.zeros((inputs.n, inputs.n_bins), dtype=np.uint32)
    in_can = np.zeros(inputs.n, dtype=np.int64)
    parts: dict[int, dict[str, np.ndarray]] = {}
    for b in batches:
        _add_histogram(hist, b.rank_bin)
        in_can += b.in_can
        parts[b.start] = b.records
    records = {name: np.concatenate([parts[s][name] for s in sorted(parts)]) for name in parts[0]}
    selected = records["can_kept"].sum(axis=0)
    share = records["can_share"].sum(axis=0)
    p05, p50, p95 = _percentiles(hist, draws, inputs.rank_width, (5, 50, 95))
    return SensitivityResult(
        inputs=inputs,
        design=design,
        seed=seed,
        draws=draws,
        p_in_can=in_can / draws,
        rank_p05=p05,
        rank_p50=p50,
        rank_p95=p95,
        selection_frequency=selected / draws,
        mean_share=share / draws,
        records=records,
        execution=execution,
    )


def run_sensitivity(
    inputs: SensitivityInputs,
    *,
    design: Design,
    draws: int,
    seed: int,
    scheduler: str | Any | None = None,
    workers: int | None = None,
    batch_size: int | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> SensitivityResult:
    """Run ``draws`` Monte Carlo draws in-process, on a local cluster or on a Dask scheduler.

    ``scheduler`` is an address (or a ``distributed.Client``); without one, runs of fewer than
    ``LOCAL_CLUSTER_MIN_DRAWS`` draws or with one worker stay in this process (starting a
    cluster costs a few seconds), larger ones start a ``LocalCluster`` of ``workers`` processes.
    ``batch_size`` only changes how the work is split, never the result.
    """
    if draws < 1:
        raise ConfigError("at least one draw is needed", hint="pass --draws 1000")
    workers = workers or os.cpu_count() or 1
    if scheduler is None and (workers == 1 or draws < LOCAL_CLUSTER_MIN_DRAWS):
        size = batch_size or draws
        execution = {"mode": "in-process", "workers": 1, "batch_size": size}

        def local() -> Iterable[DrawBatch]:
            for lo, hi in _batches(draws, size):
                batch = run_batch(inputs, design, seed, lo, hi)
                if on_batch:
                    on_batch(hi - lo)
                yield batch

        return _combine(inputs, design, seed, draws, local(), execution)
    return _run_dask(inputs, design, draws, seed, scheduler, workers, batch_size, on_batch)


def _run_dask(
    inputs: SensitivityInputs,
    design: Design,
    draws: int,
    seed: int,
    scheduler: Any,
    workers: int,
    batch_size: int | None,
    on_batch: Callable[[int], None] | None,
) -> SensitivityResult:
    """Scatter the inputs once, map batches over the workers, combine as batches complete."""
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
        mode = "local-cluster"
    elif isinstance(scheduler, Client):
        client = scheduler
        mode = "scheduler"
    else:
        client = Client(scheduler)
        mode = "scheduler"
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or workers)
        size = batch_size or max(64, min(2000, math.ceil(draws / (4 * n_workers))))
        remote = client.scatter(inputs, broadcast=True)
        futures = [
            client.submit(run_batch, remote, design, seed, lo, hi, pure=False)
            for lo, hi in _batches(draws, size)
        ]
        execution = {"mode": mode, "workers": n_workers, "batch_size": size}

        def gathered() -> Iterable[DrawBatch]:
            for future in as_completed(futures):
                batch = future.result()
                future.release()
                if on_batch:
                    on_batch(batch.stop - batch.start)
                yield batch

        return _combine(inputs, design, seed, draws, gathered(), execution)
    finally:
        if scheduler is None or not isinstance(scheduler, Client):
            client.close()
        if cluster is not None:
            cluster.close()


def design_record(design: Design) -> dict[str, Any]:
    """The design as plain data for the manifest."""
    data = asdict(design)
    data["normalisations"] = list(design.normalisations) or ["nominal"]
    return data
