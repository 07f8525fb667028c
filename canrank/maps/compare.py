"""Two scenarios side by side on synchronised maps, highlighting only the CANs that really differ.

Which CANs differ is not decided here: the caller passes the one-to-one matching of the compare
report (``canrank.analysis.compare.match_cans``) and the rule it used, so the map and the report
always agree, and the page states the rule. A CAN is highlighted when it has no partner in the
other scenario. The LSOA geometry is embedded once and drawn by both panels; on narrow screens
the panels stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from canrank.errors import InputError
from canrank.maps.page import Page, render_page
from canrank.maps.spec import MapSpec

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["DEFAULT_RULE", "compare_page", "write_compare_map"]

#: The compare report's rule (``canrank.analysis.compare.match_cans``), in plain words.
DEFAULT_RULE = (
    "CANs are paired one to one so that paired CANs share as many areas (LSOAs) as possible; "
    "CANs sharing no area are not paired."
)

Side = tuple["gpd.GeoDataFrame", "gpd.GeoDataFrame", MapSpec]


def _check_matches(
    matches: Sequence[tuple[int | None, int | None]], ids_a: set[int], ids_b: set[int]
) -> tuple[dict[int, int], dict[int, int]]:
    a_to_b: dict[int, int] = {}
    b_to_a: dict[int, int] = {}
    for pair in matches:
        a, b = pair
        if a is not None and int(a) not in ids_a:
            raise InputError(f"the matching names CAN {a} of scenario A, which has no such CAN")
        if b is not None and int(b) not in ids_b:
            raise InputError(f"the matching names CAN {b} of scenario B, which has no such CAN")
        if a is not None and b is not None:
            if int(a) in a_to_b or int(b) in b_to_a:
                raise InputError(
                    f"the matching pairs a CAN twice ({a}, {b}); it must be one to one"
                )
            a_to_b[int(a)] = int(b)
            b_to_a[int(b)] = int(a)
    return a_to_b, b_to_a


def compare_page(
    a: Side,
    b: Side,
    matches: Sequence[tuple[int | None, int | None]],
    rule: str = DEFAULT_RULE,
    *,
    boroughs: gpd.GeoDataFrame | None = None,
    wards: gpd.GeoDataFrame | None = None,
) -> Page:
    """The side-by-side page (see :func:`write_compare_map`)."""
    from canrank.maps.payload import geometry_payload, prepare, view_payload

    (lsoa_a, cans_a, spec_a), (lsoa_b, cans_b, spec_b) = a, b
    codes_a = set(lsoa_a["lsoa_code"].astype(str))
    codes_b = set(lsoa_b["lsoa_code"].astype(str))
    if codes_a != codes_b:
        raise InputError(
            f"the two scenarios cover different areas ({len(codes_a)} and {len(codes_b)} LSOAs, "
            f"{len(codes_a ^ codes_b)} not in both)",
            hint="compare scenarios of the same study area",
        )
    ids_a = {int(v) for v in cans_a["can_id"]}
    ids_b = {int(v) for v in cans_b["can_id"]}
    a_to_b, b_to_a = _check_matches(matches, ids_a, ids_b)
    prep = prepare(lsoa_a, boroughs, spec_a.simplify_m, wards)
    name_a, name_b = f"A ({spec_a.scenario})", f"B ({spec_b.scenario})"
    views: list[dict[str, object]] = []
    for lsoa, cans, spec, own, other, pairs, ids in (
        (lsoa_a, cans_a, spec_a, name_a, name_b, a_to_b, ids_a),
        (lsoa_b, cans_b, spec_b, name_b, name_a, b_to_a, ids_b),
    ):
        changed = sorted(ids - set(pairs))
        note = (
            f"Scenario {own}: {len(changed)} of {len(ids)} CANs have no matching CAN in "
            f"scenario {other} and are drawn dashed in pink; the others match. "
            f"Matching rule: {rule}"
        )
        view = view_payload(
            prep,
            lsoa,
            cans,
            spec,
            changed=changed,
            matched=pairs,
            compare_note=note,
            other=f"scenario {other}",
        )
        view["title"] = f"{'AB'[len(views)]}: {spec.title}"
        view["other_short"] = "BA"[len(views)]
        views.append(view)
    title = f"Comparison: scenario {spec_a.scenario} and scenario {spec_b.scenario}"
    return render_page(title, geometry_payload(prep), views)


def write_compare_map(
    a: Side,
    b: Side,
    matches: Sequence[tuple[int | None, int | None]],
    rule: str,
    path: Path,
    *,
    boroughs: gpd.GeoDataFrame | None = None,
    wards: gpd.GeoDataFrame | None = None,
) -> None:
    """Write scenario A (left, or top on a phone) and B side by side, moving together.

    ``a`` and ``b`` are ``(lsoa, cans, spec)`` of two builds of the same study area;
    ``matches`` the compare report's pairs ``(can_id_a | None, can_id_b | None)``; ``rule`` the
    matching rule in words (stated on the page). CANs with no partner are highlighted.
    """
    compare_page(a, b, matches, rule, boroughs=boroughs, wards=wards).save(Path(path))
