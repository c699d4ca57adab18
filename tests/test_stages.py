"""Stage settings (autalk/stages.py): every rule that runs an ``autalk`` command is a stage, passes the sections
its stage declares, and each stage's code reads exactly those sections: no fewer (a change to the others would
not rerun it) and no more (a change to them would rerun it for nothing)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from autalk import cli, stages
from autalk.config import DatasetConfig, config_from_dict, load_config
from autalk.errors import ConfigError
from autalk.systems import REFERENCE_SYSTEMS
from conftest import REPO, SNAKEMAKE
from test_acquire import grid_config, mpg_bytes, serve_speaker, server, tcd_config  # noqa: F401 (fixtures)

TINY = REPO / "tests" / "tiny_demo.yaml"


def rule_blocks() -> dict[str, str]:
    """Each rule of the workflow's files and its text."""
    text = "\n".join(p.read_text() for p in [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))])
    return dict(re.findall(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", text, re.M | re.S))


def test_every_rule_that_runs_autalk_is_a_stage_passing_its_own_settings():
    blocks = rule_blocks()
    runs_autalk = {rule for rule, block in blocks.items() if re.search(r'"(autalk|\{params\.launch\}) ', block)}
    assert runs_autalk == set(stages.STAGES)
    for rule in runs_autalk:
        passed = re.findall(r'settings=stage_settings\("(\w+)"\)', blocks[rule])
        assert passed == ([rule] if stages.STAGES[rule] else []), rule
        assert ("--settings {params.settings:q}" in blocks[rule]) == bool(stages.STAGES[rule]), rule


def test_undeclared_section_is_refused_naming_stage_and_section():
    ds = load_config(TINY).dataset("demo")
    settings = stages.stage_config("train_sync_expert", "demo", stages.settings_json("train_sync_expert", ds))
    assert settings.sync_expert == ds.sync_expert and settings.splits == ds.splits
    with pytest.raises(stages.UndeclaredSectionError, match=r"stage train_sync_expert reads config section "
                                                             r"'training' \(\.seed\).*STAGES\['train_sync_expert'\]"):
        _ = settings.training.seed
    with pytest.raises(stages.UndeclaredSectionError, match="'variants'"):
        list(settings.variants)


def test_settings_of_another_stage_are_refused():
    ds = load_config(TINY).dataset("demo")
    with pytest.raises(ConfigError, match=r"stage label_aus .*: carry \['au_classifier', 'aus', .*declares \['aus'\]"):
        stages.stage_config("label_aus", "demo", stages.settings_json("pretrain_au_classifier", ds))


def dry_run_commands(workdir: Path, *args: str) -> list[list[str]]:
    """The argument lists of the `autalk` commands a forced dry-run of the workflow prints."""
    proc = subprocess.run([str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "-n", "-p", "--forceall",
                           "--cores", "1", *args], cwd=workdir, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    commands = []
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith("Shell command: autalk "):
            argv = shlex.split(line.removeprefix("Shell command: "))[1:]
            commands.append(argv[:argv.index("2>")] if "2>" in argv else argv)
    return commands


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_config_overrides_reach_the_commands_typed(tmp_path):
    shutil.copy(TINY, tmp_path / "config.yaml")
    commands = dry_run_commands(tmp_path, "results/demo/sync_expert_metrics.csv", "--config",
                                "datasets={demo: {sync_expert: {epochs: 3, lr: 0.0005}}}")
    sync = [argv for argv in commands if argv[0] == "train-sync-expert"]
    settings = json.loads(option(sync[0], "--settings"))
    assert settings["sync_expert"]["epochs"] == 3 and settings["sync_expert"]["lr"] == 0.0005
    default = load_config(TINY).dataset("demo")
    assert settings["sync_expert"]["batch_size"] == default.sync_expert.batch_size   # merged, not replaced
    assert "training" not in settings   # its seed is sync_expert.seed


def test_invalid_config_override_names_the_key(tmp_path):
    shutil.copy(TINY, tmp_path / "config.yaml")
    proc = subprocess.run([str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "-n", "--cores", "1",
                           "--config", "datasets={demo: {sync_expert: {epochs: -1}}}"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode != 0 and "['sync_expert']['epochs']" in proc.stdout + proc.stderr


class RecordingSettings(DatasetConfig):
    """A stage's settings that note each section the stage's code reads."""

    def __getattribute__(self, name: str):
        if name in stages.SECTIONS:
            object.__getattribute__(self, "sections_read").add(name)
        return super().__getattribute__(name)


@contextmanager
def recording_reads() -> Iterator[dict[str, set[str]]]:
    """Within: each stage's settings note what its code reads, per stage, in the dict yielded."""
    reads: dict[str, set[str]] = {}
    build = stages.stage_config

    def recording(stage: str, dataset: str, text: str) -> DatasetConfig:
        settings = build(stage, dataset, text)
        settings.__class__ = RecordingSettings
        settings.sections_read = reads.setdefault(stage, set())
        return settings

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stages, "stage_config", recording)
        yield reads


def job_key(argv: list[str]) -> tuple[str, bool]:
    """Jobs of one command that run the same code: the command, and for a system whether it is a reference."""
    return argv[0], "--system" in argv and option(argv, "--system") in REFERENCE_SYSTEMS


# What a stage reads does not depend on how long it trains: the replays train one pass (the tiny demo's trainers
# take ~75 s of its ~170 s; the replays would take that again).
ONE_PASS = {"au_classifier": {"epochs": 1}, "audio2au": {"epochs": 1}, "sync_expert": {"epochs": 1},
            "training": {"max_steps": 1}}


def shortened(argv: list[str]) -> list[str]:
    """A command line whose settings train one pass."""
    if "--settings" not in argv:
        return argv
    at = argv.index("--settings") + 1
    settings = json.loads(argv[at])
    for section, values in ONE_PASS.items():
        if section in settings:
            settings[section].update(values)
    return [*argv[:at], json.dumps(settings), *argv[at + 1:]]


@pytest.fixture(scope="module")
def sections_read(tiny_workspace, tmp_path_factory) -> dict[str, set[str]]:
    """Per stage, the sections its code read when one job of each kind of the demo ran again, in-process and with
    the settings its rule passes, in a copy of the built tiny workspace."""
    tiny_workspace.build("demo")
    work = tmp_path_factory.mktemp("stages") / "ws"
    shutil.copytree(tiny_workspace.root, work, ignore=shutil.ignore_patterns(".snakemake"))
    shutil.rmtree(work / "resources" / "demo" / "train")         # the generator trains anew, not resumes
    jobs: dict[tuple[str, bool], list[str]] = {}
    for argv in dry_run_commands(work, "demo"):
        jobs.setdefault(job_key(argv), shortened(argv))
    with recording_reads() as reads, pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        for argv in jobs.values():
            assert cli.main(argv) == 0, f"autalk {shlex.join(argv)} failed"
    return reads


# Stages that take no settings, and the acquisition of corpora the demo does not download or locate.
NOT_IN_DEMO = {"qc_summary", "report_overview", "acquire_grid_speaker", "locate_local_corpus"}
# Sections a stage reads only in a case the tiny demo does not run: the AU labels of a ground-truth-AU variant.
READ_IN_OTHER_CASES = {"generate_test_clips": {"aus"}}


@pytest.mark.slow
@pytest.mark.parametrize("stage", sorted(set(stages.STAGES) - NOT_IN_DEMO))
def test_stage_reads_exactly_the_sections_it_declares(sections_read, stage):
    declared = set(stages.STAGES[stage])
    assert sections_read[stage] <= declared
    assert declared - sections_read[stage] == READ_IN_OTHER_CASES.get(stage, set())


def test_acquisition_stages_read_exactly_the_sections_they_declare(server, mpg_bytes, tmp_path):  # noqa: F811
    for speaker in ("s1", "s2"):
        serve_speaker(server, speaker, mpg_bytes)
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump(grid_config(server)))
    for group, speaker in (("volunteers", "01M"), ("lipspeakers", "Lipspkr1")):
        clips = tmp_path / "tcd" / group / speaker / "Clips" / "straightcam"
        clips.mkdir(parents=True)
        (clips / "sa1.mp4").write_bytes(mpg_bytes)
    tcd = tmp_path / "tcd.yaml"
    tcd.write_text(yaml.safe_dump(tcd_config(str(tmp_path / "tcd"))))
    raw = tmp_path / "raw"
    with recording_reads() as reads:
        for speaker in ("s1", "s2"):
            assert cli.main(["download-grid", "--config", str(grid), "--dataset", "grid", "--speaker", speaker,
                             "--downloads", str(tmp_path / "downloads"), "--raw", str(raw),
                             "--flag", str(raw / f"{speaker}.acquired")]) == 0
        assert cli.main(["manifest", "--config", str(grid), "--dataset", "grid", "--raw", str(raw),
                         "--output", str(tmp_path / "manifest.parquet")]) == 0
        assert cli.main(["locate-local", "--config", str(tcd), "--dataset", "tcd_timit", "--raw",
                         str(tmp_path / "tcd_raw"), "--flag", str(tmp_path / "tcd_raw" / "local.complete")]) == 0
    stages_run = ("acquire_grid_speaker", "build_manifest", "locate_local_corpus")
    assert reads == {stage: set(stages.STAGES[stage]) for stage in stages_run}


def test_reference_systems_are_reserved_variant_names():
    raw = yaml.safe_load(TINY.read_text())
    raw["datasets"]["demo"]["variants"]["static"] = {}
    with pytest.raises(ConfigError, match=r"\['static'\] name the reference rows"):
        config_from_dict(raw)
