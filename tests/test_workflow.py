"""The Snakemake workflow as a user drives it: dry-runs of the GRID target (locally and with the SLURM profile,
whose GPU rules must ask SLURM for a GPU) and the linter."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from snakemake.iocontainers import ResourceList
from snakemake_executor_plugin_slurm.submit_string import get_submit_command
from snakemake_executor_plugin_slurm.utils import set_gres_string

from autalk import paths

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def snakemake(*args: str, cwd: Path = REPO) -> str:
    proc = subprocess.run([str(SNAKEMAKE), *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def planned_jobs(output: str) -> list[tuple[str, dict]]:
    """(rule, resources) of every job a dry-run prints; numeric resources as int."""
    jobs = []
    for block in re.split(r"\n(?=rule \w+:\n)", output):
        head = re.match(r"rule (\w+):\n", block)
        if not head:
            continue
        res = re.search(r"^\s+resources: (.*)$", block, re.M)
        pairs = [item.split("=", 1) for item in res.group(1).split(", ")] if res else []
        jobs.append((head.group(1), {k: int(v) if v.isdigit() else v for k, v in pairs}))
    return jobs


def sbatch_call(resources: dict) -> str:
    """The plugin's own sbatch command line for a job with these resources."""
    job = SimpleNamespace(resources=ResourceList(fromdict=resources), threads=1)
    params = {"run_uuid": "test", "slurm_logfile": "log", "comment_str": "rule", "workdir": str(REPO),
              "account": f"-A {resources['slurm_account']}", "partition": f"-p {resources['slurm_partition']}"}
    return get_submit_command(job, params) + set_gres_string(job)


@pytest.fixture(scope="module")
def slurm_dry_run() -> list[tuple[str, dict]]:
    return planned_jobs(snakemake("--profile", "profiles/slurm", "-n", "results/grid_metrics.csv"))


def test_slurm_profile_gives_training_a_gpu(slurm_dry_run):
    train = [res for rule, res in slurm_dry_run if rule == "train_generator"]
    assert len(train) == 7  # one per ablation variant of the shipped config
    res = train[0]
    assert res["gpu"] == 1 and res["slurm_partition"] == "gpu" and res["runtime"] == 2880
    call = sbatch_call(res)
    assert "--gpus=1" in call and "-p gpu" in call and "--mem 16000" in call and "-t 2880" in call


def test_slurm_profile_keeps_cpu_rules_off_the_gpus(slurm_dry_run):
    acquire = [res for rule, res in slurm_dry_run if rule == "acquire_grid_speaker"]
    assert len(acquire) == 33
    assert "gpu" not in acquire[0] and acquire[0]["slurm_partition"] == "cpu"
    call = sbatch_call(acquire[0])
    assert "--gpus" not in call and "--gres" not in call and "-p cpu" in call


def test_grid_dry_run_plans_the_chain_from_download_to_training():
    out = snakemake("-n", "--cores", "1", "results/grid_metrics.csv")
    rules = [rule for rule, _ in planned_jobs(out)]
    assert rules.count("acquire_grid_speaker") == 33
    for rule in ("build_manifest", "train_generator", "metric_tables"):
        assert rule in rules
    # aus.backend auto without OpenFace: the run says so when it is planned, once
    if shutil.which("FeatureExtraction") is None:
        assert out.count("WARNING: dataset grid: aus.backend auto found no OpenFace") == 1


def test_local_profile_parses():
    out = snakemake("--profile", "profiles/local", "-n", "results/grid_metrics.csv")
    assert "train_generator" in out


def test_lint_is_clean():
    out = snakemake("--lint")
    assert "Lints for" not in out and "good condition" in out


# Outputs of the stages upstream of everything that reads the speaker splits: a change of splits changes none of
# their settings. The demo corpus's synthesiser reads them (it refuses a split that puts one person on both sides).
SPLIT_FREE_OUTPUTS = {pattern.format(dataset="demo") for pattern in (paths.MANIFEST, paths.QC, paths.AU_LABELS)}


@pytest.mark.slow
def test_config_file_names_and_split_swaps_rerun_only_what_reads_them(tiny_workspace):
    targets = ["results/demo/au_classifier_metrics.csv", "results/demo/audio2au_metrics.csv"]
    tiny_workspace.build(*targets)
    root = tiny_workspace.root
    shutil.copy(root / "config.yaml", root / "same_settings.yaml")      # another file name, the same settings
    dry_run = ["--snakefile", str(REPO / "Snakefile"), "-n", "--cores", "1", *targets, "--configfile"]
    out = snakemake(*dry_run, "same_settings.yaml", cwd=root)
    assert planned_jobs(out) == [], out
    (root / "swapped.yaml").write_text(yaml.safe_dump({"datasets": {"demo": {"splits": {"val": ["d4"],
                                                                                         "test": ["d3"]}}}}))
    out = snakemake("--snakefile", str(REPO / "Snakefile"), *targets, "--summary",
                    "--configfile", "same_settings.yaml", "swapped.yaml", cwd=root)
    rows = [line.split("\t") for line in out.splitlines() if line.startswith(("resources/", "results/"))]
    header = next(line.split("\t") for line in out.splitlines() if line.startswith("output_file\t"))
    changed = {row[0] for row in rows if row[header.index("status")] == "params changed"}
    split_readers = {pattern.format(dataset="demo") for pattern in (paths.SYNTHESIZED, paths.AU_CLASSIFIER,
                                                                     paths.AUDIO2AU)}
    assert split_readers | set(targets) <= changed, out
    assert not changed & SPLIT_FREE_OUTPUTS, out


@pytest.mark.slow
def test_config_overrides_rerun_only_the_stages_that_read_them(tiny_workspace):
    targets = ["results/demo/au_classifier_metrics.csv", "results/demo/audio2au_metrics.csv"]
    tiny_workspace.build(*targets)
    dry_run = ["--snakefile", str(REPO / "Snakefile"), "-n", "--cores", "1", *targets, "--config"]
    out = snakemake(*dry_run, "datasets={demo: {au_classifier: {epochs: 13}}}", cwd=tiny_workspace.root)
    assert {rule for rule, _ in planned_jobs(out)} == {"pretrain_au_classifier"}, out
    out = snakemake(*dry_run, "datasets={demo: {model: {au_feature_dim: 16}}}", cwd=tiny_workspace.root)
    assert {rule for rule, _ in planned_jobs(out)} == {"pretrain_audio2au"}, out   # its features' width
    # an override that restates the config's own value changes no setting, so reruns nothing
    out = snakemake(*dry_run, "datasets={demo: {au_classifier: {epochs: 12}}}", cwd=tiny_workspace.root)
    assert planned_jobs(out) == [], out
