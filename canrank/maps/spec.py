"""What a map shows, apart from the tables: one :class:`MapSpec` per scenario.

Maps take plain tables (the build's ``lsoa`` and ``cans`` frames) and one ``MapSpec``; the spec
holds every text and setting the page, the compare page and the static map need (title, measures
with their reference dates and proxy notes, classification, notes, the method in plain words,
the attribution). :meth:`MapSpec.from_scenario` derives it from a resolved scenario. All texts
are plain strings, never markup: the writers escape them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from canrank.maps.palettes import check_palette

if TYPE_CHECKING:
    from canrank.config import ResolvedScenario

__all__ = ["ATTRIBUTION_TEMPLATE", "MapSpec", "MeasureInfo", "attribution_text"]

Direction = Literal["higher_is_worse", "lower_is_worse"]

#: The statement the Open Government Licence asks for (ONS and OS data), with the data year.
ATTRIBUTION_TEMPLATE = (
    "Contains National Statistics data © Crown copyright and database right {year}; "
    "Contains OS data © Crown copyright and database right {year}; "
    "Open Government Licence v3.0"
)


def attribution_text(year: int | str) -> str:
    """The attribution line for every map output."""
    return ATTRIBUTION_TEMPLATE.format(year=year)


@dataclass(frozen=True)
class MeasureInfo:
    """One measure the map can colour by: the composite score or an indicator's raw value.

    ``key`` names the columns ``<key>_value`` (indicators) or ``score`` (the composite).
    """

    key: str
    label: str
    direction: Direction = "higher_is_worse"
    reference_date: str | None = None
    proxy_note: str | None = None

    @property
    def column(self) -> str:
        """The ``lsoa`` column holding this measure's values."""
        return "score" if self.key == "score" else f"{self.key}_value"


@dataclass(frozen=True)
class MapSpec:
    """Everything a map needs besides the tables. Texts are plain text (escaped by the writers)."""

    title: str
    scenario: str
    area_label: str
    n_lsoas: int
    measures: tuple[MeasureInfo, ...]
    scheme: str = "quantiles"
    k: int = 5
    palette: str = "YlOrRd"
    simplify_m: float = 8.0
    notes: tuple[str, ...] = ()
    about: tuple[str, ...] = ()
    attribution: str = field(default_factory=lambda: attribution_text(2024))
    description: str = ""
    selection_status: str | None = None

    def __post_init__(self) -> None:
        check_palette(self.palette)
        if not self.measures or self.measures[0].key != "score":
            raise ValueError("MapSpec.measures must start with the composite score (key 'score')")

    @property
    def score(self) -> MeasureInfo:
        """The composite score's measure (always first)."""
        return self.measures[0]

    @property
    def indicators(self) -> tuple[MeasureInfo, ...]:
        """The indicator measures (after the composite)."""
        return self.measures[1:]

    def score_sentence(self) -> str:
        """What the score is, in one sentence."""
        n = len(self.indicators)
        return (
            f"Each area's score combines {n or 'several'} indicator{'s' if n != 1 else ''} "
            "of need into one number: a higher score means more stress, and rank 1 is the most "
            f"stressed of the {self.n_lsoas:,} areas in {self.area_label}."
        )

    @classmethod
    def from_scenario(
        cls,
        resolved: ResolvedScenario,
        *,
        n_lsoas: int,
        notes: Sequence[str] = (),
        selection_status: str | None = None,
    ) -> MapSpec:
        """The spec of a resolved scenario (``notes`` e.g. override notes are shown as given)."""
        measures = [MeasureInfo("score", "Composite score")]
        for ind in resolved.indicators:
            measures.append(
                MeasureInfo(
                    ind.key,
                    ind.label,
                    ind.direction,
                    ind.reference_date or _source_date(ind.source),
                    ind.proxy_note,
                )
            )
        title = f"Community Action Neighbourhoods, {resolved.area.label}: scenario {resolved.name}"
        if resolved.proxies:
            title += " (uses proxies)"
        all_notes = [f"Proxy: {p}" for p in resolved.proxies] + [str(n) for n in notes]
        sel = resolved.selection
        about = [
            _sentence(f"Scenario {resolved.name}: {resolved.description}".strip().rstrip(":")),
            f"Areas are the {n_lsoas:,} Lower layer Super Output Areas (LSOAs) of "
            f"{resolved.area.label}, small areas of about 1,500 residents each.",
            "Each indicator is put on a common scale and the scales are combined "
            f"({resolved.aggregation} mean) with these weights: "
            + ", ".join(f"{i.label} {i.weight:g}" for i in resolved.indicators)
            + ".",
            f"{sel.n_cans} Community Action Neighbourhoods (CANs) were then chosen: groups of "
            f"neighbouring areas with {sel.min_population:,} to {sel.max_population:,} "
            f"residents, at most {sel.max_per_borough} per borough"
            + (", not touching each other" if sel.separation else "")
            + ", covering as many people in high-scoring areas as possible"
            + (f" (selection: {selection_status})" if selection_status else "")
            + ".",
        ]
        return cls(
            title=title,
            scenario=resolved.name,
            area_label=resolved.area.label,
            n_lsoas=int(n_lsoas),
            measures=tuple(measures),
            scheme=resolved.map.scheme,
            k=resolved.map.k,
            palette=resolved.map.palette,
            simplify_m=resolved.map.simplify_m,
            notes=tuple(all_notes),
            about=tuple(about),
            attribution=attribution_text(_attribution_year(resolved)),
            description=resolved.description,
            selection_status=selection_status,
        )


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def _source_date(source_id: str) -> str | None:
    from canrank.sources import get_source

    try:
        return get_source(source_id).reference_date or None
    except KeyError:  # a local source from the config: no catalogue date
        return None


def _attribution_year(resolved: ResolvedScenario) -> int:
    """The latest year named in the sources' dates and licences (the data's copyright year)."""
    from canrank.sources import get_source

    texts: list[str] = [i.reference_date or "" for i in resolved.indicators]
    for sid in resolved.source_ids():
        try:
            src = get_source(sid)
        except KeyError:
            continue
        texts += [src.reference_date, src.licence]
    years = [int(y) for t in texts for y in re.findall(r"\b(?:19|20)\d\d\b", t)]
    return max(years) if years else 2024
