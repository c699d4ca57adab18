"""The config: the committed schema matches the dataclasses, the shipped config loads, bad configs fail clearly."""

import copy
import subprocess
import sys
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
        # caught here, not after preprocessing and both pretrainings (issue 11, defect 5)
        (lambda r: r["datasets"]["demo"]["preprocess"]["faces"].update(crop_size=72),
         "datasets.demo.preprocess.faces.crop_size: 72 is not a multiple of 16"),
        (lambda r: r["datasets"]["demo"]["preprocess"]["faces"].update(crop_size=64.0),
         "datasets.demo.preprocess.faces.crop_size: expected an integer, got 64.0"),
        (lambda r: r["datasets"]["demo"]["training"].update(clip_length=16.0), "datasets.demo.training.clip_length"),
        (lambda r: r["datasets"]["demo"]["speakers"].append("d1"), "datasets.demo.speakers: .* non-unique"),
        (lambda r: r["datasets"]["demo"]["evaluation"].update(variants=["full", "full"]),
         "datasets.demo.evaluation.variants: .* non-unique"),
        (lambda r: r["datasets"]["demo"]["training"].update(lr_g=float("nan")),
         "datasets.demo.training.lr_g: expected a finite number, got nan"),
        (lambda r: r["defaults"].setdefault("audio2au", {}).update(lr=float("inf")), "audio2au.lr"),
        (lambda r: r["datasets"]["demo"].setdefault("aus", {}).update(units=["AU10", "AU99"]),
         "datasets.demo.aus.units: .*AU99.* cannot be labelled by backend 'landmarks'"),
        (lambda r: r["datasets"]["grid"]["source"].update(download={"video_url": "http://x/{talker}.zip"}),
         r"datasets.grid.source.download.video_url: unknown placeholder\(s\) \['talker'\]"),
    ],
)
def test_broken_config_is_rejected_naming_the_key(raw, mutate, key):
    broken = copy.deepcopy(raw)
    mutate(broken)
    with pytest.raises(ConfigError, match=key):
        config_from_dict(broken, source="config.yaml")


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)


@pytest.mark.parametrize("text, message", [
    ("- datasets\n- defaults\n", "the top level must be a mapping"),
    ("datasets:\n  demo:\n    variants:\n      full: {}\n      full: {model: {au_loss: false}}\n",
     "duplicate key 'full'"),
])
def test_malformed_top_level_and_repeated_keys(tmp_path, text, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=f"bad.yaml: .*{message}"):
        load_config(REPO / "config.yaml", bad)


def _snakemake_dry_run(*configfiles: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("snakemake")), "-n", "--cores", "1",
                           "results/demo_metrics.csv", "--configfile", *map(str, configfiles)],
                          cwd=REPO, capture_output=True, text=True)


@pytest.mark.parametrize("override, key", [
    ({"datasets": {"demo": {"preprocess": {"faces": {"crop_size": 64.0}}}}}, "crop_size: expected an integer"),
    ({"datasets": {"demo": {"training": {"lr_g": float("nan")}}}}, "lr_g: expected a finite number"),
    ({"datasets": {"grid": {"source": {"download": {"align_url": "http://x/{spk}.tar"}}}}},
     "align_url: unknown placeholder"),
])
def test_check_config_and_the_workflow_refuse_the_same_config(tmp_path, override, key, capsys):
    from autalk.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(override))
    assert main(["check-config", "--config", str(REPO / "config.yaml"), str(bad)]) == 2
    err = capsys.readouterr().err
    assert key in err and "Traceback" not in err
    proc = _snakemake_dry_run(REPO / "config.yaml", bad)          # refused before any job is planned
    assert proc.returncode != 0 and key in proc.stdout + proc.stderr
    assert "Job stats" not in proc.stdout + proc.stderr
