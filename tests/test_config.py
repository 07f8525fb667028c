"""Config validation: every kind of mistake is a ConfigError naming the key or line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from canrank.config import load_config
from canrank.errors import ConfigError

from conftest import CONFIG


def _edit(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(CONFIG.read_text())
    change(data)
    path = tmp_path / "indicators.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_shipped_config_resolves_every_scenario() -> None:
    config = load_config(CONFIG)
    assert {"lcc-2017", "gla-2017", "lcc-2017-proxies", "gla-2017-proxies"} <= set(config.scenarios)
    for name in config.scenarios:
        resolved = config.resolve(name)
        assert abs(sum(i.weight for i in resolved.indicators) - 1) < 1e-12
    proxies = config.resolve("lcc-2017-proxies")
    assert [i.source for i in proxies.indicators] == ["iod2015_file7"] * 4
    assert len(proxies.proxies) == 3
    assert any("IDACI" in p for p in proxies.proxies)
    assert any("IDAOPI" in p for p in proxies.proxies)
    real = config.resolve("lcc-2017")
    assert real.proxies == []
    assert "dwp_hb_lsoa_2017_02" in real.source_ids()
    gla = config.resolve("gla-2017")
    assert "loneliness" in [i.key for i in gla.indicators]


def test_selection_overrides_are_validated() -> None:
    config = load_config(CONFIG)
    assert config.resolve("lcc-2017-proxies", n_cans=5).selection.n_cans == 5
    with pytest.raises(ConfigError, match="min_population is larger"):
        config.resolve("lcc-2017-proxies", min_population=20000, max_population=10000)
    with pytest.raises(ConfigError, match="unknown scenario"):
        config.resolve("no-such-scenario")


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("version: 1\nscenarios:\n  a: [1, 2\n  b: 3\n")
    with pytest.raises(ConfigError, match="broken YAML") as info:
        load_config(path)
    assert info.value.row is not None and info.value.row >= 3
    assert "broken.yaml" in str(info.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["scenarios"]["lcc-2017"]["weights"].update(imd=0), "positive number"),
        (lambda d: d["scenarios"]["lcc-2017"]["weights"].update(imd=-1), "positive number"),
        (lambda d: d["scenarios"]["lcc-2017"]["weights"].update(imd="heavy"), "imd"),
        (lambda d: d["scenarios"]["lcc-2017"]["weights"].update(nope=1), "unknown indicator"),
        (lambda d: d["scenarios"]["lcc-2017"].update(wieghts={}), "unknown key"),
        (lambda d: d["indicators"]["imd"].update(source="nowhere"), "unknown source"),
        (lambda d: d["indicators"]["imd"].update(transform="log"), "transform"),
        (lambda d: d["indicators"]["imd"].update(transform="rate"), "denominator"),
        (lambda d: d["selection"].update(max_per_borough=0), "max_per_borough"),
        (lambda d: d.update(default_scenario="x"), "default_scenario"),
        (lambda d: d["scenarios"]["lcc-2017"].update(use_proxies=["imd"]), "no proxy"),
    ],
)
def test_invalid_config_is_explained(tmp_path: Path, change, expected: str) -> None:
    path = _edit(tmp_path, change)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert expected in str(info.value)
    assert "indicators.yaml" in str(info.value)


def test_missing_and_non_mapping_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.yaml")
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)


def test_proxies_carry_their_own_reference_date() -> None:
    config = load_config(CONFIG)
    proxied = {i.key: i for i in config.resolve("lcc-2017-proxies").indicators}
    real = {i.key: i for i in config.resolve("lcc-2017").indicators}
    assert real["housing_benefit"].reference_date == "2017-02"
    assert proxied["housing_benefit"].reference_date.startswith("2015")
    assert proxied["housing_benefit"].is_proxy and not real["housing_benefit"].is_proxy
