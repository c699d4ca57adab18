"""The report's front page: one HTML fragment per dataset with its metric table and one real | generated
sample video, embedded (a data URI) so they show as the report opens, without a click. The workflow's
``report:`` rst (workflow/report/workflow.rst) pulls the fragment in with a raw-HTML directive."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from autalk.errors import DataError
from autalk.evaluate.tables import au_column_titles, write_text

MAX_VIDEO_BYTES = 8 * 1024 * 1024       # a sample is seconds of a small crop; refuse to bloat the report


def sample_video(samples_dir: str | Path) -> Path:
    """The first real | generated sample video (by name) of a variant's samples folder."""
    videos = sorted(Path(samples_dir).glob("*.mp4"))
    if not videos:
        raise DataError(f"samples folder {samples_dir} holds no .mp4 sample video")
    return videos[0]


def overview_html(dataset: str, metrics: str | Path, samples_dir: str | Path, variant: str) -> str:
    table = pd.read_csv(metrics)
    if "au_judge" in table.columns:      # the AU columns say whose reading they score
        table = table.rename(columns=au_column_titles(table["au_judge"].iloc[0]))
    video = sample_video(samples_dir)
    data = video.read_bytes()
    if len(data) > MAX_VIDEO_BYTES:
        raise DataError(f"sample video {video} is {len(data) / 2**20:.1f} MiB, more than the report embeds")
    uri = "data:video/mp4;base64," + base64.b64encode(data).decode("ascii")
    body = table.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0, classes="autalk-metrics")
    name = html.escape(dataset)
    # The front page shares its width with the workflow graph: the wide table scrolls inside its own column.
    return (f'<section class="autalk-overview">\n<h3>{name}: metrics on the test clips</h3>\n'
            f'<div style="overflow-x: auto; max-width: 100%; font-size: smaller">\n{body}\n</div>\n'
            f"<h3>{name}: real | generated ({html.escape(variant)}, clip {html.escape(video.stem)})</h3>\n"
            '<video controls loop playsinline preload="auto" style="max-width: 100%" width="480" '
            f'src="{uri}"></video>\n'
            "</section>\n")


def write_overview(dataset: str, metrics: str | Path, samples_dir: str | Path, variant: str,
                   output: str | Path) -> None:
    write_text(overview_html(dataset, metrics, samples_dir, variant), output)
