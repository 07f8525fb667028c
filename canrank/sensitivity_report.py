"""Tables, the rank-interval plot and the manifest of a sensitivity run, written atomically.

Every file is deterministic for a seed: CSVs use canrank's fixed float format, the PNG is drawn
by matplotlib's Agg backend without a timestamp or version in its metadata, and the manifest
holds no timings.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from canrank import __version__
from canrank.outputs import atomic_directory, write_csv, write_json
from canrank.sensitivity import SensitivityResult, design_record

__all__ = ["can_frame", "draws_frame", "lsoa_frame", "plot_intervals", "write_sensitivity"]


def lsoa_frame(result: SensitivityResult, build: Any) -> pd.DataFrame:
    """One row per LSOA, most stressed (nominal rank) first."""
    inp = result.inputs
    meta = build.lsoa.set_index("lsoa_code").loc[inp.codes]
    frame = pd.DataFrame(
        {
            "lsoa_code": inp.codes,
            "p_in_can": result.p_in_can,
            "rank_p05": result.rank_p05,
            "rank_p50": result.rank_p50,
            "rank_p95": result.rank_p95,
            "nominal_rank": inp.nominal_rank,
            "nominal_can_id": pd.array(np.where(inp.nominal_can > 0, inp.nominal_can, pd.NA)),
            "lsoa_name": meta["lsoa_name"].to_numpy(),
            "borough_name": meta["borough_name"].to_numpy(),
        }
    )
    frame["nominal_can_id"] = frame["nominal_can_id"].astype("Int64")
    return frame.sort_values("nominal_rank", kind="stable").reset_index(drop=True)


def can_frame(result: SensitivityResult, build: Any) -> pd.DataFrame:
    """One row per nominal CAN: how often it (or > 50 % of its population) is selected again."""
    cans = build.cans
    return pd.DataFrame(
        {
            "can_id": cans["can_id"].to_numpy(),
            "name": cans["name"].to_numpy(),
            "selection_frequency": result.selection_frequency,
            "mean_population_share_in_cans": result.mean_share,
            "population": cans["population"].to_numpy(),
            "n_lsoas": cans["n_lsoas"].to_numpy(),
        }
    )


def draws_frame(result: SensitivityResult) -> pd.DataFrame:
    """One row per draw: the choices made and how far the result moved from the nominal one."""
    inp = result.inputs
    rec = result.records
    frame = pd.DataFrame(
        {
            "draw": np.arange(result.draws),
            "normalisation": np.asarray(inp.norm_names)[rec["normalisation"]],
            "dropped_indicator": [inp.keys[d] if d >= 0 else "" for d in rec["dropped"]],
        }
    )
    for j, key in enumerate(inp.keys):
        frame[f"weight_{key}"] = rec["weights"][:, j]
    frame["objective"] = rec["objective"]
    frame["n_cans"] = rec["n_cans"]
    frame["nominal_cans_kept"] = rec["nominal_cans_kept"]
    frame["mean_abs_rank_shift"] = rec["mean_abs_rank_shift"]
    return frame


def plot_intervals(result: SensitivityResult, build: Any, path: Path, *, top: int = 300) -> None:
    """PNG: median rank and 5-95 % interval of the ``top`` LSOAs by nominal rank, CAN members
    highlighted, beside each nominal CAN's selection frequency."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    inp = result.inputs
    order = np.argsort(inp.nominal_rank, kind="stable")[: min(top, inp.n)]
    x = inp.nominal_rank[order]
    member = inp.nominal_can[order] > 0
    fig = Figure(figsize=(12, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax, bx = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    lo = result.rank_p50[order] - result.rank_p05[order]
    hi = result.rank_p95[order] - result.rank_p50[order]
    for mask, colour, label in (
        (~member, "#9e9e9e", "other LSOAs"),
        (member, "#d7301f", "in a CAN"),
    ):
        ax.errorbar(
            x[mask],
            result.rank_p50[order][mask],
            yerr=[lo[mask], hi[mask]],
            fmt="o",
            ms=2.5,
            lw=0.6,
            color=colour,
            label=f"{label} (nominal)",
        )
    ax.plot([1, x.max()], [1, x.max()], color="black", lw=0.6, ls="--", label="no change")
    ax.set_xlabel("nominal rank")
    ax.set_ylabel("rank across draws: median and 5-95 %")
    ax.set_title(f"Rank intervals, {len(order)} most stressed LSOAs ({result.draws:,} draws)")
    ax.legend(loc="upper left", fontsize=8)
    cans = build.cans
    ids = cans["can_id"].to_numpy()
    bx.barh(ids, result.selection_frequency, color="#d7301f")
    bx.set_yticks(
        ids, [f"{i}. {n}"[:32] for i, n in zip(ids, cans["name"], strict=True)], fontsize=7
    )
    bx.invert_yaxis()
    bx.set_xlim(0, 1)
    bx.set_xlabel("share of draws (> 50 % of its population in one CAN)")
    bx.set_title("How often each CAN is selected again")
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})


def manifest(result: SensitivityResult, build: Any) -> dict[str, Any]:
    """Seed, draws, design, rules and library versions (no timings: byte-reproducible)."""
    import dask
    import matplotlib
    import scipy

    from canrank.selection.fast_greedy import HAVE_NUMBA

    versions = {
        "canrank": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scipy": scipy.__version__,
        "matplotlib": matplotlib.__version__,
        "dask": dask.__version__,
    }
    if HAVE_NUMBA:
        import numba

        versions["numba"] = numba.__version__
    inp = result.inputs
    rules = inp.arrays.rules
    return {
        "tool": "canrank sensitivity",
        "scenario": build.manifest.get("scenario"),
        "config_sha256": build.manifest.get("config", {}).get("sha256"),
        "proxies": build.manifest.get("proxies", []),
        "seed": result.seed,
        "draws": result.draws,
        "random_streams": "numpy.random.default_rng([seed, draw])",
        "design": design_record(result.design),
        "indicators": list(inp.keys),
        "nominal_weights": [float(w) for w in inp.weights],
        "aggregation": inp.aggregation,
        "reselection": {
            "method": "greedy (compiled twin of select_greedy, identical results)",
            "seeds": inp.arrays.seeds,
            "n_cans": rules.n_cans,
            "min_population": rules.min_population,
            "max_population": rules.max_population,
            "max_per_borough": rules.max_per_borough,
            "separation": rules.separation,
            "min_member_score": rules.min_member_score,
        },
        "nominal_selection_method": build.selection.method,
        "rank_percentiles": "numpy linear interpolation"
        + (" (exact)" if inp.rank_width == 1 else f" over bins of {inp.rank_width} ranks"),
        "can_selected_rule": "more than 50% of the nominal CAN's population in one selected CAN",
        "n_lsoas": inp.n,
        "versions": versions,
    }


def write_sensitivity(result: SensitivityResult, build: Any, out: Path) -> Path:
    """Write sensitivity_lsoa.csv, sensitivity_cans.csv, sensitivity_draws.csv,
    sensitivity_ranks.png and sensitivity_manifest.json into ``out`` atomically."""
    out = Path(out)
    with atomic_directory(out) as tmp:
        write_csv(lsoa_frame(result, build), tmp / "sensitivity_lsoa.csv")
        write_csv(can_frame(result, build), tmp / "sensitivity_cans.csv")
        write_csv(draws_frame(result), tmp / "sensitivity_draws.csv")
        plot_intervals(result, build, tmp / "sensitivity_ranks.png")
        write_json(manifest(result, build), tmp / "sensitivity_manifest.json")
    return out
