"""``config/indicators.yaml``: indicators, study areas, selection rules and named scenarios.

The file is validated with pydantic (unknown keys, non-positive weights, unknown sources or
indicators are errors naming the YAML path) and each scenario is *resolved* into a flat
:class:`ResolvedScenario` that the pipeline uses and the manifest records.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

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


def _registered(registry: str) -> Any:
    """A validator: the value must be a name in one of canrank's registries (the registry is
    the one place a new transform or loader is added; the config reads it)."""

    def check(value: str) -> str:
        names = _registry_names(registry)
        if value not in names:
            raise ValueError(f"unknown {registry} {value!r}; choose one of {', '.join(names)}")
        return value

    return AfterValidator(check)


def _registry_names(registry: str) -> list[str]:
    if registry == "transform":
        from canrank.composite import TRANSFORMS

        return list(TRANSFORMS)
    from canrank.loaders import LOADERS

    return list(LOADERS)


Transform = Annotated[str, _registered("transform")]
LoaderName = Annotated[str, _registered("loader")]
Direction = Literal["higher_is_worse", "lower_is_worse"]
OverlapCorrection = Literal["none", "effective_weights"]  # issue 15
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
#: The largest weight accepted: weights are relative (only their ratios matter), and huge
#: values such as 1e308 overflow when summed, which silently zeroes every score.
MAX_WEIGHT = 1e6
Weight = Annotated[float, Field(gt=0, le=MAX_WEIGHT, allow_inf_nan=False)]
#: Names that become parts of file paths (scenarios, areas) or column names (indicators).
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: The deepest nesting accepted in a YAML file (the shipped config needs 5).
MAX_YAML_DEPTH = 50
#: The largest config file accepted (the shipped one is a few kB).
MAX_CONFIG_BYTES = 5_000_000


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
    #: How many LSOAs the area has: a boundary file holding fewer (or more) is an error.
    #: Leave unset for an area whose size is not fixed (e.g. a test or partial area).
    expected_lsoas: int | None = Field(None, ge=1)


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
    #: optimal: branch-and-bound nodes per root area per pricing round (deterministic limit;
    #: a root that reaches it still gives a valid bound)
    node_limit: int = Field(2_000_000, ge=1)
    #: optimal: column-generation rounds at most (deterministic limit)
    max_rounds: int = Field(200, ge=1)
    #: optimal: safety net only; if reached, the status says "time limit reached"
    time_limit_s: float = Field(600.0, gt=0)
    #: ignored since the exact method proves optimality; accepted so older configs still load
    mip_gap: float = Field(0.0, ge=0, lt=1)

    @model_validator(mode="after")
    def _bounds(self) -> SelectionConfig:
        if self.min_population > self.max_population:
            raise ValueError("min_population is larger than max_population")
        return self


class ContiguityConfig(_Strict):
    """How neighbours are found on boundaries whose shared edges do not share vertices."""

    tolerance_m: float = Field(1.0, ge=0, le=1000, allow_inf_nan=False)
    rule: Literal["rook", "queen"] = "rook"
    min_shared_m: float = Field(5.0, ge=0, allow_inf_nan=False)


class MapConfig(_Strict):
    """Choropleth classification and simplification for ``map.html``."""

    scheme: Literal["quantiles", "fisher_jenks", "equal_interval"] = "quantiles"
    k: int = Field(5, ge=2, le=10)
    palette: str = "YlOrRd"
    simplify_m: float = Field(8.0, ge=0, allow_inf_nan=False)


class PopulationConfig(_Strict):
    """Which column of which source gives each LSOA's resident population."""

    source: str
    column: str = "population"
    label: str = "population"


class ScenarioConfig(_Strict):
    """A named weighting: indicator weights, proxies to use, and optional rule overrides."""

    description: str
    area: str = "london"
    weights: dict[str, Weight]
    use_proxies: list[str] = Field(default_factory=list)
    aggregation: Literal["arithmetic", "geometric"] = "arithmetic"
    # --- overlap correction (issue 15; canrank.analysis.diagnostics.correct_weights) ---
    #: "effective_weights" rescales the weights so that each indicator's effective importance
    #: (squared correlation with the composite) matches its nominal weight share; "none" keeps
    #: the nominal weights. Applied only when asked, and recorded in the manifest's diagnostics.
    overlap_correction: OverlapCorrection = "none"
    # --- end overlap correction ---
    transforms: dict[str, Transform] = Field(default_factory=dict)
    population: PopulationConfig | None = None
    selection: dict[str, Any] = Field(default_factory=dict)


class LocalSourceConfig(_Strict):
    """A user's own file (e.g. a Stat-Xplore export) as a source; path relative to the config."""

    path: str
    loader: LoaderName
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
        _check_names(self)
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
            for area_src in (area.boundaries, area.wards, area.boroughs):
                if area_src is not None and area_src not in known:
                    raise ValueError(f"areas.{name}: unknown source {area_src!r}")
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
            overlap_correction=sc.overlap_correction,  # issue 15
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
    overlap_correction: OverlapCorrection = "none"  # issue 15: see ScenarioConfig
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


def _check_names(config: Config) -> None:
    """Scenario and area names become folder names, indicator keys column names: keep them plain.

    A name such as ``../../x`` would otherwise reach outside ``data/processed``.
    """
    for section, names in (
        ("scenarios", config.scenarios),
        ("areas", config.areas),
        ("indicators", config.indicators),
    ):
        for name in names:
            if not SAFE_NAME.match(str(name)):
                raise ValueError(
                    f"{section}: the name {quote(name)} is not allowed; names start with a "
                    "letter or digit and use only letters, digits, '.', '_' and '-' (at most "
                    "64 characters), because they become folder and column names"
                )


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]


class YamlRefused(yaml.YAMLError):
    """A YAML document that parses but is refused: a duplicate key or absurd nesting."""

    def __init__(self, problem: str, line: int | None, hint: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = line
        self.hint = hint


class StrictSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate mapping keys and nesting deeper than 50.

    PyYAML silently keeps the last of two equal keys, so a scenario pasted twice under one
    name would quietly replace the first; and its composer recurses once per level, so a
    file nested thousands deep ends in a ``RecursionError``.
    """

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark
                raise YamlRefused(
                    f"the YAML is nested more than {MAX_YAML_DEPTH} levels deep",
                    mark.line + 1,
                    "a canrank config is only a few levels deep; check the file is the right one",
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _value in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                    key_node, yaml.ScalarNode
                ):
                    continue
                key = self.construct_object(key_node)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.setdefault(key, line)
                except TypeError:
                    continue
                if first != line:
                    raise YamlRefused(
                        f"the key {quote(key)} appears twice in one mapping (first at line "
                        f"{first}); YAML would silently keep only the last one",
                        line,
                        "give each entry its own name, or delete the copy you do not want",
                    )
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path, *, what: str = "the config") -> Any:
    """Read a YAML file safely: no Python tags, no duplicate keys, no absurd nesting or size.

    UTF-8 (with or without BOM) and UTF-16/32 with a BOM are read; any other encoding, a
    syntax error or a refused document is a ``ConfigError`` naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what}: file not found", file=path, hint="pass --config PATH")
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{what} is {size:,} bytes; a canrank config is a few kilobytes",
            file=path,
            hint="check this is the right file",
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{what} cannot be read ({exc.strerror or type(exc).__name__})",
            file=path,
            hint="check the file's permissions",
        ) from None
    try:
        text = _decode(raw)
    except UnicodeDecodeError:
        raise ConfigError(
            f"{what} is not UTF-8 text",
            file=path,
            hint="save it as UTF-8 (in most editors: 'Save with encoding' > UTF-8)",
        ) from None
    if "\x00" in text:
        raise ConfigError(
            f"{what} contains binary data (NUL bytes), so it is not a YAML text file",
            file=path,
            hint="check this is the right file",
        )
    try:
        return yaml.load(text, Loader=StrictSafeLoader)  # a SafeLoader subclass
    except YamlRefused as exc:
        raise ConfigError(exc.problem, file=path, row=exc.line, hint=exc.hint) from None
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
    except RecursionError:
        raise ConfigError(
            f"{what} is nested too deeply to read",
            file=path,
            hint="a canrank config is only a few levels deep; check the file is the right one",
        ) from None


def _decode(raw: bytes) -> str:
    """UTF-8 (BOM optional), or UTF-16/UTF-32 when the file starts with their BOM."""
    if raw.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return raw.decode("utf-32")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    return raw.decode("utf-8-sig")


def load_config(path: str | Path) -> Config:
    """Read and validate ``indicators.yaml``; any problem is a ``ConfigError`` naming the key."""
    path = Path(path)
    data = read_yaml(path)
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
        elif err["type"] in ("greater_than", "less_than_equal", "finite_number") and (
            "weights" in where
        ):
            msg = (
                f"weight must be a positive number no larger than {MAX_WEIGHT:g}, got "
                f"{err.get('input')!r} (weights are relative: only their ratios matter)"
            )
        raise ConfigError(
            f"{where}: {msg}" if where else msg,
            file=path,
            hint="see the comments in config/indicators.yaml for the allowed keys and values",
        ) from None
