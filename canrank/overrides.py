"""Local knowledge: an overrides file that excludes LSOAs, locks LSOAs into CANs or fixes CANs.

YAML (``.yaml``/``.yml``)::

    exclude:                      # never put these LSOAs in a CAN
      - {lsoa: E01000001, reason: "industrial estate, few residents"}
    lock:                         # these LSOAs must be in a CAN; same ``can`` = same CAN
      - {lsoa: E01000002, can: Northumberland Park, reason: "existing residents' forum"}
    fix:                          # exactly this CAN, kept as given
      - {can: Broadwater Farm, lsoas: [E01000003, E01000004], reason: "estate boundary"}

CSV (any other suffix): columns ``action`` (``exclude``/``lock``/``fix``), ``lsoa_code``,
``can`` (needed for lock and fix; the rows of one fixed CAN share its name) and optional
``reason``. Rules (documented in ``docs/selection.md``): an unknown LSOA code, an LSOA named in
two overrides, a lock naming a fixed CAN, a fixed CAN that is not contiguous or a file that
cannot be parsed is a ``ConfigError`` (exit 2). A fixed CAN outside the population bounds,
over a borough's CAN allowance, touching another fixed CAN or holding an LSOA below the
member-score floor is kept, with a warning in the manifest and a note on the map.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from canrank.errors import ConfigError, quote
from canrank.selection.problem import Selection, SelectionProblem

__all__ = [
    "Overrides",
    "apply_overrides",
    "can_override_notes",
    "load_overrides",
    "override_map_notes",
    "override_warnings",
]


@dataclass(frozen=True)
class Overrides:
    """Parsed overrides: LSOA codes with reasons, in file order."""

    file: str
    exclude: tuple[tuple[str, str], ...] = ()
    lock: tuple[tuple[str, str, str], ...] = ()  # (lsoa, can, reason)
    fix: tuple[tuple[str, tuple[str, ...], str], ...] = ()  # (can, lsoas, reason)
    warnings: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.exclude or self.lock or self.fix)

    def locked_names(self) -> list[str]:
        """Names of the locked CANs in first-mention order."""
        return list(dict.fromkeys(can for _, can, _ in self.lock))

    def to_manifest(self) -> dict[str, Any]:
        """Every override, for the manifest."""
        return {
            "file": self.file,
            "exclude": [{"lsoa": c, "reason": r} for c, r in self.exclude],
            "lock": [{"lsoa": c, "can": n, "reason": r} for c, n, r in self.lock],
            "fix": [{"can": n, "lsoas": list(ls), "reason": r} for n, ls, r in self.fix],
            "warnings": list(self.warnings),
        }


def _text(value: object, *, file: Path, what: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigError(f"{what} is missing", file=file, hint="see docs/selection.md")
    if not isinstance(value, str | int):
        raise ConfigError(f"{what} must be text, not {type(value).__name__}", file=file)
    return str(value).strip()


def _from_yaml(path: Path) -> Overrides:
    from canrank.config import read_yaml

    data = read_yaml(path, what="the overrides file")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping with keys exclude, lock, fix", file=path)
    unknown = set(data) - {"exclude", "lock", "fix"}
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(quote(k) for k in sorted(unknown))}",
            file=path,
            hint="allowed keys are exclude, lock and fix",
        )
    exclude, lock, fix = [], [], []
    for n, item in enumerate(data.get("exclude") or [], start=1):
        if isinstance(item, str):
            item = {"lsoa": item}
        if not isinstance(item, dict):
            raise ConfigError(f"exclude entry {n} must be a code or a mapping", file=path)
        exclude.append((_text(item.get("lsoa"), file=path, what=f"exclude[{n}].lsoa"),
                        str(item.get("reason") or "")))
    for n, item in enumerate(data.get("lock") or [], start=1):
        if not isinstance(item, dict):
            raise ConfigError(f"lock entry {n} must be a mapping with lsoa and can", file=path)
        lock.append((
            _text(item.get("lsoa"), file=path, what=f"lock[{n}].lsoa"),
            _text(item.get("can"), file=path, what=f"lock[{n}].can"),
            str(item.get("reason") or ""),
        ))
    for n, item in enumerate(data.get("fix") or [], start=1):
        if not isinstance(item, dict) or not isinstance(item.get("lsoas"), list):
            raise ConfigError(f"fix entry {n} must be a mapping with can and lsoas", file=path)
        codes = tuple(_text(c, file=path, what=f"fix[{n}].lsoas") for c in item["lsoas"])
        if not codes:
            raise ConfigError(f"fix entry {n} lists no LSOAs", file=path)
        fix.append((_text(item.get("can"), file=path, what=f"fix[{n}].can"), codes,
                    str(item.get("reason") or "")))
    return Overrides(str(path), tuple(exclude), tuple(lock), tuple(fix))


def _from_csv(path: Path) -> Overrides:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = {"action", "lsoa_code"} - set(reader.fieldnames or [])
        if missing:
            raise ConfigError(
                f"missing column(s) {', '.join(sorted(missing))}",
                file=path,
                hint="columns: action, lsoa_code, can, reason",
            )
        exclude, lock = [], []
        fixed: dict[str, tuple[list[str], str]] = {}
        for row_no, row in enumerate(reader, start=2):
            action = (row.get("action") or "").strip().lower()
            code = (row.get("lsoa_code") or "").strip()
            can = (row.get("can") or "").strip()
            reason = (row.get("reason") or "").strip()
            if not code:
                raise ConfigError("empty lsoa_code", file=path, row=row_no, column="lsoa_code")
            if action == "exclude":
                exclude.append((code, reason))
            elif action in ("lock", "fix"):
                if not can:
                    raise ConfigError(
                        f"{action} needs a CAN name", file=path, row=row_no, column="can"
                    )
                if action == "lock":
                    lock.append((code, can, reason))
                else:
                    fixed.setdefault(can, ([], reason))[0].append(code)
            else:
                raise ConfigError(
                    f"unknown action {quote(action)}",
                    file=path,
                    row=row_no,
                    column="action",
                    hint="use exclude, lock or fix",
                )
    fix = tuple((name, tuple(codes), reason) for name, (codes, reason) in fixed.items())
    return Overrides(str(path), tuple(exclude), tuple(lock), fix)


def load_overrides(path: str | Path) -> Overrides:
    """Read an overrides file (YAML or CSV); structural problems are ``ConfigError``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("overrides file not found", file=path, hint="pass --overrides PATH")
    if path.suffix.lower() in (".yaml", ".yml"):
        return _from_yaml(path)
    return _from_csv(path)


def apply_overrides(
    problem: SelectionProblem, overrides: Overrides
) -> tuple[SelectionProblem, list[str]]:
    """A copy of ``problem`` carrying the overrides, and the rule-break warnings they cause.

    Fixed CANs follow in file order, then the locked groups in first-mention order.
    """
    g = problem.graph
    index = {code: i for i, code in enumerate(g.ids)}
    file = overrides.file
    owner: dict[str, str] = {}

    def idx(code: str, what: str) -> int:
        if code not in index:
            raise ConfigError(
                f"unknown LSOA code {quote(code)} in {what}",
                file=file,
                hint="use 2011 LSOA codes of the study area (see lsoa.csv)",
            )
        if code in owner:
            raise ConfigError(
                f"LSOA {code} appears in {owner[code]} and in {what}",
                file=file,
                hint="name each LSOA in one override only",
            )
        owner[code] = what
        return index[code]

    excluded = (
        problem.excluded.copy() if problem.excluded is not None else np.zeros(g.n, dtype=bool)
    )
    for code, _ in overrides.exclude:
        excluded[idx(code, "exclude")] = True
    fixed_names = [name for name, _, _ in overrides.fix]
    if len(set(fixed_names)) != len(fixed_names):
        raise ConfigError("two fixed CANs have the same name", file=file)
    fixed = []
    for name, codes, _ in overrides.fix:
        members = np.array(sorted(idx(c, f"fixed CAN {quote(name)}") for c in codes))
        if not g.is_connected(members):
            raise ConfigError(
                f"fixed CAN {quote(name)} is not contiguous",
                file=file,
                hint="add the LSOAs that join its parts, or split it into two CANs",
            )
        fixed.append(members)
    groups: dict[str, list[int]] = {}
    for code, can, _ in overrides.lock:
        if can in fixed_names:
            raise ConfigError(
                f"LSOA {code} is locked into {quote(can)}, which is a fixed CAN",
                file=file,
                hint="add the LSOA to the fixed CAN's list instead",
            )
        groups.setdefault(can, []).append(idx(code, f"lock into {quote(can)}"))
    locked = tuple(np.array(sorted(v), dtype=np.int64) for v in groups.values())
    new = SelectionProblem(
        graph=g,
        score=problem.score,
        population=problem.population,
        borough=problem.borough,
        rules=problem.rules,
        excluded=excluded if excluded.any() else problem.excluded,
        fixed=tuple(fixed),
        locked=locked,
    )
    return new, override_warnings(new, fixed_names)


def override_warnings(problem: SelectionProblem, names: list[str] | None = None) -> list[str]:
    """Rules the fixed CANs break (kept as local knowledge), as sentences for the manifest."""
    rules = problem.rules
    g = problem.graph
    names = names or [f"#{k + 1}" for k in range(len(problem.fixed))]
    out: list[str] = []
    per_borough: dict[int, int] = {}
    min_score = rules.min_member_score
    for name, members in zip(names, problem.fixed, strict=True):
        pop = float(problem.population[members].sum())
        if not rules.min_population <= pop <= rules.max_population:
            out.append(
                f"fixed CAN {name!r} has population {pop:,.0f}, outside "
                f"{rules.min_population:,.0f}-{rules.max_population:,.0f}; kept as given"
            )
        if min_score is not None and (problem.score[members] < min_score).any():
            out.append(f"fixed CAN {name!r} has LSOAs below the minimum member score; kept")
        for b in np.unique(problem.borough[members]).tolist():
            per_borough[b] = per_borough.get(b, 0) + 1
    for b, count in sorted(per_borough.items()):
        if count > rules.max_per_borough:
            out.append(
                f"{count} fixed CANs share borough #{b} (limit {rules.max_per_borough}); kept"
            )
    if rules.separation:
        for a in range(len(problem.fixed)):
            for b in range(a + 1, len(problem.fixed)):
                if g.touches(problem.fixed[a], problem.fixed[b]):
                    out.append(f"fixed CANs {names[a]!r} and {names[b]!r} touch; kept")
    if problem.excluded is not None:
        for name, members in zip(names, problem.fixed, strict=True):
            if problem.excluded[members].any():
                out.append(f"fixed CAN {name!r} contains an excluded LSOA")
    return out


def can_override_notes(
    overrides: Overrides, problem: SelectionProblem, selection: Selection
) -> list[str]:
    """Per selected CAN (in selection order): which local-knowledge override shaped it."""
    ids = problem.graph.ids
    fixed = {tuple(ids[i] for i in f): k for k, f in enumerate(problem.fixed)}
    locked_names = overrides.locked_names()
    notes = []
    for members in selection.cans:
        codes = tuple(ids[i] for i in sorted(np.asarray(members).tolist()))
        parts = []
        if codes in fixed:
            name, _, reason = overrides.fix[fixed[codes]]
            text = f"fixed by local knowledge as {name!r}"
            parts.append(text + (f": {reason}" if reason else ""))
        inside = set(codes)
        for k, group in enumerate(problem.locked):
            if ids[int(group[0])] in inside:
                parts.append(f"holds LSOAs locked into {locked_names[k]!r} by local knowledge")
        notes.append("; ".join(parts))
    return notes


def override_map_notes(overrides: Overrides) -> list[str]:
    """One line per kind of override for the map legend."""
    out = []
    if overrides.fix:
        names = ", ".join(name for name, _, _ in overrides.fix)
        out.append(f"Local knowledge: {len(overrides.fix)} CAN(s) fixed as given ({names})")
    if overrides.lock:
        out.append(
            f"Local knowledge: {len(overrides.lock)} LSOA(s) locked into "
            f"{', '.join(overrides.locked_names())}"
        )
    if overrides.exclude:
        out.append(f"Local knowledge: {len(overrides.exclude)} LSOA(s) excluded from every CAN")
    return out
