"""The report's front page: the metric table and one real | generated sample video show without a click (the
workflow's ``report:`` rst embeds the overview fragment), built by the real workflow on the tiny demo corpus."""

from __future__ import annotations

import base64
import os
import subprocess

import numpy as np
import pandas as pd
import pytest

from autalk.cli import main
from autalk.generate.video import write_mp4
from conftest import REPO, SNAKEMAKE
from photo_fixtures import SR, tone


def test_overview_embeds_the_table_and_the_first_sample(tmp_path, capsys):
    metrics = tmp_path / "demo_metrics.csv"
    pd.DataFrame({"system": ["full", "static"], "psnr": [21.594, 27.7], "au_f1": [0.7, 0.0], "au_f1_judge": [0.6, 0.0],
                  "n_clips": [4, 4], "au_judge": "openface"}).to_csv(metrics, index=False)
    samples = tmp_path / "samples"
    frames = np.random.default_rng(0).integers(0, 255, (10, 32, 66, 3), dtype=np.uint8)
    write_mp4(frames, tone(0.4), SR, 25, samples / "t_b.mp4")
    write_mp4(frames, tone(0.4), SR, 25, samples / "t_a.mp4")
    out = tmp_path / "overview.html"
    args = ["report-overview", "--dataset", "demo", "--metrics", metrics, "--samples", samples, "--variant", "full",
            "--output", out]
    assert main([*map(str, args)]) == 0
    page = out.read_text()
    assert "<td>full</td>" in page and "21.594" in page and "27.700" in page
    assert "<th>AU F1 (AU classifier)</th>" in page and "<th>AU F1 (OpenFace judge)</th>" in page
    assert "clip t_a" in page
    assert base64.b64encode((samples / "t_a.mp4").read_bytes()).decode() in page
    for video in samples.glob("*.mp4"):
        video.unlink()
    out.unlink()
    assert main([*map(str, args)]) == 2
    assert "holds no .mp4 sample video" in capsys.readouterr().err and not out.exists()


@pytest.mark.slow
def test_report_front_page_shows_metrics_and_a_sample_video(tiny_workspace):
    tiny_workspace.build("results/demo/overview.html")
    report = tiny_workspace.path("report.html")
    env = {**os.environ, "PATH": f"{SNAKEMAKE.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(tiny_workspace.root), "--report", str(report), "results/demo/overview.html"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = report.read_text()
    overview = tiny_workspace.path("results/demo/overview.html").read_text()
    sample = base64.b64encode(next(tiny_workspace.path("results/demo/samples/full").glob("*.mp4")).read_bytes())
    assert sample.decode()[:2000] in page                 # the sample video itself, in the front page
    assert "What each section holds" in page and "metrics on the test clips" in page
    assert "<td>static</td>" in overview and "<td>real</td>" in overview
    assert "<th>AU F1 (landmark judge)</th>" in overview
