"""``config/indicators.yaml``: indicators, study areas, selection rules and named scenarios.

The file is validated with pydantic (unknown keys, non-positive weights, unknown sources or
indicators are errors naming the YAML path) and each scenario is *resolved* into a flat
:class:`ResolvedScenario` that the pipeline uses and the manifest records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from canrank.errors import ConfigError, quote
from canrank.sources import CATALOGUE, Source, get_source

__all__ = [
    "AreaConfig",
    "Config",
    "ContiguityConfig",
    "IndicatorConfig",
    "MapConfig",
    "ResolvedIndicator",
    "ResolvedScenario",
    "ScenarioConfig",
    "SelectionConfig",
    "load_config",
]

Transform = Literal["raw", "rate", "rank", "zscore", "minmax", "exp_rank"]
Direction = Literal["higher_is_worse", "lower_is_worse"]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProxyConfig(_Strict):
    """A stand-in source used when the named indicator's own source is not available."""

    source: str
    column: str
    denominator: str | None = None
    label: str
    note: str = ""
    reference_date: str | None = None


class IndicatorConfig(_Strict):
    """One indicator: where its values come from and how they are put on a common scale."""

    label: str
    source: str
    column: str
    denominator: str | None = None
    transform: Transform = "rank"
    direction: Direction = "higher_is_worse"
    reference_date: str | None = None
    missing: Literal["error", "median"] = "error"
    winsorise: tuple[float, float] | None = None
    proxy: ProxyConfig | None = None
    lsoa_vintage: Literal["2011", "2021"] | None = None  # the source's LSOA geography

    @model_validator(mode="after")
    def _rate_needs_denominator(self) -> IndicatorConfig:
        if self.transform == "rate" and self.denominator is None:
            raise ValueError("transform 'rate' needs a 'denominator' column")
        if self.winsorise is not None:
            low, high = self.winsorise
            if not 0 <= low < high <= 1:
                raise ValueError("winsorise needs two quantiles 0 <= low < high <= 1")
        return self


class AreaConfig(_Strict):
    """A study area: its boundary layers and which LSOAs belong to it."""

    label: str
    boundaries: str
    wards: str | None = None
    boroughs: str | None = None
    lad_prefix: str = ""
    lsoa_prefix: str = ""


class SelectionConfig(_Strict):
    """Rules every set of CANs must satisfy, and the method that chooses them."""

    n_cans: int = Field(15, ge=1)
    min_population: int = Field(8000, ge=0)
    max_population: int = Field(15000, gt=0)
    max_per_borough: int = Field(2, ge=1)
    separation: bool = True
    min_member_score: float | None = None
    method: Literal["greedy", "optimal"] = "greedy"
    seeds: int = Field(200, ge=1)
    time_limit_s: float = Field(120.0, gt=0)  # optimal: stop and report the gap after this
    mip_gap: float = Field(0.005, ge=0, lt=1)  # optimal: relative gap accepted as optimal

    @model_validator(mode="after")
    def _bounds(self) -> SelectionConfig:
        if self.min_population > self.max_population:
            raise ValueError("min_population is larger than max_population")
        return self


class ContiguityConfig(_Strict):
    """How neighbours are found on boundaries whose shared edges do not share vertices."""

    tolerance_m: float = Field(1.0, ge=0)
    rule: Literal["rook", "queen"] = "rook"
    min_shared_m: float = Field(5.0, ge=0)


class MapConfig(_Strict):
    """Choropleth classification and simplification for ``map.html``."""

    scheme: Literal["quantiles", "fisher_jenks", "equal_interval"] = "quantiles"
    k: int = Field(5, ge=2, le=10)
    palette: str = "YlOrRd"
    simplify_m: float = Field(8.0, ge=0)


class PopulationConfig(_Strict):
    """Which column of which source gives each LSOA's resident population."""

    source: str
    column: str = "population"
    label: str = "population"


class ScenarioConfig(_Strict):
    """A named weighting: indicator weights, proxies to use, and optional rule overrides."""

    description: str
    area: str = "london"
    weights: dict[str, PositiveFloat]
    use_proxies: list[str] = Field(default_factory=list)
    aggregation: Literal["arithmetic", "geometric"] = "arithmetic"
    transforms: dict[str, Transform] = Field(default_factory=dict)
    population: PopulationConfig | None = None
    selection: dict[str, Any] = Field(default_factory=dict)


class LocalSourceConfig(_Strict):
    """A user's own file (e.g. a Stat-Xplore export) as a source; path relative to the config."""

    path: str
    loader: Literal[
        "iod",
        "lsoa_boundaries",
        "wards",
        "boroughs",
        "loneliness",
        "statxplore",
        "hmrc_cilif",
        "lsoa_lookup",
    ]
    title: str = ""
    publisher: str = "local file"
    reference_date: str = ""
    sha256: str | None = None


class Config(_Strict):
    """The whole of ``indicators.yaml``."""

    version: Literal[1] = 1
    sources: dict[str, LocalSourceConfig] = Field(default_factory=dict)
    lookups: dict[Literal["2011-2021"], str] = Field(default_factory=dict)  # -> a source id
    base_dir: str = Field(".", exclude=True)
    default_scenario: str
    population: PopulationConfig
    areas: dict[str, AreaConfig]
    indicators: dict[str, IndicatorConfig]
    selection: SelectionConfig = SelectionConfig()
    contiguity: ContiguityConfig = ContiguityConfig()
    map: MapConfig = MapConfig()
    scenarios: dict[str, ScenarioConfig]

    def source(self, source_id: str) -> Source:
        """The catalogue entry for ``source_id``, or the config's own local source of that id."""
        local = self.sources.get(source_id)
        if local is None:
            return get_source(source_id)
        path = Path(local.path)
        if not path.is_absolute():
            path = Path(self.base_dir) / path
        return Source(
            id=source_id,
            publisher=local.publisher,
            title=local.title or path.name,
            reference_date=local.reference_date,
            licence="as the user's file",
            filename=path.name,
            loader=local.loader,
            sha256=local.sha256,
            sidecars=tuple(path.with_suffix(e).name for e in (".shx", ".dbf", ".prj"))
            if path.suffix.lower() == ".shp"
            else (),
            local_path=str(path),
        )

    @model_validator(mode="after")
    def _references(self) -> Config:
        known = set(CATALOGUE) | set(self.sources)
        for name, ind in self.indicators.items():
            for src in [ind.source] + ([ind.proxy.source] if ind.proxy else []):
                if src not in known:
                    listed = ", ".join(sorted(known))
                    raise ValueError(f"indicators.{name}: unknown source {src!r} (known: {listed})")
        for pair, src in self.lookups.items():
            if src not in known:
                raise ValueError(f"lookups.{pair}: unknown source {src!r}")
        for name, area in self.areas.items():
            for src in (area.boundaries, area.wards, area.boroughs):
                if src is not None and src not in known:
                    raise ValueError(f"areas.{name}: unknown source {src!r}")
        if self.default_scenario not in self.scenarios:
            raise ValueError(f"default_scenario {self.default_scenario!r} is not a scenario")
        for name, sc in self.scenarios.items():
            if not sc.weights:
                raise ValueError(f"scenarios.{name}.weights: at least one indicator is needed")
            for key in [*sc.weights, *sc.use_proxies, *sc.transforms]:
                if key not in self.indicators:
                    raise ValueError(
                        f"scenarios.{name}: unknown indicator {key!r} "
                        f"(indicators: {', '.join(self.indicators)})"
                    )
            for key in sc.use_proxies:
                if self.indicators[key].proxy is None:
                    raise ValueError(f"scenarios.{name}.use_proxies: {key!r} has no proxy defined")
            if sc.area not in self.areas:
                raise ValueError(f"scenarios.{name}.area: unknown area {sc.area!r}")
            try:
                SelectionConfig(**{**self.selection.model_dump(), **sc.selection})
            except ValidationError as exc:
                raise ValueError(f"scenarios.{name}.selection: {_first_error(exc)}") from None
        return self

    def resolve(
        self,
        scenario: str | None = None,
        *,
        area: str | None = None,
        strict: bool = False,
        **selection_overrides: Any,
    ) -> ResolvedScenario:
        """Flatten a scenario: the indicators (or proxies) it uses, weights, rules and sources.

        ``area`` runs the scenario on another study area; ``strict`` refuses proxies.
        """
        name = scenario or self.default_scenario
        if name not in self.scenarios:
            raise ConfigError(
                f"unknown scenario {quote(name)}; scenarios are {', '.join(self.scenarios)}",
                hint="pick one with --scenario, or add it under 'scenarios:' in the config",
            )
        sc = self.scenarios[name]
        if strict and sc.use_proxies:
            raise ConfigError(
                f"scenario {quote(name)} uses proxies for {', '.join(sc.use_proxies)} and "
                "--strict refuses proxies",
                hint="run a scenario with the real sources (e.g. without '-proxies'), or drop "
                "--strict",
            )
        area_key = area or sc.area
        if area_key not in self.areas:
            raise ConfigError(
                f"unknown area {quote(area_key)}; areas are {', '.join(self.areas)}",
                hint="pick one with --area, or add it under 'areas:' in the config",
            )
        total = sum(sc.weights.values())
        indicators: list[ResolvedIndicator] = []
        for key, weight in sc.weights.items():
            ind = self.indicators[key]
            proxy = ind.proxy if key in sc.use_proxies else None
            indicators.append(
                ResolvedIndicator(
                    key=key,
                    label=proxy.label if proxy else ind.label,
                    indicator_label=ind.label,
                    source=proxy.source if proxy else ind.source,
                    column=proxy.column if proxy else ind.column,
                    denominator=proxy.denominator if proxy else ind.denominator,
                    transform=sc.transforms.get(key, ind.transform),
                    direction=ind.direction,
                    weight=weight / total,
                    missing=ind.missing,
                    winsorise=ind.winsorise,
                    proxy_note=(proxy.note or f"{proxy.label} stands in for {ind.label}")
                    if proxy
                    else None,
                    reference_date=(proxy.reference_date if proxy else ind.reference_date),
                    lsoa_vintage=None if proxy else ind.lsoa_vintage,
                )
            )
        overrides = {k: v for k, v in selection_overrides.items() if v is not None}
        try:
            selection = SelectionConfig(
                **{**self.selection.model_dump(), **sc.selection, **overrides}
            )
        except ValidationError as exc:
            raise ConfigError(f"selection rules: {_first_error(exc)}") from None
        return ResolvedScenario(
            name=name,
            description=sc.description,
            area_key=area_key,
            area=self.areas[area_key],
            population=sc.population or self.population,
            indicators=tuple(indicators),
            aggregation=sc.aggregation,
            selection=selection,
            contiguity=self.contiguity,
            map=self.map,
            lookups=dict(self.lookups),
        )


class ResolvedIndicator(_Strict):
    """An indicator as a scenario uses it (after choosing the proxy, if any)."""

    key: str
    label: str
    indicator_label: str
    source: str
    column: str
    denominator: str | None
    transform: Transform
    direction: Direction
    weight: float
    missing: Literal["error", "median"]
    winsorise: tuple[float, float] | None = None
    proxy_note: str | None
    reference_date: str | None
    lsoa_vintage: Literal["2011", "2021"] | None = None

    @property
    def is_proxy(self) -> bool:
        """True when a stand-in source replaces the indicator's own."""
        return self.proxy_note is not None


class ResolvedScenario(_Strict):
    """Everything a build needs to know about one scenario."""

    name: str
    description: str
    area_key: str
    area: AreaConfig
    population: PopulationConfig
    indicators: tuple[ResolvedIndicator, ...]
    aggregation: Literal["arithmetic", "geometric"]
    selection: SelectionConfig
    contiguity: ContiguityConfig
    map: MapConfig
    lookups: dict[str, str] = Field(default_factory=dict)

    @property
    def proxies(self) -> list[str]:
        """Human-readable notes for every proxy in use."""
        return [i.proxy_note for i in self.indicators if i.proxy_note]

    def source_ids(self) -> list[str]:
        """Every catalogue source this scenario reads, in a stable order."""
        ids = [self.area.boundaries, self.population.source]
        ids += [i.source for i in self.indicators]
        ids += [s for s in (self.area.wards, self.area.boroughs) if s]
        if any(i.lsoa_vintage for i in self.indicators):
            ids += list(self.lookups.values())
        return list(dict.fromkeys(ids))


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]


def load_config(path: str | Path) -> Config:
    """Read and validate ``indicators.yaml``; any problem is a ``ConfigError`` naming the key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("config file not found", file=path, hint="pass --config PATH")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"broken YAML: {problem}",
            file=path,
            row=row,
            hint="fix the YAML syntax (indentation, colons, quotes) at that line",
        ) from None
    except UnicodeDecodeError:
        raise ConfigError("the config is not UTF-8 text", file=path) from None
    if not isinstance(data, dict):
        raise ConfigError(
            "the config must be a YAML mapping (indicators:, scenarios:, ...)", file=path
        )
    try:
        return Config.model_validate({**data, "base_dir": str(path.parent)})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling)"
        elif err["type"] == "greater_than" and "weights" in where:
            msg = f"weight must be a positive number, got {err.get('input')!r}"
        raise ConfigError(
            f"{where}: {msg}" if where else msg,
            file=path,
            hint="see the comments in config/indicators.yaml for the allowed keys and values",
        ) from None
