"""Shared fixtures. ``tiny_workspace`` runs the real Snakemake workflow on a tiny synthetic demo corpus in a
temporary directory, once per test session; a test asks it for the target it needs and reads real files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")

CLUSTER = REPO / "profiles" / "slurm" / "local-cluster.sh"

# OpenMP threads that spin while they wait for each other crawl when other processes hold the cores (measured:
# 20x slower training steps on a loaded 2-core machine). Sleeping instead changes no result, only the speed;
# set before torch loads here and inherited by the workflow's jobs.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class Workspace:
    """A working directory with its own config.yaml in which workflow targets are built on demand."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, relative: str) -> Path:
        return self.root / relative

    def build(self, *targets: str) -> None:
        cmd = [str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory", str(self.root),
               *targets, "--cores", "2", "--quiet", "rules"]
        # Rules call the `autalk` CLI: put this interpreter's scripts first on PATH, also when the venv is not active.
        env = {**os.environ, "PATH": f"{SNAKEMAKE.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            logs = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}"
                             for p in sorted(self.root.glob("results/*/logs/**/*.log")))
            pytest.fail(f"snakemake {' '.join(targets)} failed:\n{proc.stderr[-4000:]}\n{logs}")


class LocalCluster:
    """The one-node SLURM cluster of profiles/slurm/local-cluster.sh, stopped at the end of the session when the
    session started it. Its node offers twice the host's CPUs, so that two of the tiny demo's jobs (each mostly
    Python starting up) run at once under test_slurm.py."""

    def __init__(self) -> None:
        self.started = False

    def start(self) -> subprocess.CompletedProcess:
        """Start it (local-cluster.sh installs SLURM first where it is missing); its exit status 3 says that it
        cannot be installed here."""
        if subprocess.run([str(CLUSTER), "status"], capture_output=True).returncode == 0:
            return subprocess.CompletedProcess([str(CLUSTER), "status"], 0, "", "")
        env = {**os.environ, "AUTALK_SLURM_CPUS": str(2 * os.cpu_count())}
        proc = subprocess.run([str(CLUSTER), "start"], capture_output=True, text=True, timeout=900, env=env)
        self.started |= proc.returncode == 0
        return proc

    def stop(self) -> None:
        if self.started:
            subprocess.run([str(CLUSTER), "stop"], check=True, capture_output=True)


@pytest.fixture(scope="session", autouse=True)
def local_slurm() -> Iterator[LocalCluster]:
    """Where SLURM's commands are installed, every start of Snakemake asks the SLURM controller for its settings
    (the executor plugin runs `scontrol show config` while it builds its help text) and waits ~10 s when no
    controller answers: measured 10.3 s for `snakemake --version` against 1.4 s with the cluster up. So where
    SLURM is installed the session keeps the local cluster running from its first test to its last; where it is
    not, test_slurm.py installs and starts it, and it runs until the end of the session too."""
    cluster = LocalCluster()
    if shutil.which("sinfo") and os.geteuid() == 0:
        cluster.start()    # a failure here is test_slurm.py's to report
    yield cluster
    cluster.stop()


class InBackground(threading.Thread):
    """Work started now and collected later by the tests that need it; what it raised is raised again there."""

    def __init__(self, work: Callable[[], object]):
        super().__init__(daemon=True)
        self.work, self.value, self.error = work, None, None
        self.start()

    def run(self) -> None:
        try:
            self.value = self.work()
        except BaseException as err:   # pytest.fail's exception too: it is the test's to report
            self.error = err

    def result(self) -> object:
        self.join()
        if self.error is not None:
            raise self.error
        return self.value


@pytest.fixture(scope="session", autouse=True)
def slurm_demo_in_background(request, local_slurm, tmp_path_factory) -> Iterator[InBackground | None]:
    """test_slurm.py's run of the tiny demo DAG under SLURM, started with the session when those tests are
    selected. Most of its ~5 minutes is waiting: for each job to start, and for the executor plugin's status
    checks, which back off by 10 s after every check in which no job finished (no setting changes that). The
    other tests run meanwhile; the SLURM tests collect the result."""
    if not any("slurm_demo" in item.fixturenames for item in request.session.items):
        yield None
        return
    if local_slurm.start().returncode != 0:
        yield None       # test_slurm.py says why
        return
    from test_slurm import job_cpus, run_demo_under_slurm

    workdir, cpus = tmp_path_factory.mktemp("slurm_demo"), job_cpus()
    background = InBackground(lambda: run_demo_under_slurm(workdir, cpus))
    yield background
    background.join()    # its Snakemake runs end before the cluster stops


@pytest.fixture(scope="session")
def tiny_workspace(tmp_path_factory) -> Workspace:
    root = tmp_path_factory.mktemp("tiny_demo")
    shutil.copy(REPO / "tests" / "tiny_demo.yaml", root / "config.yaml")
    return Workspace(root)
