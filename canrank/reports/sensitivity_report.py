"""The outputs of a sensitivity run, in ``<build>/sensitivity/``, written atomically.

``sensitivity_cans.csv`` (can_id, name, frequency, ci_low, ci_high, then the indices of each
published CAN's selection), ``sensitivity_lsoa.csv`` (probability of being in a CAN with its
interval, rank percentiles, rank indices), ``sensitivity_indices.csv`` (every index in long
form), ``sensitivity_draws.csv`` (one row per draw), ``sensitivity.png`` (A4: CAN frequencies
with intervals, the CAN x factor heat map of total indices, LSOA rank intervals),
``sensitivity.html`` (self-contained; every text escaped) and ``sensitivity.json`` (seed,
draws, design, method, match rule, build manifest SHA-256: no timings, so deterministic).
"""

from __future__ import annotations

import base64
import html
import platform
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from canrank import __version__
from canrank.analysis.sensitivity import (
    MATCH_RULE,
    WARM_OPTIONS,
    SensitivityResult,
    design_record,
)
from canrank.outputs import output_folder, write_csv, write_json

if TYPE_CHECKING:
    from canrank.builds import Build

__all__ = [
    "FILES",
    "can_frame",
    "draws_frame",
    "indices_frame",
    "lsoa_frame",
    "plot",
    "record",
    "write_html",
    "write_sensitivity",
]

FILES = (
    "sensitivity_cans.csv",
    "sensitivity_lsoa.csv",
    "sensitivity_indices.csv",
    "sensitivity_draws.csv",
    "sensitivity.png",
    "sensitivity.html",
    "sensitivity.json",
)


def factor_labels(result: SensitivityResult, build: Build) -> list[str]:
    """Readable factor names: ``weight: <indicator label>``, ``normalisation``, ``leave one
    indicator out``."""
    labels = {i.key: str(i.label) for i in build.scenario.indicators}
    out = []
    for f in result.inputs.factors:
        if f.kind == "weight":
            out.append(f"weight: {labels.get(result.inputs.keys[f.index], f.name)}")
        elif f.kind == "normalisation":
            out.append("normalisation")
        else:
            out.append("leave one indicator out")
    return out


def _col(name: str) -> str:
    return name.replace(":", "_")


def can_frame(result: SensitivityResult, build: Build) -> pd.DataFrame:
    """One row per published CAN (build order): how often draws select it, with a Wilson 95 %
    interval, then first-order (``S_``) and total (``ST_``) indices per factor."""
    cans = build.cans
    frame = pd.DataFrame(
        {
            "can_id": cans["can_id"].to_numpy(dtype=np.int64),
            "name": cans["name"].astype(str).to_numpy(),
            "frequency": result.frequency,
            "ci_low": result.ci_low,
            "ci_high": result.ci_high,
            "draws": result.draws,
            "population": cans["population"].to_numpy(),
            "n_lsoas": cans["n_lsoas"].to_numpy(),
        }
    )
    if result.can_s is not None and result.can_st is not None:
        for i, f in enumerate(result.inputs.factors):
            frame[f"S_{_col(f.name)}"] = result.can_s[i]
        for i, f in enumerate(result.inputs.factors):
            frame[f"ST_{_col(f.name)}"] = result.can_st[i]
    return frame


def lsoa_frame(result: SensitivityResult, build: Build) -> pd.DataFrame:
    """One row per LSOA in the build's rank order."""
    inp = result.inputs
    lsoa = build.lsoa
    can_of = np.where(inp.nominal_label > 0, inp.can_ids[np.maximum(inp.nominal_label, 1) - 1], 0)
    frame = pd.DataFrame(
        {
            "lsoa_code": inp.codes,
            "lsoa_name": lsoa["lsoa_name"].astype(str).to_numpy(),
            "borough_name": lsoa["borough_name"].astype(str).to_numpy(),
            "nominal_rank": inp.nominal_rank,
            "nominal_can_id": pd.array(np.where(can_of > 0, can_of, pd.NA), dtype="Int64"),
            "p_in_can": result.p_in_can,
            "p_low": result.p_low,
            "p_high": result.p_high,
            "rank_p05": result.rank_p05,
            "rank_p50": result.rank_p50,
            "rank_p95": result.rank_p95,
        }
    )
    if result.rank_s is not None and result.rank_st is not None:
        for i, f in enumerate(inp.factors):
            frame[f"S_rank_{_col(f.name)}"] = result.rank_s[i]
        for i, f in enumerate(inp.factors):
            frame[f"ST_rank_{_col(f.name)}"] = result.rank_st[i]
    return frame


def indices_frame(result: SensitivityResult, build: Build) -> pd.DataFrame:
    """Every index in long form: output (CAN selection / LSOA rank), id, name, factor,
    first_order, total."""
    cols = ["output", "id", "name", "factor", "first_order", "total"]
    if result.can_s is None or result.can_st is None:
        return pd.DataFrame(columns=cols)
    inp = result.inputs
    k = inp.k
    names = [f.name for f in inp.factors]
    can_names = build.cans["name"].astype(str).to_numpy()
    parts = [
        pd.DataFrame(
            {
                "output": "can_selected",
                "id": np.repeat(inp.can_ids.astype(str), k),
                "name": np.repeat(can_names, k),
                "factor": np.tile(names, inp.n_cans),
                "first_order": result.can_s.T.ravel(),
                "total": result.can_st.T.ravel(),
            }
        )
    ]
    if result.rank_s is not None and result.rank_st is not None:
        parts.append(
            pd.DataFrame(
                {
                    "output": "lsoa_rank",
                    "id": np.repeat(inp.codes, k),
                    "name": np.repeat(build.lsoa["lsoa_name"].astype(str).to_numpy(), k),
                    "factor": np.tile(names, inp.n),
                    "first_order": result.rank_s.T.ravel(),
                    "total": result.rank_st.T.ravel(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)[cols]


def draws_frame(result: SensitivityResult) -> pd.DataFrame:
    """One row per draw (its ``A`` point): the choices made and how far the selection moved."""
    inp = result.inputs
    rec = result.records
    frame = pd.DataFrame(
        {
            "draw": rec["draw"],
            "normalisation": np.asarray(inp.norm_names)[rec["option"]],
            "dropped_indicator": [inp.keys[d] if d >= 0 else "" for d in rec["dropped"]],
        }
    )
    for j, key in enumerate(inp.keys):
        frame[f"weight_{key}"] = rec["weights"][:, j]
    for i, f in enumerate(inp.factors):
        frame[f"u_{_col(f.name)}"] = rec["point"][:, i]
    frame["objective"] = rec["objective"]
    frame["n_cans"] = rec["n_cans"]
    frame["published_cans_selected"] = rec["n_matched"]
    frame["selections_not_proven_optimal"] = rec["not_proven"]
    frame["status"] = [str(s) for s in rec["status"]]
    return frame


def _title(result: SensitivityResult, build: Build) -> str:
    proxies = build.manifest.get("proxies") or []
    method = "exact (optimal)" if result.inputs.method == "optimal" else "GREEDY RULE"
    text = (
        f"Stability of the published CANs: scenario {build.name}; {result.draws:,} draws, "
        f"re-selected with the {method} method"
    )
    if proxies:
        text += f"; {len(proxies)} proxies: " + "; ".join(str(p) for p in proxies)
    return text


def plot(result: SensitivityResult, build: Build, path: Path) -> None:
    """A4 portrait PNG: each published CAN's frequency with its interval (full names), the
    CAN x factor heat map of total indices, and the rank intervals of the most stressed LSOAs."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    inp = result.inputs
    names = [
        "\n".join(textwrap.wrap(f"{i}. {n}", 62))
        for i, n in zip(build.cans["can_id"], build.cans["name"].astype(str), strict=True)
    ]
    fig = Figure(figsize=(8.27, 11.69), dpi=150)
    FigureCanvasAgg(fig)
    fig.suptitle("\n".join(textwrap.wrap(_title(result, build), 110)), fontsize=8)
    has_idx = result.can_st is not None
    grid = fig.add_gridspec(
        3 if has_idx else 2, 1, height_ratios=[3.3, 3.3, 1.6] if has_idx else [3, 2]
    )
    ax = fig.add_subplot(grid[0])
    y = np.arange(inp.n_cans)
    err = np.vstack([result.frequency - result.ci_low, result.ci_high - result.frequency])
    ax.barh(y, result.frequency, color="#d7301f", xerr=err, ecolor="black", capsize=2)
    ax.set_yticks(y, names, fontsize=6)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(
        f"share of draws selecting the CAN (Jaccard >= {result.design.match:g}), Wilson 95 % CI",
        fontsize=7,
    )
    ax.tick_params(axis="x", labelsize=7)
    row = 1
    if has_idx and result.can_st is not None:
        hx = fig.add_subplot(grid[row])
        row += 1
        data = np.ma.masked_invalid(np.clip(result.can_st.T, 0, 1))
        im = hx.imshow(data, aspect="auto", cmap="viridis", vmin=0, vmax=1)
        hx.set_yticks(y, names, fontsize=6)
        labels = factor_labels(result, build)
        hx.set_xticks(
            np.arange(inp.k), ["\n".join(textwrap.wrap(s, 16)) for s in labels], fontsize=6
        )
        for (r, c), v in np.ndenumerate(result.can_st.T):
            if np.isfinite(v):
                hx.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=5, color="white")
        hx.set_title(
            "Total sensitivity index S_T of each CAN's selection (blank: never varies)", fontsize=7
        )
        fig.colorbar(im, ax=hx, fraction=0.03)
    rx = fig.add_subplot(grid[row])
    order = np.argsort(inp.nominal_rank, kind="stable")[: min(200, inp.n)]
    x = inp.nominal_rank[order]
    member = inp.nominal_label[order] > 0
    lo = result.rank_p50[order] - result.rank_p05[order]
    hi = result.rank_p95[order] - result.rank_p50[order]
    for mask, colour, label in ((~member, "#9e9e9e", "other"), (member, "#d7301f", "in a CAN")):
        rx.errorbar(
            x[mask],
            result.rank_p50[order][mask],
            yerr=[lo[mask], hi[mask]],
            fmt="o",
            ms=1.5,
            lw=0.5,
            color=colour,
            label=label,
        )
    rx.set_xlabel("published rank", fontsize=7)
    rx.set_ylabel("rank over draws (5-50-95 %)", fontsize=7)
    rx.tick_params(labelsize=7)
    rx.legend(fontsize=6, loc="upper left")
    rx.set_title(f"Rank intervals of the {len(order)} most stressed LSOAs", fontsize=7)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, format="png", metadata={"Software": None})


def record(result: SensitivityResult, build: Build, build_sha: str) -> dict[str, Any]:
    """``sensitivity.json``: what was run and on which build (no timings: deterministic)."""
    inp = result.inputs
    rules = inp.problem.rules
    method = (
        "optimal (exact, each draw warm-started from the nominal solve's columns and duals)"
        if inp.method == "optimal"
        else "greedy: measures the stability of the greedy rule, not of the published "
        "(optimal) selection"
        if build.selection.method != "greedy"
        else "greedy (the build's own method)"
    )
    return {
        "tool": "canrank sensitivity",
        "canrank_version": __version__,
        "python": platform.python_version(),
        "scenario": build.name,
        "build_manifest_sha256": build_sha,
        "proxies": build.manifest.get("proxies", []),
        "seed": result.seed,
        "draws": result.draws,
        "stopped": result.stopped,
        "widest_interval": round(result.widest, 10),
        "random_streams": "numpy SeedSequence(seed, spawn_key=(draw,)): A then B points",
        "method": inp.method,
        "method_note": method,
        "nominal_check": inp.nominal,
        "selection_options": {
            **inp.options,
            **(WARM_OPTIONS if inp.method == "optimal" else {}),
        },
        "draws_not_proven_optimal": int((result.records["not_proven"] > 0).sum()),
        "match_rule": MATCH_RULE.format(match=result.design.match),
        "intervals": "Wilson score, 95 %",
        "rank_percentiles": "5, 50, 95 (numpy linear rule"
        + (")" if inp.rank_width == 1 else f", ranks in bins of {inp.rank_width})"),
        "design": design_record(result.design),
        "factors": [
            {"name": f.name, "label": lab, "encoding": f.encoding}
            for f, lab in zip(inp.factors, factor_labels(result, build), strict=True)
        ],
        "indices": (
            {
                "design": "Saltelli 2010 A/B/AB_i; each draw has A, B and k AB_i points",
                "first_order": "Saltelli 2010, centred: mean((f(B) - mu) (f(AB_i) - f(A))) / V",
                "total": "Jansen 1999: mean((f(A) - f(AB_i))^2) / (2 V)",
                "variance": "V over the A and B outputs together",
                "selections_per_draw": inp.evaluations_per_draw,
            }
            if result.design.indices
            else None
        ),
        "indicators": list(inp.keys),
        "nominal_weights": [float(w) for w in inp.weights],
        "normalisations": list(inp.norm_names),
        "aggregation": inp.aggregation,
        "rules": {
            "n_cans": rules.n_cans,
            "min_population": rules.min_population,
            "max_population": rules.max_population,
            "max_per_borough": rules.max_per_borough,
            "separation": rules.separation,
            "min_member_score": rules.min_member_score,
            "fixed_cans": len(inp.problem.fixed),
            "locked_groups": len(inp.problem.locked),
        },
        "n_lsoas": inp.n,
        "outputs": list(FILES),
    }


def _cell(v: object) -> str:
    if isinstance(v, float):
        return "" if np.isnan(v) else f"{v:.3f}"
    return str(v)


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for values in frame.itertuples(index=False):
        cells = []
        for v in values:
            text = _cell(v)
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def write_html(result: SensitivityResult, build: Build, png: Path, path: Path) -> None:
    """Self-contained HTML: summary, the plot (inline PNG), the CAN table with intervals and
    indices, the factors and how they are encoded. Every text is ``html.escape``d."""
    esc = html.escape
    inp = result.inputs
    image = base64.b64encode(png.read_bytes()).decode("ascii")
    cans = can_frame(result, build)
    shown = cans[["can_id", "name", "frequency", "ci_low", "ci_high"]].copy()
    if result.can_st is not None:
        for i, lab in enumerate(factor_labels(result, build)):
            shown[f"S_T {lab}"] = result.can_st[i]
    factors = pd.DataFrame(
        {
            "factor": factor_labels(result, build),
            "encoding of u in [0, 1)": [f.encoding for f in inp.factors],
        }
    )
    greedy_note = ""
    if inp.method == "greedy":
        greedy_note = (
            "<p class='warn'>Draws were re-selected with the greedy rule: these figures measure "
            "the stability of the greedy rule, not of the published selection"
            + esc(f" (made with {build.selection.method}).")
            + "</p>"
        )
    proxies = build.manifest.get("proxies") or []
    items = "".join(f"<li>{esc(str(p))}</li>" for p in proxies) or "<li>none</li>"
    body = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{esc(f"Sensitivity of the CANs: {build.name}")}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em}}
table{{border-collapse:collapse;font-size:.85em}}td,th{{border:1px solid #ccc;padding:2px 5px}}
.warn{{background:#fee;padding:.5em}}img{{max-width:100%}}</style></head><body>
<h1>{esc(f"Stability of the published CANs: {build.name}")}</h1>
{greedy_note}
<p>{esc(_title(result, build))}.</p>
<p>{
        esc(
            f"Seed {result.seed}; {result.draws:,} draws; stopped: {result.stopped}; widest "
            f"95 % interval {result.widest:.3f}."
        )
    }</p>
<p>{esc("Match rule: " + MATCH_RULE.format(match=result.design.match) + ".")}</p>
<h2>Proxies</h2><ul>{items}</ul>
<h2>Published CANs</h2>{_table(shown)}
<h2>Factors</h2>{_table(factors)}
<p>{
        esc(
            "Indices: Saltelli 2010 first-order and Jansen total-order estimators on the A/B/AB_i "
            "design; blank where the output never varies."
        )
    }</p>
<img alt="CAN frequencies, index heat map and rank intervals" src="data:image/png;base64,{image}">
</body></html>
"""
    path.write_text(body, "utf-8")


def write_sensitivity(
    result: SensitivityResult, build: Build, out: Path, *, build_sha: str
) -> Path:
    """Write every file of :data:`FILES` into ``out`` (the checkpoint folder is left alone)."""
    out = Path(out)
    with output_folder(out, names=list(FILES)) as tmp:
        write_csv(can_frame(result, build), tmp / "sensitivity_cans.csv")
        write_csv(lsoa_frame(result, build), tmp / "sensitivity_lsoa.csv")
        write_csv(indices_frame(result, build), tmp / "sensitivity_indices.csv")
        write_csv(draws_frame(result), tmp / "sensitivity_draws.csv")
        plot(result, build, tmp / "sensitivity.png")
        write_html(result, build, tmp / "sensitivity.png", tmp / "sensitivity.html")
        write_json(record(result, build, build_sha), tmp / "sensitivity.json")
    return out
