"""Shared fixtures. ``tiny_workspace`` runs the real Snakemake workflow on a tiny synthetic demo corpus in a
temporary directory, once per test session; a test asks it for the target it needs and reads real files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")

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


@pytest.fixture(scope="session")
def tiny_workspace(tmp_path_factory) -> Workspace:
    root = tmp_path_factory.mktemp("tiny_demo")
    shutil.copy(REPO / "tests" / "tiny_demo.yaml", root / "config.yaml")
    return Workspace(root)
