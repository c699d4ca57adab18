"""The config: the committed schema matches the dataclasses, the shipped config loads, bad configs fail clearly."""

import copy
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autalk.config import PAPER_VARIANTS, DatasetConfig, config_from_dict, load_config, schema_yaml
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
    assert grid.model.channels == [512, 512, 512, 1024] and grid.model.attention == "channels"
    assert grid.preprocess.mfcc.window == 35 and grid.preprocess.faces.crop_size == 128
    assert grid.training.lr_g == pytest.approx(2e-4) and grid.training.betas == [0.5, 0.999]
    assert grid.evaluation.variants == list(grid.variants) == list(PAPER_VARIANTS)
    assert cfg.dataset("tcd_timit").evaluation.variants == list(PAPER_VARIANTS)
    demo = cfg.dataset("demo")
    assert demo.preprocess.faces.crop_size == 64
    assert demo.preprocess.mfcc.window == 35  # the dataclass default
    assert demo.variant("no_au").model.au_input == "none"
    assert demo.model.au_input == "predicted"


def _restated(entry: dict, defaults: dict, where: str) -> list[str]:
    """The keys of a config entry whose value is the default's."""
    found = []
    for key, value in entry.items():
        if isinstance(value, dict) and isinstance(defaults.get(key), dict) and key != "variants":
            found += _restated(value, defaults[key], f"{where}.{key}")
        elif key in defaults and value == defaults[key]:
            found.append(f"{where}.{key}")
    return found


@pytest.mark.parametrize("name", ["config.yaml", "tests/tiny_demo.yaml"])
def test_shipped_configs_hold_only_what_differs_from_the_defaults(name):
    """One source of defaults: a value that restates config.py's would silently stay when the default changes.
    The exceptions are what says which dataset this is (source.kind) and the keys the schema requires."""
    raw = yaml.safe_load((REPO / name).read_text())
    assert "defaults" not in raw
    defaults = dataclasses.asdict(DatasetConfig())
    required = {"source.kind", "speakers", "splits.train", "splits.val", "splits.test"}
    for ds_name, entry in raw["datasets"].items():
        restated = [k for k in _restated(entry, defaults, ds_name) if k.split(".", 1)[1] not in required]
        assert not restated, f"{name} restates defaults: {restated}"


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda r: r.setdefault("defaults", {}).setdefault("training", {}).update(lr_gg=1), "lr_gg"),
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
        (lambda r: r.setdefault("defaults", {}).setdefault("audio2au", {}).update(lr=float("inf")), "audio2au.lr"),
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


def _demo(**sections) -> dict:
    return {"datasets": {"demo": sections}}


def _check_config_refuses(tmp_path: Path, override: dict, capsys) -> tuple[Path, str]:
    """``autalk check-config config.yaml bad.yaml`` with ``override`` as bad.yaml: it must exit 2; returns the file
    and what it printed on stderr."""
    from autalk.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(override))
    assert main(["check-config", "--config", str(REPO / "config.yaml"), str(bad)]) == 2
    return bad, capsys.readouterr().err


@pytest.mark.parametrize("override, message", [
    # what training refused only once it ran, after preprocessing and both pretrainings
    (_demo(preprocess={"faces": {"crop_size": 72}}),
     "datasets.demo.preprocess.faces.crop_size: 72 is not a multiple of 16"),
    (_demo(training={"betas": [0.5, 1.0]}),
     "datasets.demo.training.betas.1: 1.0 is greater than or equal to the maximum"),
    (_demo(training={"betas": [0.9]}), "datasets.demo.training.betas: [0.9] is too short"),
    (_demo(training={"device": "gpu"}), "datasets.demo.training.device: 'gpu' does not match"),
    (_demo(training={"max_steps": 0}), "datasets.demo.training.max_steps: 0 is less than the minimum of 1"),
    (_demo(model={"kernel_size": 4}), "datasets.demo.model.kernel_size must be odd"),
    (_demo(model={"dilations": [1, 2, 4]}), "datasets.demo.model: channels and dilations need one entry per level"),
    (_demo(model={"channels": []}), "datasets.demo.model.channels: [] should be non-empty"),
    (_demo(model={"attention": "channels"}, training={"clip_length": 1}),
     "datasets.demo.training.clip_length: channel attention needs at least 2 frames"),
    # what preprocessing refused
    (_demo(preprocess={"mfcc": {"n_fft": 256}}), "datasets.demo.preprocess.mfcc.win_ms: 25 ms is 400 samples"),
    (_demo(preprocess={"mfcc": {"fmax": 9000}}), "datasets.demo.preprocess.mfcc.fmax: need fmin < fmax"),
    # what the demo synthesiser refused
    (_demo(source={"synth": {"pitches": [50, 120]}}), "datasets.demo.source.synth.pitches.1: 120 is greater than"),
    (_demo(source={"synth": {"rates": [40]}}), "datasets.demo.source.synth.rates.0: 40 is less than the minimum of 80"),
    (_demo(source={"synth": {"voices": []}}), "datasets.demo.source.synth.voices: [] should be non-empty"),
    (_demo(source={"synth": {"photos": []}}), "datasets.demo.source.synth.photos: [] should be non-empty"),
    (_demo(source={"synth": {"utterances_per_speaker": 0}}), "datasets.demo.source.synth.utterances_per_speaker: 0"),
    # what AU labelling refused
    (_demo(aus={"openface_mode": "video"}), "datasets.demo.aus.openface_mode: 'video' is not one of"),
    # a variant is checked as its dataset is
    (_demo(variants={"full": {}, "odd": {"model": {"kernel_size": 2}}}),
     "datasets.demo.variants.odd.model.kernel_size must be odd"),
    (_demo(variants={"full": {}, "tiny": {"training": {"batch_size": 0}}}),
     "datasets.demo.variants.tiny.training.batch_size: 0 is less than the minimum of 1"),
])
def test_check_config_names_file_and_key_of_what_a_stage_would_refuse(tmp_path, override, message, capsys):
    bad, err = _check_config_refuses(tmp_path, override, capsys)
    assert str(bad) in err and message in err and "Traceback" not in err, err


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
    bad, err = _check_config_refuses(tmp_path, override, capsys)
    assert key in err and "Traceback" not in err
    proc = _snakemake_dry_run(REPO / "config.yaml", bad)          # refused before any job is planned
    assert proc.returncode != 0 and key in proc.stdout + proc.stderr
    assert "Job stats" not in proc.stdout + proc.stderr
