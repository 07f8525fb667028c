"""Write a scenario comparison: three CSVs, a Markdown and an HTML summary, and the maps.

Text from the data (CAN and LSOA names, scenario names) is escaped in both summaries. The
side-by-side map comes from :func:`canrank.maps.compare.compare_map` when that module is
available; otherwise the summaries say the map was skipped. Files are written atomically.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from canrank.analysis.compare import PairComparison
from canrank.errors import CanrankError
from canrank.outputs import output_folder, write_csv

__all__ = [
    "MATCH_RULE",
    "md_escape",
    "pair_matches",
    "render_html",
    "render_markdown",
    "write_comparison",
]

#: The CAN matching rule, stated in every comparison output and on the comparison map.
MATCH_RULE = (
    "CANs are matched one to one so that the matched pairs share as many LSOAs as possible; "
    "a CAN that shares no LSOA with any CAN of the other scenario is unmatched"
)

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


def md_escape(text: object) -> str:
    """Escape Markdown punctuation and flatten newlines so data can sit in a table cell."""
    flat = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", flat)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if value is None or (isinstance(value, type(pd.NA)) and value is pd.NA):
        return ""
    return str(value)


def _map_name(a: str, b: str, n_pairs: int) -> str:
    return "compare_map.html" if n_pairs == 1 else f"compare_map_{a}__{b}.html"


def _pair_lines(p: PairComparison) -> dict[str, Any]:
    s = p.summary
    return {
        "title": f"{p.a} vs {p.b}",
        "facts": [
            f"Rank agreement of the {s['n_lsoas_common']:,} LSOAs: Spearman {s['spearman']:.3f}, "
            f"Kendall {s['kendall']:.3f}; mean absolute rank shift {s['mean_abs_rank_shift']:.1f} "
            f"(largest {s['max_abs_rank_shift']:,}).",
            f"CANs: {s['cans_matched']} of {s['n_cans_a']} matched ({s['cans_identical']} "
            f"identical), {s['cans_only_a']} only in {p.a}, {s['cans_only_b']} only in {p.b}; "
            f"Jaccard overlap of all CAN LSOAs {s['jaccard_lsoa_all_cans']:.2f} (population "
            f"{s['jaccard_population_all_cans']:.2f}).",
            f"Matching rule: {MATCH_RULE}.",
        ],
    }


_CAN_COLS = (
    ("status", "Status"),
    ("can_a", "CAN A"),
    ("name_a", "Name A"),
    ("can_b", "CAN B"),
    ("name_b", "Name B"),
    ("shared_lsoas", "Shared LSOAs"),
    ("jaccard_lsoa", "Jaccard (LSOAs)"),
    ("jaccard_population", "Jaccard (population)"),
)
_SHIFT_COLS = (
    ("lsoa_code", "LSOA"),
    ("lsoa_name", "Name"),
    ("borough_name", "Borough"),
    ("rank_a", "Rank A"),
    ("rank_b", "Rank B"),
    ("shift", "Shift"),
)


def render_markdown(
    pairs: Sequence[PairComparison],
    maps: dict[tuple[str, str], str],
    diagnostics: dict[str, dict[str, Any]] | None = None,
) -> str:
    """The Markdown summary: per pair the headline figures, the CAN table, the top shifts."""
    out = ["# Scenario comparison", ""]
    for p in pairs:
        info = _pair_lines(p)
        out += [f"## {md_escape(info['title'])}", ""]
        out += [f"- {md_escape(f)}" for f in info["facts"]]
        out += [f"- Map: {md_escape(maps[(p.a, p.b)])}", ""]
        out += ["| " + " | ".join(h for _, h in _CAN_COLS) + " |"]
        out += ["|" + "---|" * len(_CAN_COLS)]
        for rec in p.cans.to_dict("records"):
            out += ["| " + " | ".join(md_escape(_fmt(rec[c])) for c, _ in _CAN_COLS) + " |"]
        out += [
            "",
            f"Largest rank shifts (rank 1 = most stressed; shift = rank in {md_escape(p.b)}"
            f" minus rank in {md_escape(p.a)}):",
            "",
        ]
        out += ["| " + " | ".join(h for _, h in _SHIFT_COLS) + " |"]
        out += ["|" + "---|" * len(_SHIFT_COLS)]
        for rec in p.shifts.to_dict("records"):
            out += ["| " + " | ".join(md_escape(_fmt(rec[c])) for c, _ in _SHIFT_COLS) + " |"]
        out += [""]
    if diagnostics:
        from canrank.analysis.diagnostics import diagnostics_lines

        for name, diag in diagnostics.items():
            out += ["", f"## Composite diagnostics: {md_escape(name)}", ""]
            out += [f"- {md_escape(line)}" for line in diagnostics_lines(diag)]
    return "\n".join(out)


def _html_table(frame: pd.DataFrame, cols: Sequence[tuple[str, str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(rec[c]))}</td>" for c, _ in cols) + "</tr>"
        for rec in frame.to_dict("records")
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(
    pairs: Sequence[PairComparison],
    maps: dict[tuple[str, str], str],
    diagnostics: dict[str, dict[str, Any]] | None = None,
) -> str:
    """The same summary as a self-contained HTML page (every data value escaped)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>canrank: scenario comparison</title>',
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:.2em .5em;text-align:left}th{background:#f3f3f3}</style></head><body>",
        "<h1>Scenario comparison</h1>",
    ]
    for p in pairs:
        info = _pair_lines(p)
        parts.append(f"<h2>{html.escape(info['title'])}</h2><ul>")
        parts += [f"<li>{html.escape(f)}</li>" for f in info["facts"]]
        target = maps[(p.a, p.b)]
        if target.endswith(".html"):
            parts.append(
                f'<li>Map: <a href="{html.escape(target, quote=True)}">{html.escape(target)}</a>'
                "</li></ul>"
            )
        else:
            parts.append(f"<li>Map: {html.escape(target)}</li></ul>")
        parts.append(_html_table(p.cans, _CAN_COLS))
        parts.append(
            f"<p>Largest rank shifts (rank 1 = most stressed; shift = rank in "
            f"{html.escape(p.b)} minus rank in {html.escape(p.a)}):</p>"
        )
        parts.append(_html_table(p.shifts, _SHIFT_COLS))
    if diagnostics:
        from canrank.analysis.diagnostics import diagnostics_table_html

        for name, diag in diagnostics.items():
            parts.append(f"<h2>Composite diagnostics: {html.escape(name)}</h2>")
            parts.append(diagnostics_table_html(diag))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _write_maps(
    pairs: Sequence[PairComparison], results: dict[str, Any], folder: Path
) -> dict[tuple[str, str], str]:
    """Write one comparison map per pair, highlighting the CANs the report leaves unmatched;
    the map file name, or a note saying why it was skipped."""
    from canrank.build_maps import map_inputs
    from canrank.maps import write_compare_map

    maps: dict[tuple[str, str], str] = {}
    for p in pairs:
        name = _map_name(p.a, p.b, len(pairs))
        try:
            write_compare_map(
                map_inputs(results[p.a]),
                map_inputs(results[p.b]),
                matches=pair_matches(p),
                rule=MATCH_RULE,
                path=folder / name,
                boroughs=getattr(results[p.a], "boroughs", None),
                wards=getattr(results[p.a], "wards", None),
            )
        except CanrankError as exc:
            maps[(p.a, p.b)] = f"skipped ({exc.message})"
            continue
        maps[(p.a, p.b)] = name
    return maps


def pair_matches(p: PairComparison) -> list[tuple[int | None, int | None]]:
    """The CAN matching of a comparison as (CAN in A, CAN in B) pairs; ``None`` where a CAN
    has no counterpart."""
    out: list[tuple[int | None, int | None]] = []
    for row in p.cans.itertuples():
        ca = None if pd.isna(row.can_a) else int(row.can_a)
        cb = None if pd.isna(row.can_b) else int(row.can_b)
        out.append((ca, cb))
    return out
def write_comparison(
    pairs: Sequence[PairComparison], results: dict[str, Any], out: Path, *, maps: bool = True
) -> dict[tuple[str, str], str]:
    """Write compare_cans.csv, compare_lsoa_shifts.csv, compare_summary.csv, compare.md,
    compare.html and the map(s) into ``out`` atomically; returns the map file or note per pair."""
    with output_folder(Path(out)) as tmp:
        write_csv(pd.concat([p.cans for p in pairs], ignore_index=True), tmp / "compare_cans.csv")
        write_csv(
            pd.concat([p.shifts for p in pairs], ignore_index=True),
            tmp / "compare_lsoa_shifts.csv",
        )
        write_csv(pd.DataFrame([p.summary for p in pairs]), tmp / "compare_summary.csv")
        written = (
            _write_maps(pairs, results, tmp)
            if maps
            else {(p.a, p.b): "skipped (--no-map)" for p in pairs}
        )
        diag = {
            name: r.manifest["diagnostics"]
            for name, r in results.items()
            if isinstance(getattr(r, "manifest", None), dict) and "diagnostics" in r.manifest
        }
        (tmp / "compare.md").write_text(
            render_markdown(pairs, written, diag), "utf-8", newline="\n"
        )
        (tmp / "compare.html").write_text(render_html(pairs, written, diag), "utf-8", newline="\n")
    return written
