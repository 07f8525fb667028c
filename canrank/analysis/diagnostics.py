"""What the composite really weights: overlap, effective importance and redundancy of indicators.

The multivariate checks of the OECD/JRC Handbook on Constructing Composite Indicators (2008,
step 4) and of COINr (``get_corr``, ``get_PCA``, ``get_cronbach``), computed on the normalised
indicators of one ranked scenario:

* the **Spearman correlation matrix** of the normalised indicators;
* each indicator's **effective importance**, the JRC "main effect" ``S_i = V[E(y | x_i)] / V(y)``
  of the indicator on the composite ``y``, estimated as the squared Pearson correlation ``R_i^2``
  (exact when the relation is linear, as it is for an arithmetic mean of well-correlated
  indicators; Paruolo, Saisana and Saltelli 2013, "Ratings and rankings: voodoo or science?",
  J. R. Stat. Soc. A 176). The shares ``S_i / sum_j S_j`` are set against the nominal weight
  shares: equal weights do not mean equal importance;
* how much of the variation **one underlying dimension** explains (first principal component of
  the Spearman matrix) and Cronbach's alpha;
* **containment** read from the catalogue (:data:`canrank.sources.IOD_COMPONENTS`): the IMD
  contains the Income domain (22.5 % of it), which contains IDACI and IDAOPI, so a scenario that
  weights them side by side counts income deprivation several times; the nominal weight each
  IoD domain really receives is reported;
* plain-language **warnings** naming the pair and the figure when two indicators correlate at or
  above :data:`REDUNDANCY_THRESHOLD` (Spearman), when one is a component of another, or when an
  indicator's effective share is far from its nominal one;
* the optional **overlap correction** (scenario ``overlap_correction: effective_weights``):
  :func:`correct_weights` rescales the weights until every effective share matches its nominal
  share (the approach of Becker, Paruolo, Saisana and Saltelli 2017, "Weights and importance in
  composite indicators: closing the gap", Ecological Indicators 80), deterministic and bounded;
* a hook for **leave-one-out selection change** (:func:`selection_changes`): the share of the
  build's CAN LSOAs that are no longer in a CAN when an indicator is left out, given a selector
  supplied by the caller (the selection itself belongs to the build commands).

Everything returned by :func:`diagnostics` is JSON-able, rounded and deterministic, so it can go
into ``manifest.json``; :func:`diagnostics_lines` and :func:`diagnostics_table_html` present it.
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from canrank.composite import aggregate
from canrank.sources import CATALOGUE, IOD_COMPONENTS, IOD_MEASURE_LABELS, SOURCE_OVERLAPS

if TYPE_CHECKING:
    from canrank.config import ResolvedIndicator, ResolvedScenario

__all__ = [
    "CORRECTION_MAX_ITER",
    "CORRECTION_TOLERANCE",
    "CORRECTION_WARN_FACTOR",
    "IMBALANCE_RATIO",
    "NEGATIVE_THRESHOLD",
    "REDUNDANCY_THRESHOLD",
    "WeightCorrection",
    "correct_weights",
    "diagnostics",
    "diagnostics_lines",
    "diagnostics_table_html",
    "effective_shares",
    "iod_measure",
    "leave_one_out_scores",
    "main_effects",
    "selection_changes",
    "spearman_matrix",
    "weights_used",
    "with_selection_changes",
]

#: Two indicators whose Spearman correlation is at least this measure much the same thing.
REDUNDANCY_THRESHOLD = 0.9
#: Two indicators correlating at or below this (Spearman) partly cancel out in the composite.
NEGATIVE_THRESHOLD = -0.3
#: An effective share this many times its nominal share (or below its reciprocal) is flagged.
IMBALANCE_RATIO = 1.25
#: The overlap correction stops when every effective share is within this of its nominal share
#: (absolute, as a share: 0.001 = 0.1 percentage point).
CORRECTION_TOLERANCE = 1e-3
#: ... or after this many multiplicative updates (reported as not converged).
CORRECTION_MAX_ITER = 500
#: A correction that changes a weight by this factor or more is reported as unstable.
CORRECTION_WARN_FACTOR = 2.0
#: Each update changes a weight by at most this factor (keeps the iteration stable).
_MAX_STEP = 4.0
#: Figures are rounded to this many decimals, so the manifest is byte-stable.
DIGITS = 4

_IOD_COLUMN = re.compile(r"^(?P<measure>[a-z_]+?)_(score|rank|decile)$")


# ---------------------------------------------------------------- numerical core (no I/O)


def spearman_matrix(norm: np.ndarray) -> np.ndarray:
    """Spearman correlations of the columns of ``norm`` (``n x m``; average ranks for ties).

    A constant column correlates with nothing: its row and column are NaN (1 on the diagonal).
    """
    x = np.asarray(norm, dtype=float)
    ranks = pd.DataFrame(x).rank(method="average").to_numpy()
    return _pearson_matrix(ranks)


def _pearson_matrix(x: np.ndarray) -> np.ndarray:
    m = x.shape[1]
    centred = x - x.mean(axis=0)
    sd = np.sqrt((centred**2).sum(axis=0))
    out = np.full((m, m), np.nan)
    ok = sd > 0
    cov = centred.T @ centred
    with np.errstate(divide="ignore", invalid="ignore"):
        out[np.ix_(ok, ok)] = (cov / np.outer(sd, sd))[np.ix_(ok, ok)]
    np.fill_diagonal(out, 1.0)
    return np.clip(out, -1.0, 1.0)


def main_effects(norm: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Squared Pearson correlation of each column of ``norm`` with ``score`` (the JRC main
    effect ``S_i`` under a linear relation); 0 for a constant column or a constant score."""
    x = np.asarray(norm, dtype=float)
    y = np.asarray(score, dtype=float)
    xc = x - x.mean(axis=0)
    yc = y - y.mean()
    denom = np.sqrt((xc**2).sum(axis=0) * (yc**2).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(denom > 0, (xc * yc[:, None]).sum(axis=0) / denom, 0.0)
    return np.clip(r, -1.0, 1.0) ** 2


def _shares(values: np.ndarray) -> np.ndarray:
    total = values.sum()
    return values / total if total > 0 else np.full(len(values), 1.0 / len(values))


def effective_shares(
    norm: np.ndarray, weights: Sequence[float] | np.ndarray, aggregation: str = "arithmetic"
) -> np.ndarray:
    """Each indicator's share of the summed main effects of the composite built with
    ``weights`` (shares sum to 1; compare with ``weights / weights.sum()``)."""
    score = aggregate(norm, np.asarray(weights, dtype=float), aggregation)
    return _shares(main_effects(norm, score))


@dataclass(frozen=True)
class WeightCorrection:
    """The result of :func:`correct_weights`: weights (summing to 1) whose effective shares
    match the nominal shares, with how well and how fast they do."""

    weights: np.ndarray
    effective_shares: np.ndarray
    iterations: int
    converged: bool
    max_gap: float  # largest |effective share - nominal share| reached
    fixed: tuple[int, ...] = ()  # indicators left at their nominal weight (no variation)


def correct_weights(
    norm: np.ndarray,
    weights: Sequence[float] | np.ndarray,
    aggregation: str = "arithmetic",
    *,
    tolerance: float = CORRECTION_TOLERANCE,
    max_iter: int = CORRECTION_MAX_ITER,
) -> WeightCorrection:
    """Rescale ``weights`` so that effective importances match the nominal weight shares.

    Iterates ``w_i <- w_i * sqrt(t_i / e_i)`` (then renormalises), with ``t_i`` the nominal share
    and ``e_i`` the effective share of the composite built with the current weights, until every
    ``|e_i - t_i| <= tolerance`` or ``max_iter`` updates. The square root is the natural step:
    a small indicator's main effect grows with the square of its weight, and the plain ratio
    oscillates (two identical indicators against an independent one flip between 2:1 and 1:2).
    Each update's factor is kept between 1/4 and 4. Deterministic (no randomness, fixed order). An
    indicator with no variation has no main effect and keeps its nominal weight. When the
    targets cannot be reached (indicators so alike that their shares hardly move), the best
    weights found are returned with ``converged=False`` and the remaining gap.
    """
    x = np.asarray(norm, dtype=float)
    nominal = np.asarray(weights, dtype=float)
    target = nominal / nominal.sum()
    varies = x.std(axis=0) > 0
    fixed = tuple(int(i) for i in np.flatnonzero(~varies))
    # a constant indicator has no main effect: the others share the effective importance, so
    # their targets are their nominal shares among themselves
    goal = np.where(varies, target / target[varies].sum(), 0.0) if varies.any() else target
    w = target.copy()
    best_w, best_gap, best_e = w.copy(), np.inf, target.copy()
    iterations = 0
    for iterations in range(max_iter + 1):
        e = effective_shares(x, w, aggregation)
        gap = float(np.abs(e - goal)[varies].max()) if varies.any() else 0.0
        if gap < best_gap - 1e-15:
            best_w, best_gap, best_e = w.copy(), gap, e
        if gap <= tolerance or iterations == max_iter:
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.sqrt(np.where(e > 0, goal / e, _MAX_STEP**2))
        step = np.clip(step, 1.0 / _MAX_STEP, _MAX_STEP)
        step[~varies] = 1.0
        w = w * step
        # indicators without variation keep their nominal share of the total weight
        if fixed:
            free = varies
            w[free] = w[free] / w[free].sum() * target[free].sum()
            w[~free] = target[~free]
        w = w / w.sum()
    return WeightCorrection(
        weights=best_w,
        effective_shares=best_e,
        iterations=iterations,
        converged=best_gap <= tolerance,
        max_gap=best_gap,
        fixed=fixed,
    )


# ---------------------------------------------------------------- the catalogue's structure


def iod_measure(
    ind: ResolvedIndicator, *, source_loaders: Mapping[str, str] | None = None
) -> str | None:
    """The IoD measure an indicator reads (``imd``, ``income``, ``idaci`` ...), or ``None``.

    An indicator is IoD-based when its source's loader is ``iod`` (catalogue entries, or the
    config's own sources given in ``source_loaders``: source id -> loader) and its column is one
    of the loader's ``<measure>_score`` / ``_rank`` / ``_decile`` columns.
    """
    loaders = dict(source_loaders or {})
    loader = loaders.get(ind.source) or (
        CATALOGUE[ind.source].loader if ind.source in CATALOGUE else None
    )
    if loader != "iod":
        return None
    m = _IOD_COLUMN.match(ind.column)
    if not m or m.group("measure") not in IOD_MEASURE_LABELS:
        return None
    return m.group("measure")


def _path_down(outer: str, inner: str) -> list[str] | None:
    """The chain of IoD measures from ``outer`` down to ``inner`` (both included), or None."""
    if outer == inner:
        return [outer]
    for child in sorted(IOD_COMPONENTS.get(outer, {})):
        sub = _path_down(child, inner)
        if sub is not None:
            return [outer, *sub]
    return None


def _label(measure: str) -> str:
    return IOD_MEASURE_LABELS.get(measure, measure)


def _chain_text(chain: list[str]) -> str:
    """e.g. 'IDACI is part of the Income domain, which makes up 22.5 % of the IMD'."""
    steps = list(zip(chain[1:], chain[:-1], strict=True))[::-1]  # (child, parent), innermost first

    def verb(child: str, parent: str) -> str:
        weight = IOD_COMPONENTS[parent][child]
        if weight is None:
            return f"is part of {_label(parent)}"
        return f"makes up {weight * 100:.1f} % of {_label(parent)}"

    first_child, first_parent = steps[0]
    text = f"{_label(first_child)} {verb(first_child, first_parent)}"
    for child, parent in steps[1:]:
        text += f", which {verb(child, parent)}"
    return text


def _domain_content(measure: str) -> dict[str, float]:
    """How a measure's weight splits over the seven IMD domains (IDACI/IDAOPI -> Income)."""
    if measure == "imd":
        return {d: float(w or 0.0) for d, w in IOD_COMPONENTS["imd"].items()}
    if measure in IOD_COMPONENTS["imd"]:
        return {measure: 1.0}
    for domain in IOD_COMPONENTS["imd"]:
        if _path_down(domain, measure):
            return {domain: 1.0}
    return {}


# ---------------------------------------------------------------- the diagnostics record


def _norm_frame(ranked: pd.DataFrame, scenario: ResolvedScenario) -> tuple[list[str], np.ndarray]:
    keys = [i.key for i in scenario.indicators]
    missing = [f"{k}_norm" for k in keys if f"{k}_norm" not in ranked.columns]
    if missing:
        raise ValueError(f"the ranked table has no column(s) {', '.join(missing)}")
    norm = ranked[[f"{k}_norm" for k in keys]].to_numpy(dtype=float)
    return keys, norm


def _r(x: float | None, digits: int = DIGITS) -> float | None:
    if x is None or not np.isfinite(x):
        return None
    v = round(float(x), digits)
    return 0.0 if v == 0 else v


def _pct(x: float) -> str:
    return f"{x * 100:.1f} %"


def weights_used(ranked: pd.DataFrame, scenario: ResolvedScenario) -> np.ndarray:
    """The weights the build's ``score`` was made with (nominal, or corrected when the scenario
    asks for the overlap correction: recomputed, the correction is deterministic)."""
    nominal = np.array([i.weight for i in scenario.indicators], dtype=float)
    if getattr(scenario, "overlap_correction", "none") != "effective_weights":
        return nominal / nominal.sum()
    _keys, norm = _norm_frame(ranked, scenario)
    return correct_weights(norm, nominal, scenario.aggregation).weights


def diagnostics(
    ranked: pd.DataFrame,
    scenario: ResolvedScenario,
    *,
    threshold: float = REDUNDANCY_THRESHOLD,
    selection_change: Mapping[str, float] | None = None,
    source_loaders: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The composite diagnostics of one ranked scenario, JSON-able for ``manifest.json``.

    ``ranked`` is :func:`canrank.ranking.rank_study`'s table (or a build's ``lsoa``): it needs
    ``<key>_norm`` per indicator and ``score``. ``selection_change`` (indicator key -> share of
    CAN LSOAs changed when it is left out, from :func:`selection_changes`) is added when given.
    ``source_loaders`` names the loader of the config's own sources (catalogue ones are known).
    """
    keys, norm = _norm_frame(ranked, scenario)
    inds = list(scenario.indicators)
    m = len(keys)
    nominal = np.array([i.weight for i in inds], dtype=float)
    nominal = nominal / nominal.sum()
    mode = getattr(scenario, "overlap_correction", "none")
    applied = mode == "effective_weights"
    correction = correct_weights(norm, nominal, scenario.aggregation)
    used = correction.weights if applied else nominal
    score = (
        ranked["score"].to_numpy(dtype=float)
        if "score" in ranked.columns
        else aggregate(norm, used, scenario.aggregation)
    )
    s_used = main_effects(norm, score)
    share_used = _shares(s_used)
    s_nominal = main_effects(norm, aggregate(norm, nominal, scenario.aggregation))
    share_nominal = _shares(s_nominal)
    rho = spearman_matrix(norm)
    measures = [iod_measure(i, source_loaders=source_loaders) for i in inds]

    rows: list[dict[str, Any]] = []
    for j, ind in enumerate(inds):
        row: dict[str, Any] = {
            "key": ind.key,
            "label": ind.label,
            "source": ind.source,
            "iod_measure": measures[j],
            "nominal_weight": _r(nominal[j]),
            "weight_used": _r(used[j]),
            "main_effect": _r(s_used[j]),
            "effective_share": _r(share_used[j]),
            "effective_to_nominal": _r(share_used[j] / nominal[j]) if nominal[j] > 0 else None,
            "effective_share_nominal_weights": _r(share_nominal[j]),
            "corrected_weight": _r(correction.weights[j]),
        }
        if selection_change is not None and ind.key in selection_change:
            row["selection_change"] = _r(selection_change[ind.key])
        rows.append(row)

    # one underlying dimension? (JRC step 4: PCA of the correlation matrix; Cronbach's alpha)
    pc1 = None
    alpha = None
    finite = np.isfinite(rho).all()
    if m >= 2 and finite:
        eig = np.linalg.eigvalsh(rho)
        pc1 = float(eig[-1] / eig.sum())
        var = norm.var(axis=0, ddof=1)
        total = norm.sum(axis=1).var(ddof=1)
        alpha = float(m / (m - 1) * (1 - var.sum() / total)) if total > 0 else None

    warnings: list[dict[str, Any]] = []
    for a in range(m):
        for b in range(a + 1, m):
            r = rho[a, b]
            if np.isfinite(r) and r >= threshold:
                warnings.append(
                    {
                        "kind": "correlation",
                        "indicators": [keys[a], keys[b]],
                        "value": _r(r, 3),
                        "text": f"{keys[a]} and {keys[b]} are strongly correlated (Spearman "
                        f"{r:.3f} >= {threshold:g}): they largely measure the same thing, so "
                        "together they count it twice",
                    }
                )
            elif np.isfinite(r) and r <= NEGATIVE_THRESHOLD:
                warnings.append(
                    {
                        "kind": "negative_correlation",
                        "indicators": [keys[a], keys[b]],
                        "value": _r(r, 3),
                        "text": f"{keys[a]} and {keys[b]} are negatively correlated (Spearman "
                        f"{r:.3f}): in the composite they partly cancel out",
                    }
                )
    warnings += _containment_warnings(inds, measures)
    for j, key in enumerate(keys):
        ratio = share_used[j] / nominal[j] if nominal[j] > 0 else np.nan
        if np.isfinite(ratio) and (ratio >= IMBALANCE_RATIO or ratio <= 1 / IMBALANCE_RATIO):
            warnings.append(
                {
                    "kind": "imbalance",
                    "indicators": [key],
                    "value": _r(share_used[j]),
                    "text": f"{key} carries {_pct(share_used[j])} of the composite's effective "
                    f"importance against a nominal weight of {_pct(nominal[j])}",
                }
            )
    content = _iod_content(inds, measures, nominal)
    if content:
        income = content.get("income", 0.0)
        if income > 0.5 and any(w["kind"] in ("containment", "overlap") for w in warnings):
            warnings.append(
                {
                    "kind": "domain_weight",
                    "indicators": [
                        i.key
                        for i, ms in zip(inds, measures, strict=True)
                        if ms or i.source in SOURCE_OVERLAPS
                    ],
                    "value": _r(income),
                    "text": f"income deprivation receives {_pct(income)} of the nominal weight "
                    "once the IoD's structure is followed (the Income domain is 22.5 % of the "
                    "IMD; IDACI and IDAOPI are parts of the Income domain)",
                }
            )
    spread = float(np.max(np.maximum(correction.weights / nominal, nominal / correction.weights)))
    if spread >= CORRECTION_WARN_FACTOR:
        j = int(np.argmax(np.maximum(correction.weights / nominal, nominal / correction.weights)))
        gaps = np.abs(share_nominal - nominal)
        warnings.append(
            {
                "kind": "correction_unstable",
                "indicators": [keys[j]],
                "value": _r(spread),
                "text": "matching effective to nominal shares needs very unequal weights ("
                f"{keys[j]} {_pct(nominal[j])} -> {_pct(correction.weights[j])}) to close gaps "
                f"of at most {float(gaps.max()) * 100:.1f} percentage points: the indicators "
                "are so alike that effective importance hardly depends on the weights"
                + (
                    " (the correction is applied as asked)"
                    if applied
                    else "; the overlap correction is not advised for this scenario"
                ),
            }
        )
    if not correction.converged:
        warnings.append(
            {
                "kind": "correction",
                "indicators": keys,
                "value": _r(correction.max_gap),
                "text": "the overlap correction could not make every effective share match its "
                f"nominal weight (largest gap {_pct(correction.max_gap)} after "
                f"{correction.iterations} iterations)"
                + ("; the closest weights were used" if applied else ""),
            }
        )

    out: dict[str, Any] = {
        "method": {
            "correlation": "Spearman, normalised indicators",
            "effective_importance": "main effect S_i estimated as the squared Pearson "
            "correlation of the normalised indicator with the composite; shares of the sum",
            "redundancy_threshold": threshold,
            "negative_threshold": NEGATIVE_THRESHOLD,
            "imbalance_ratio": IMBALANCE_RATIO,
        },
        "n_lsoas": len(ranked),
        "indicators": rows,
        "spearman": {
            "keys": keys,
            "matrix": [[_r(rho[a, b], 3) for b in range(m)] for a in range(m)],
        },
        "pc1_share": _r(pc1),
        "cronbach_alpha": _r(alpha),
        "correction": {
            "mode": mode,
            "applied": applied,
            "weights": {k: _r(w) for k, w in zip(keys, correction.weights, strict=True)},
            "effective_shares": {
                k: _r(s) for k, s in zip(keys, correction.effective_shares, strict=True)
            },
            "iterations": correction.iterations,
            "converged": correction.converged,
            "max_gap": _r(correction.max_gap),
            "tolerance": CORRECTION_TOLERANCE,
            "score_spearman_nominal_vs_corrected": _r(
                float(
                    spearman_matrix(
                        np.column_stack(
                            [
                                aggregate(norm, nominal, scenario.aggregation),
                                aggregate(norm, correction.weights, scenario.aggregation),
                            ]
                        )
                    )[0, 1]
                )
            ),
        },
        "warnings": warnings,
    }
    if content:
        out["iod_domain_weight"] = {d: _r(v) for d, v in content.items()}
    return out


def _containment_warnings(
    inds: list[ResolvedIndicator], measures: list[str | None]
) -> list[dict[str, Any]]:
    """Pairs where one indicator's source is a component of another's, per the catalogue."""
    found: list[dict[str, Any]] = []
    # a non-IoD source known to count the same people as an IoD measure
    related: list[tuple[str | None, str | None]] = []
    for ind, meas in zip(inds, measures, strict=True):
        over = SOURCE_OVERLAPS.get(ind.source)
        related.append((over[0], over[1]) if over and meas is None else (None, None))
    for a, ia in enumerate(inds):
        for b, ib in enumerate(inds):
            if a == b:
                continue
            ma, mb = measures[a], measures[b]
            if ma is not None and mb is not None:
                if ma == mb and a < b:
                    found.append(
                        {
                            "kind": "containment",
                            "indicators": [ia.key, ib.key],
                            "value": None,
                            "text": f"{ia.key} and {ib.key} both read {_label(ma)}: the same "
                            "measure is counted twice",
                        }
                    )
                    continue
                chain = _path_down(ma, mb) if ma != mb else None
                if chain:
                    found.append(
                        {
                            "kind": "containment",
                            "indicators": [ia.key, ib.key],
                            "value": _containment_share(chain),
                            "text": f"{ib.key} is contained in {ia.key}: "
                            f"{_chain_text(chain)}, so it is counted twice",
                        }
                    )
            elif ma is not None and related[b][0] is not None:
                inner, why = related[b]
                assert inner is not None
                chain = _path_down(ma, inner)
                if chain:
                    via = "" if ma == inner else f" ({_chain_text(chain)})"
                    found.append(
                        {
                            "kind": "overlap",
                            "indicators": [ia.key, ib.key],
                            "value": None,
                            "text": f"{ib.key} overlaps {ia.key}: {why}{via}",
                        }
                    )
    return found


def _containment_share(chain: list[str]) -> float | None:
    """The share of the outer measure made up by the inner one, when every step is weighted."""
    share = 1.0
    for parent, child in itertools.pairwise(chain):
        w = IOD_COMPONENTS[parent][child]
        if w is None:
            return None
        share *= w
    return _r(share)


def _iod_content(
    inds: list[ResolvedIndicator], measures: list[str | None], nominal: np.ndarray
) -> dict[str, float]:
    """The nominal weight each IMD domain receives, following the IoD's structure (IMD split by
    its published domain weights; IDACI/IDAOPI count as Income); non-IoD indicators as
    ``other``. Empty unless at least two indicators are IoD measures."""
    related = [
        m is not None or i.source in SOURCE_OVERLAPS for i, m in zip(inds, measures, strict=True)
    ]
    if sum(related) < 2:
        return {}
    total: dict[str, float] = {}
    for ind, meas, w in zip(inds, measures, nominal, strict=True):
        parts = _domain_content(meas) if meas else {}
        if not parts:
            over = SOURCE_OVERLAPS.get(ind.source)
            parts = _domain_content(over[0]) if over else {}
        if not parts:
            parts = {"other": 1.0}
        for d, share in parts.items():
            total[d] = total.get(d, 0.0) + float(w) * share
    order = [*IOD_COMPONENTS["imd"], "other"]
    return {d: total[d] for d in order if d in total}


# ---------------------------------------------------------------- leave-one-out hook


def leave_one_out_scores(ranked: pd.DataFrame, scenario: ResolvedScenario) -> dict[str, np.ndarray]:
    """The composite without each indicator in turn (the remaining weights used by the build,
    renormalised), in ``ranked``'s row order; empty for a one-indicator scenario."""
    keys, norm = _norm_frame(ranked, scenario)
    if len(keys) < 2:
        return {}
    used = weights_used(ranked, scenario)
    out: dict[str, np.ndarray] = {}
    for j, key in enumerate(keys):
        keep = np.arange(len(keys)) != j
        out[key] = aggregate(norm[:, keep], used[keep], scenario.aggregation)
    return out


def selection_changes(
    ranked: pd.DataFrame,
    scenario: ResolvedScenario,
    selector: Callable[[np.ndarray], Iterable[int]],
    *,
    baseline: Iterable[int] | None = None,
) -> dict[str, float]:
    """Share of the CAN LSOAs that are no longer in any CAN when each indicator is left out.

    ``selector(scores)`` receives a score per row of ``ranked`` (same order) and returns the row
    indices of every LSOA in a selected CAN, e.g. with a build (``lsoa`` in rank order)::

        problem = build.problem()
        def selector(s):
            sel = select(dataclasses.replace(problem, score=s), "greedy")
            return np.concatenate(sel.cans)

    ``baseline`` is the build's own CAN rows (default: ``selector(ranked["score"])``). The share
    is ``1 - |baseline & new| / |baseline|`` (0 = same LSOAs, 1 = none kept), rounded.
    """
    base = set(
        int(i)
        for i in (
            baseline if baseline is not None else selector(ranked["score"].to_numpy(dtype=float))
        )
    )
    out: dict[str, float] = {}
    for key, scores in leave_one_out_scores(ranked, scenario).items():
        new = {int(i) for i in selector(scores)}
        out[key] = round(1.0 - len(base & new) / len(base), DIGITS) if base else 0.0
    return out


def with_selection_changes(d: Mapping[str, Any], changes: Mapping[str, float]) -> dict[str, Any]:
    """A copy of a diagnostics record with ``selection_change`` added per indicator."""
    out = dict(d)
    rows = []
    for row in d.get("indicators", []):
        row = dict(row)
        if row["key"] in changes:
            row["selection_change"] = _r(changes[row["key"]])
        rows.append(row)
    out["indicators"] = rows
    return out


# ---------------------------------------------------------------- presentation


def _fmt(x: Any, pct: bool = False) -> str:
    if x is None:
        return "-"
    return _pct(float(x)) if pct else f"{float(x):.3f}"


def diagnostics_lines(d: Mapping[str, Any]) -> list[str]:
    """Plain-text lines for the screen after a build and for text reports (no markup)."""
    rows = d.get("indicators", [])
    lines: list[str] = []
    if not rows:
        return lines
    corr = d.get("correction", {})
    applied = bool(corr.get("applied"))
    lines.append(
        "Composite diagnostics (effective importance = squared correlation with the score):"
    )
    has_change = any("selection_change" in r for r in rows)
    width = max(len(r["key"]) for r in rows)
    head = f"  {'indicator':<{width}}  nominal  {'used':>6}  effective  S_i"
    head += "  CAN LSOAs changed if left out" if has_change else ""
    lines.append(head)
    for r in rows:
        line = (
            f"  {r['key']:<{width}}  {_fmt(r['nominal_weight'], True):>7}  "
            f"{_fmt(r['weight_used'], True):>6}  {_fmt(r['effective_share'], True):>9}  "
            f"{_fmt(r['main_effect'])}"
        )
        if has_change:
            line += f"  {_fmt(r.get('selection_change'), True)}"
        lines.append(line)
    sp = d.get("spearman", {})
    keys, mat = sp.get("keys", []), sp.get("matrix", [])
    pairs = [
        (mat[a][b], keys[a], keys[b])
        for a in range(len(keys))
        for b in range(a + 1, len(keys))
        if mat[a][b] is not None
    ]
    if pairs:
        lo, hi = min(pairs), max(pairs)
        lines.append(
            f"  Spearman correlations between indicators: {lo[0]:.3f} ({lo[1]}/{lo[2]}) to "
            f"{hi[0]:.3f} ({hi[1]}/{hi[2]})"
        )
    if d.get("pc1_share") is not None:
        lines.append(
            f"  One underlying dimension explains {_pct(d['pc1_share'])} of the variation "
            f"(first principal component); Cronbach's alpha {_fmt(d.get('cronbach_alpha'))}"
        )
    content = d.get("iod_domain_weight")
    if content:
        parts = ", ".join(f"{k} {_pct(v)}" for k, v in content.items() if v)
        lines.append(f"  Nominal weight by IoD domain, following the IoD's structure: {parts}")
    if applied:
        lines.append(
            "  Overlap correction applied (overlap_correction: effective_weights): weights "
            "rescaled so effective shares match the nominal ones"
            + ("" if corr.get("converged") else " as closely as possible")
        )
    elif corr.get("weights"):
        sugg = ", ".join(f"{k} {_pct(v)}" for k, v in corr["weights"].items() if v is not None)
        lines.append(
            "  Not corrected for overlap; weights that would equalise effective and nominal "
            f"shares (overlap_correction: effective_weights): {sugg}"
        )
    for w in d.get("warnings", []):
        lines.append(f"  warning: {w['text']}")
    return lines


def diagnostics_table_html(d: Mapping[str, Any]) -> str:
    """An HTML fragment (every data string escaped) for the compare and report pages: the
    indicator table, the Spearman matrix and the warnings."""
    e = html.escape
    rows = d.get("indicators", [])
    if not rows:
        return '<p class="diagnostics">No indicators.</p>'
    has_change = any("selection_change" in r for r in rows)
    out = ['<div class="diagnostics">', '<table class="diagnostics-weights">']
    head = [
        "Indicator",
        "Nominal weight",
        "Weight used",
        "Effective share",
        "Main effect S<sub>i</sub> (R&sup2;)",
    ]
    if has_change:
        head.append("CAN LSOAs changed if left out")
    out.append("<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>")
    for r in rows:
        cells = [
            f'<td title="{e(str(r.get("label", "")))}">{e(str(r["key"]))}</td>',
            f"<td>{e(_fmt(r['nominal_weight'], True))}</td>",
            f"<td>{e(_fmt(r['weight_used'], True))}</td>",
            f"<td>{e(_fmt(r['effective_share'], True))}</td>",
            f"<td>{e(_fmt(r['main_effect']))}</td>",
        ]
        if has_change:
            cells.append(f"<td>{e(_fmt(r.get('selection_change'), True))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    sp = d.get("spearman", {})
    keys, mat = sp.get("keys", []), sp.get("matrix", [])
    if len(keys) >= 2:
        out.append(
            '<table class="diagnostics-spearman"><caption>Spearman correlations of the '
            "normalised indicators</caption><thead><tr><th></th>"
        )
        out.append("".join(f"<th>{e(str(k))}</th>" for k in keys) + "</tr></thead><tbody>")
        for k, row in zip(keys, mat, strict=True):
            out.append(
                f"<tr><th>{e(str(k))}</th>"
                + "".join(f"<td>{e(_fmt(v))}</td>" for v in row)
                + "</tr>"
            )
        out.append("</tbody></table>")
    notes = []
    if d.get("pc1_share") is not None:
        notes.append(
            f"One underlying dimension explains {_pct(d['pc1_share'])} of the variation; "
            f"Cronbach's alpha {_fmt(d.get('cronbach_alpha'))}."
        )
    content = d.get("iod_domain_weight")
    if content:
        parts = ", ".join(f"{k} {_pct(v)}" for k, v in content.items() if v)
        notes.append(f"Nominal weight by IoD domain: {parts}.")
    corr = d.get("correction", {})
    notes.append(
        "Overlap correction applied: weights rescaled so effective shares match nominal ones."
        if corr.get("applied")
        else "No overlap correction (scenario option overlap_correction: effective_weights)."
    )
    out.append("".join(f"<p>{e(n)}</p>" for n in notes))
    warns = d.get("warnings", [])
    if warns:
        out.append(
            '<ul class="diagnostics-warnings">'
            + "".join(f"<li>{e(str(w['text']))}</li>" for w in warns)
            + "</ul>"
        )
    out.append("</div>")
    return "".join(out)
