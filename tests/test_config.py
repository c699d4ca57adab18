"""The config: the committed schema matches the dataclasses, the shipped config loads, bad configs fail clearly."""

import copy
from pathlib import Path

import pytest
import yaml

from autalk.config import config_from_dict, load_config, schema_yaml
from autalk.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def raw():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_committed_schema_is_generated_from_dataclasses():
    committed = (REPO / "workflow" / "schemas" / "config.schema.yaml").read_text()
    assert committed == schema_yaml(), "run: autalk config-schema -o workflow/schemas/config.schema.yaml"


def test_shipped_config_loads_with_reference_defaults():
    cfg = load_config(REPO / "config.yaml")
    grid = cfg.dataset("grid")
    assert len(grid.speakers) == 33 and "s21" not in grid.speakers
    assert grid.model.channels == [512, 512, 512, 1024]
    assert grid.preprocess.mfcc.window == 35 and grid.preprocess.faces.crop_size == 128
    assert grid.training.lr_g == pytest.approx(2e-4) and grid.training.betas == [0.5, 0.999]
    demo = cfg.dataset("demo")
    assert demo.preprocess.faces.crop_size == 64
    assert demo.preprocess.mfcc.window == 35  # inherited from defaults
    assert demo.variant("no_au").model.au_input == "none"
    assert demo.model.au_input == "predicted"


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda r: r["defaults"]["training"].update(lr_gg=1), "lr_gg"),
        (lambda r: r["datasets"]["demo"]["model"].update(fusion="lstm"), "datasets.demo.model.fusion"),
        (lambda r: r["datasets"]["demo"]["training"].update(batch_size=0), "datasets.demo.training.batch_size"),
        (lambda r: r["datasets"]["demo"]["splits"].update(test=["d1"]), "splits"),
        (lambda r: r["datasets"]["grid"]["speakers"].append("s21"), "s21"),
        (lambda r: r["datasets"]["demo"]["variants"].update(bad={"model": {"nope": 1}}), "nope"),
    ],
)
def test_broken_config_is_rejected_naming_the_key(raw, mutate, key):
    broken = copy.deepcopy(raw)
    mutate(broken)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config_from_dict(broken, source="config.yaml")


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)
