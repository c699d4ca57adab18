"""The tables a paper prints, from the per-clip metric files of every system on the same test clips.

``{dataset}_metrics.csv``: one row per system (the full model, each ablation variant, then the references
``static`` and ``real``). PSNR is the mean over clips of each clip's PSNR over its non-identical frames; a system
whose every frame equals the real one (``real``) gets inf, and ``psnr_identical_frames`` counts the frames left
out. AU F1 (macro over the AUs that occur in the labels: F1 is undefined for the others) and accuracy pool
every frame's decision, by the AU classifier (``au_f1``) and by the independent judge (``au_f1_judge``) named in
``au_judge``, whose title (``autalk.metrics.au.JUDGES``) heads its columns wherever a table is shown to a reader.
``sync_abs_offset`` is the mean absolute offset (frames) found by the sync expert,
``sync_confidence`` its mean confidence, ``sync_distance`` the mean minimum distance; LSE-D/LSE-C appear only
when the official SyncNet was used.

The per-clip files hold two rows per clip (``frames``): ``window``, the clip window every variant is trained on
(the paper's protocol, frames [clip_start, clip_start + clip_length)), and ``all``, every frame. The metric and
ablation tables are on the window; ``{dataset}_metrics_all_frames.csv`` is the secondary table on all frames.

``{dataset}_ablation.csv``: every other system's difference from the full model, per metric.
``{dataset}_paper_tables.md``: our rows in the published GRID table's columns beside the peers' figures, which
are copied from their papers (via a 2021 survey) and labelled so: they were computed on their own splits and
protocols, so the comparison is indicative only.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from autalk.atomic import atomic_file
from autalk.aus.openface import MODES
from autalk.config import DatasetConfig
from autalk.errors import DataError
from autalk.metrics.au import COUNTS, JUDGES, pooled_scores

METRICS = ["psnr", "psnr_identical_frames", "ssim", "cpbd", "lmd_mouth", "lmd_all", "au_f1", "au_accuracy",
           "au_f1_judge", "au_accuracy_judge", "sync_abs_offset", "sync_confidence", "sync_distance"]
OPTIONAL = ["lse_d", "lse_c"]
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "cpbd": True, "lmd_mouth": False, "lmd_all": False, "au_f1": True,
                    "au_accuracy": True, "au_f1_judge": True, "au_accuracy_judge": True, "sync_abs_offset": False,
                    "sync_confidence": True, "sync_distance": False, "lse_d": False, "lse_c": True}
REQUIRED = ["utt_id", "system", "frames", "psnr", "psnr_identical_frames", "ssim", "cpbd", "lmd_mouth", "lmd_all",
            "au_judge", "sync_offset", "sync_confidence", "sync_distance"]


def read_per_clip(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"per-clip metrics {path} do not exist")
    try:
        table = pd.read_csv(path)
    except Exception as err:  # pandas raises several types for a broken CSV
        raise DataError(f"per-clip metrics {path} are unreadable: {err}") from None
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing or table.empty:
        raise DataError(f"per-clip metrics {path} lack columns {missing}" if missing else f"{path} has no clips")
    if table["system"].nunique() != 1:
        raise DataError(f"per-clip metrics {path} mix systems {sorted(table['system'].unique())}")
    judges = sorted(table["au_judge"].astype(str).unique())
    if len(judges) != 1 or judges[0] not in JUDGES:
        raise DataError(f"per-clip metrics {path} have au_judge {judges}; expected one of {sorted(JUDGES)}")
    return table


def summarise(table: pd.DataFrame) -> dict:
    """One system's row of the metric table."""
    psnr = table["psnr"].to_numpy(float)
    finite = psnr[np.isfinite(psnr)]
    row = {"system": str(table["system"].iloc[0]), "n_clips": len(table), "au_judge": str(table["au_judge"].iloc[0]),
           "psnr": float(finite.mean()) if finite.size else math.inf,
           "psnr_identical_frames": int(table["psnr_identical_frames"].sum())}
    for col in ("ssim", "cpbd", "lmd_mouth", "lmd_all", "sync_confidence", "sync_distance"):
        row[col] = float(table[col].mean())
    for prefix, suffix in (("", ""), ("judge_", "_judge")):
        count_cols = [c for c in table.columns if c.rsplit("_", 1)[-1] in COUNTS and c.startswith(prefix + "AU")]
        units = list(dict.fromkeys(c.rsplit("_", 1)[0] for c in count_cols))
        if units:
            counts = np.array([[table[f"{u}_{n}"].sum() for n in COUNTS] for u in units])
            row["au_f1" + suffix], row["au_accuracy" + suffix] = pooled_scores(counts)
        else:
            row["au_f1" + suffix] = row["au_accuracy" + suffix] = math.nan
    row["sync_abs_offset"] = float(table["sync_offset"].abs().mean())
    for col in OPTIONAL:
        if col in table.columns:
            row[col] = float(table[col].mean())
    return row


def metric_table(per_clip: list[str | Path], frames: str = "window") -> pd.DataFrame:
    """Rows in the order given (the rule passes the full model, the variants, then static and real), on the
    per-clip rows of scope ``frames`` (``window`` or ``all``)."""
    tables = []
    for path in per_clip:
        table = read_per_clip(path)
        table = table[table["frames"] == frames]
        if table.empty:
            raise DataError(f"per-clip metrics {path} have no rows scored on frames {frames!r}")
        tables.append(table)
    ref, judge = set(tables[0]["utt_id"]), tables[0]["au_judge"].iloc[0]
    for path, table in zip(per_clip, tables):
        if set(table["utt_id"]) != ref:
            raise DataError(f"per-clip metrics {path} cover different clips than {per_clip[0]}: "
                            "every system must be scored on the same test clips")
        if table["au_judge"].iloc[0] != judge:
            raise DataError(f"per-clip metrics {path} are scored by the {JUDGES[table['au_judge'].iloc[0]].title}, "
                            f"{per_clip[0]} by the {JUDGES[judge].title}: every system must have the same AU judge")
    rows = [summarise(t) for t in tables]
    columns = ["system"] + METRICS + [c for c in OPTIONAL if any(c in r for r in rows)] + ["n_clips", "au_judge"]
    return pd.DataFrame(rows)[columns]


def ablation_table(metrics: pd.DataFrame, reference: str = "full") -> pd.DataFrame:
    """Each other system minus the reference system (``full``, else the first row), per metric, with whether the
    change is an improvement."""
    if reference not in set(metrics["system"]):
        reference = str(metrics["system"].iloc[0])
    base = metrics.set_index("system").loc[reference]
    rows = []
    for _, row in metrics.iterrows():
        if row["system"] == reference:
            continue
        for metric, higher in HIGHER_IS_BETTER.items():
            if metric not in metrics.columns:
                continue
            delta = row[metric] - base[metric]
            better = None if not np.isfinite(delta) or delta == 0 else bool((delta > 0) == higher)
            rows.append({"system": row["system"], "metric": metric, "reference": reference,
                         "reference_value": base[metric], "value": row[metric], "delta": delta,
                         "better": better})
    return pd.DataFrame(rows)


def published_figures() -> pd.DataFrame:
    with resources.files("autalk").joinpath("assets/published_grid_metrics.csv").open() as fh:
        return pd.read_csv(fh)


def _fmt(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return f"{value:.{digits}f}"


def au_column_titles(judge: str) -> dict[str, str]:
    """Reader-facing titles of the AU columns of a metric table scored by ``judge``: each names who judged."""
    title = JUDGES[judge].title
    return {"au_f1": "AU F1 (AU classifier)", "au_accuracy": "AU acc. (AU classifier)",
            "au_f1_judge": f"AU F1 ({title})", "au_accuracy_judge": f"AU acc. ({title})"}


def protocol(cfg: DatasetConfig, au_backend: str, au_judge: str, openface_mode: str | None = None) -> list[str]:
    """The evaluation protocol of a dataset's tables, one line each: what a reader needs to compare numbers.
    ``openface_mode``: how OpenFace read the frames, for labels made by OpenFace (the label file's metadata)."""
    tc, faces = cfg.training, cfg.preprocess.faces
    identity = tc.clip_start if tc.identity_frame is None else tc.identity_frame
    return [f"split: speakers train {', '.join(cfg.splits.train)}; val {', '.join(cfg.splits.val) or '-'}; "
            f"test (unseen, scored) {', '.join(cfg.splits.test)}",
            f"frames scored: video frames {tc.clip_start}..{tc.clip_start + tc.clip_length - 1} of each test clip "
            f"({tc.clip_length} frames, the window every variant trains on; training windows: {tc.windows}); "
            "all frames in the secondary table",
            f"identity image: video frame {identity} of the clip, aligned",
            f"AU labels: backend `{au_backend}`"
            + (" (a landmark-geometry approximation, not OpenFace)" if au_backend == "landmarks" else "")
            + (f", {MODES[openface_mode]}" if openface_mode else ""),
            f"AU F1 judges: the frozen AU classifier and the {JUDGES[au_judge].title}",
            f"crop: template `{faces.template}` ({'the paper authors' if faces.template == 'authors' else 'ours'}), "
            f"{faces.crop_size} px, alignment points {faces.align_points[0]}..{faces.align_points[-1]}, "
            f"faces mode `{faces.mode}`"]


def _system_rows(metrics: pd.DataFrame) -> list[str]:
    titles = au_column_titles(metrics["au_judge"].iloc[0])
    lines = ["| system | SSIM | PSNR (dB) | CPBD | LMD mouth (px) | LMD all (px) | "
             f"{titles['au_f1']} | {titles['au_accuracy']} | {titles['au_f1_judge']} | "
             "sync expert abs. offset (frames) | sync expert confidence | clips |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in metrics.iterrows():
        lines.append(f"| {r['system']} | {_fmt(r['ssim'], 3)} | {_fmt(r['psnr'], 2)} | {_fmt(r['cpbd'], 3)} | "
                     f"{_fmt(r['lmd_mouth'], 2)} | {_fmt(r['lmd_all'], 2)} | {_fmt(r['au_f1'], 3)} | "
                     f"{_fmt(r['au_accuracy'], 3)} | {_fmt(r.get('au_f1_judge'), 3)} | "
                     f"{_fmt(r['sync_abs_offset'], 2)} | "
                     f"{_fmt(r['sync_confidence'], 3)} | {int(r['n_clips'])} |")
    return lines


def paper_tables(dataset: str, metrics: pd.DataFrame, protocol_lines: list[str] | None = None,
                 all_frames: pd.DataFrame | None = None) -> str:
    """Markdown: the protocol, our systems in the columns of the published GRID table (on the scored window,
    then on all frames), then the peers' published rows."""
    lines = [f"# Results on `{dataset}`", ""]
    if protocol_lines:
        lines += ["Protocol:", "", *[f"- {line}" for line in protocol_lines], ""]
    lines += ["## This pipeline (computed by the workflow on the same test clips, scored window)", "",
              *_system_rows(metrics)]
    if all_frames is not None:
        lines += ["", "### The same systems on all frames of each test clip (secondary)", "",
                  *_system_rows(all_frames)]
    if "lse_d" in metrics.columns:
        lines += ["", "LSE-D / LSE-C (official SyncNet weights): " + "; ".join(
            f"{r['system']} {_fmt(r['lse_d'], 3)} / {_fmt(r['lse_c'], 3)}" for _, r in metrics.iterrows())]
    judge = JUDGES[metrics["au_judge"].iloc[0]]
    lines += ["", "`static`: the identity frame held still; `real`: the real video (upper bound for sync and AUs; "
              "PSNR ∞). AU F1 is scored by two judges against the AU labels: the frozen AU classifier (which the AU "
              f"loss optimises, so it favours variants trained with that loss) and the {judge.title} "
              f"({judge.method}), which nothing is trained against. Sync is measured "
              "with the workflow's own SyncNet-style expert trained on the training "
              "speakers, not with the official SyncNet, so its numbers are not LSE-C/LSE-D. LMD is in aligned-crop "
              "pixels of this dataset's crop size.", "",
              "## Published GRID figures of other methods (from their papers, as reprinted in a 2021 survey)", "",
              "Copied, not computed here: their splits, crop sizes and metric implementations differ from ours, so "
              "these rows are context, not a like-for-like comparison"
              + ("." if dataset.lower().startswith("grid")
                 else f"; and they are on GRID, while the rows above are on `{dataset}`."),
              "", "| method | reference | SSIM | PSNR (dB) | CPBD | LMD |", "|---|---|---|---|---|---|"]
    for _, r in published_figures().iterrows():
        lines.append(f"| {r['method']} | {r['reference']} | {_fmt(r['ssim'], 3)} | {_fmt(r['psnr'], 2)} | "
                     f"{_fmt(r['cpbd'], 3)} | {_fmt(r['lmd'], 2)} |")
    return "\n".join(lines) + "\n"


def write_text(text: str, path: str | Path) -> None:
    """Write atomically: a table that exists is a complete table."""
    with atomic_file(path) as tmp:
        tmp.write_text(text)
