"""The workflow under a real SLURM scheduler: the one-node cluster of profiles/slurm/local-cluster.sh runs the tiny
demo DAG through `--profile profiles/slurm` (with the profiles/slurm-local overlay), with the executor plugin the
project pins. What ran, and with what resources, is read from SLURM's own job records (`scontrol show job`), not
from Snakemake's log; the records of the demo run are kept in slurm_jobs.txt in the test's tmp dir and printed on
failure. Skipped only where slurm-wlm/munge cannot be installed (not root, no apt-get)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, SNAKEMAKE
from test_workflow import planned_jobs, sbatch_call

CANNOT_INSTALL = 3  # local-cluster.sh's exit status when the packages cannot be installed here
GPU_RULES = {"pretrain_au_classifier", "pretrain_audio2au", "train_sync_expert", "train_generator",
             "generate_test_clips"}
TARGET = "demo"
# The scheduler's path does not depend on how long the networks train: the SLURM run trains the AU classifier,
# the audio-to-AU networks and the sync expert for a pass or two (the same jobs and files as the local run; ~55 s
# less of the tiny demo's ~170 s).
SHORT_TRAINING = {"au_classifier": {"epochs": 2, "patience": 2}, "audio2au": {"epochs": 2, "patience": 2},
                  "sync_expert": {"epochs": 1}}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slurm_cluster(local_slurm):
    """The local cluster (conftest.py keeps it running to the end of the session); the CPUs a job may ask for."""
    proc = local_slurm.start()
    if proc.returncode == CANNOT_INSTALL:
        pytest.skip(f"no local SLURM cluster: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, f"local-cluster.sh start failed:\n{proc.stderr[-3000:]}"
    return job_cpus()


def job_cpus() -> int:
    """The CPUs a job may ask for: no more than the host has (`--max-threads`), though the node offers twice as
    many, so that two of the tiny demo's jobs (each mostly Python starting up) run at once."""
    return min(node_cpus(), os.cpu_count())


def node_cpus() -> int:
    out = subprocess.run(["scontrol", "show", "node", "-o"], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"CPUTot=(\d+)", out).group(1))


def snakemake_slurm(workdir: Path, *args: str, cpus: int) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of `snakemake --profile profiles/slurm` on a workspace."""
    env = {**os.environ, "PATH": f"{SNAKEMAKE.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return [str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
            "--profile", str(REPO / "profiles" / "slurm"), "--workflow-profile", str(REPO / "profiles" / "slurm-local"),
            "--max-threads", str(cpus), *args], env


def run_slurm(workdir: Path, *args: str, cpus: int) -> subprocess.CompletedProcess:
    cmd, env = snakemake_slurm(workdir, *args, cpus=cpus)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)


def slurm_jobs(workdir: Path) -> list[dict]:
    """SLURM's records of the jobs submitted from this working directory, oldest first, with their rule."""
    out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True, check=True).stdout
    jobs = []
    for line in out.splitlines():
        rec = dict(re.findall(r"(\S+?)=(\S*)", line))
        if rec.get("WorkDir") != str(workdir):
            continue
        rec["rule"] = re.match(r"rule_(\w+?)(?:_wildcards_.*)?$", rec["Comment"]).group(1)
        jobs.append(rec)
    return sorted(jobs, key=lambda r: int(r["JobId"]))


def declared_resources() -> dict[str, dict[str, int]]:
    """threads, mem_mb and runtime of every rule, as written in workflow/rules/*.smk."""
    rules = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=rule \w+:)", smk.read_text()):
            head = re.match(r"rule (\w+):", block)
            if head:
                rules[head.group(1)] = {key: int(re.search(rf"^\s+{key}[:=]\s*(\d+),?\s*$", block, re.M).group(1))
                                        for key in ("threads", "mem_mb", "runtime")}
    return rules


def megabytes(value: str) -> int:
    number, unit = re.fullmatch(r"([\d.]+)([MGT])", value).groups()
    return round(float(number) * {"M": 1, "G": 1024, "T": 1024**2}[unit])


def minutes(limit: str) -> int:
    days, _, hms = limit.rpartition("-")
    h, m, s = (int(x) for x in hms.split(":"))
    return int(days or 0) * 1440 + h * 60 + m + (s > 0)


def kept(root: Path) -> set[str]:
    """The files a run leaves under resources/ and results/ (Snakemake's own .snakemake/ excluded); TensorBoard
    names its event files by time, host and PID, so those names are compared without that suffix."""
    return {re.sub(r"(events\.out\.tfevents)\..*$", r"\1", str(p.relative_to(root)))
            for top in ("resources", "results") for p in (root / top).rglob("*") if p.is_file()}


def cancel_mid_run(workdir: Path, rule: str, timeout: float = 600) -> str:
    """Once one `rule` job has finished, scancel one that started after it, when it has run 2 s (two jobs may
    start together; only one that started later is surely mid-run); returns its SLURM job id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = [j for j in slurm_jobs(workdir) if j["rule"] == rule]
        first_end = min((j["EndTime"] for j in jobs if j["JobState"] == "COMPLETED"), default=None)
        running = [j for j in jobs if j["JobState"] == "RUNNING" and j["RunTime"] >= "00:00:02"
                   and first_end is not None and j["StartTime"] >= first_end]
        if running:
            subprocess.run(["scancel", running[0]["JobId"]], check=True)
            return running[0]["JobId"]
        time.sleep(0.5)
    pytest.fail(f"no second {rule} job ran within {timeout} s: "
                f"{[(j['rule'], j['JobState']) for j in slurm_jobs(workdir)]}")


def run_demo_under_slurm(workdir: Path, cpus: int) -> tuple:
    """The tiny demo DAG under SLURM in ``workdir``: a first run in which one preprocessing job is cancelled
    mid-run, then the same command again. Returns (workdir, first run, second run, cancelled job id, CPUs)."""
    config = yaml.safe_load((REPO / "tests" / "tiny_demo.yaml").read_text())
    for section, values in SHORT_TRAINING.items():
        config["datasets"]["demo"][section].update(values)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    cmd, env = snakemake_slurm(workdir, TARGET, cpus=cpus)
    log = workdir / "first_run.log"  # a file, not a pipe: nobody reads a pipe while the test polls SLURM
    with log.open("w") as out, subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env) as first:
        try:
            cancelled = cancel_mid_run(workdir, "preprocess_speaker")
        except BaseException:
            first.terminate()  # Snakemake cancels its SLURM jobs when terminated
            raise
        first.wait(timeout=3600)
    first_run = subprocess.CompletedProcess(cmd, first.returncode, log.read_text(), "")
    second_run = run_slurm(workdir, TARGET, cpus=cpus)
    records = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True).stdout
    (workdir / "slurm_jobs.txt").write_text("\n".join(line for line in records.splitlines()
                                                      if f"WorkDir={workdir} " in line))
    return workdir, first_run, second_run, cancelled, cpus


@pytest.fixture(scope="module")
def slurm_demo(slurm_cluster, slurm_demo_in_background, tmp_path_factory):
    """The run of ``run_demo_under_slurm``: the one conftest.py started with the session, or one started now."""
    if slurm_demo_in_background is not None:
        return slurm_demo_in_background.result()
    return run_demo_under_slurm(tmp_path_factory.mktemp("slurm_demo"), slurm_cluster)


@pytest.fixture
def show_records(slurm_demo):
    """Print SLURM's records of the demo run when a test fails (pytest shows captured output of failures)."""
    yield
    print(f"--- SLURM records ({slurm_demo[0] / 'slurm_jobs.txt'}):\n{(slurm_demo[0] / 'slurm_jobs.txt').read_text()}")


def test_cancelled_job_fails_the_run_and_rerun_finishes_the_rest(slurm_demo, show_records):
    workdir, first, second, cancelled, _ = slurm_demo
    assert first.returncode != 0
    assert re.search(r"Error in rule preprocess_speaker", first.stdout) and "CANCELLED" in first.stdout
    assert second.returncode == 0, second.stderr[-4000:]
    jobs = slurm_jobs(workdir)
    cancelled_job = next(j for j in jobs if j["JobId"] == cancelled)
    assert cancelled_job["JobState"] == "CANCELLED"
    first_name = cancelled_job["JobName"]  # the plugin names every job of one Snakemake run by the run's id
    done_first = {j["Comment"] for j in jobs if j["JobName"] == first_name and j["JobState"] == "COMPLETED"}
    second_jobs = [j for j in jobs if j["JobName"] != first_name]
    assert done_first and second_jobs
    assert not done_first & {j["Comment"] for j in second_jobs}, "the rerun redid jobs that had finished"
    assert cancelled_job["Comment"] in {j["Comment"] for j in second_jobs}, "the cancelled job's outputs were trusted"


def test_every_rule_ran_as_its_own_job_with_its_declared_resources(slurm_demo, show_records):
    workdir, _, second, _, cpus = slurm_demo
    assert second.returncode == 0, second.stderr[-4000:]
    completed = [j for j in slurm_jobs(workdir) if j["JobState"] == "COMPLETED"]
    # The DAG of a fresh workspace, from a dry-run: every job in it must have been one completed SLURM job.
    fresh = workdir.parent / "slurm_plan"
    fresh.mkdir(exist_ok=True)
    shutil.copy(workdir / "config.yaml", fresh / "config.yaml")
    plan = run_slurm(fresh, "-n", TARGET, cpus=cpus)
    planned = [rule for rule, _ in planned_jobs(plan.stdout + plan.stderr) if rule != TARGET]
    assert sorted(j["rule"] for j in completed) == sorted(planned)
    assert len({j["Comment"] for j in completed}) == len(completed)
    declared = declared_resources()
    for job in completed:
        want = declared[job["rule"]]
        assert int(job["CPUs/Task"]) == min(want["threads"], cpus), job["rule"]
        assert megabytes(job["MinMemoryNode"]) == want["mem_mb"], job["rule"]
        assert minutes(job["TimeLimit"]) == want["runtime"], job["rule"]
        on_gpu_partition = job["rule"] in GPU_RULES
        assert job["Partition"] == ("gpu" if on_gpu_partition else "cpu"), job["rule"]
        assert "gres/gpu" not in job["TRES"], job["rule"]


def test_gpu_rules_say_they_ran_on_the_cpu(slurm_demo):
    workdir = slurm_demo[0]
    for log in ("pretrain_au_classifier.log", "pretrain_audio2au.log", "train_generator/full.log"):
        assert "no CUDA device visible: running on the CPU" in (workdir / "results" / "demo" / "logs" / log).read_text()


def test_outputs_equal_a_local_run(slurm_demo, tiny_workspace):
    workdir = slurm_demo[0]
    tiny_workspace.build(TARGET)
    assert kept(workdir) == kept(tiny_workspace.root)
    qc_slurm = pd.read_parquet(workdir / "resources" / "demo" / "qc.parquet")
    qc_local = pd.read_parquet(tiny_workspace.path("resources/demo/qc.parquet"))
    pd.testing.assert_frame_equal(qc_slurm, qc_local)


def test_job_over_its_memory_is_reported_with_the_rule_name(slurm_cluster, tmp_path):
    shutil.copy(REPO / "tests" / "tiny_demo.yaml", tmp_path / "config.yaml")
    proc = run_slurm(tmp_path, "resources/demo/raw/synth.complete", "--set-resources", "synthesize_demo:mem_mb=100",
                     cpus=slurm_cluster)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Error in rule synthesize_demo" in out
    [job] = slurm_jobs(tmp_path)
    assert job["rule"] == "synthesize_demo" and job["JobState"] in {"FAILED", "OUT_OF_MEMORY"}
    assert job["StdOut"] in out  # Snakemake's report names SLURM's log of the job, which says why it was killed
    assert "exceeded memory limit" in Path(job["StdOut"]).read_text()


def test_job_given_n_gpus_launches_torchrun_with_n_processes(tmp_path):
    shutil.copy(REPO / "tests" / "tiny_demo.yaml", tmp_path / "config.yaml")
    proc = subprocess.run([str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
                           "--profile", str(REPO / "profiles" / "slurm"), "--set-resources", "train_generator:gpu=2",
                           "-n", "results/demo/training/full_curves.png"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    block = re.search(r"rule train_generator:\n.*?Shell command: ([^\n]*)", proc.stdout, re.S)
    assert block.group(1).startswith("torchrun --standalone --nproc-per-node 2 -m autalk.cli train ")
    [res] = [res for rule, res in planned_jobs(proc.stdout) if rule == "train_generator"]
    assert "--gpus=2" in sbatch_call(res)
