"""The per-speaker preprocessing job: every manifest clip of one speaker, in parallel processes.

Outputs are all-or-nothing: clip files are written into a temporary folder that replaces the speaker's clip
folder only when every clip is done, and the QC table is written last, atomically. An interrupted job thus
leaves nothing a rerun (or Snakemake) could mistake for finished work.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import cv2
import pandas as pd
from tqdm import tqdm

from autalk.acquire.manifest import read_manifest
from autalk.atomic import atomic_dir, atomic_file
from autalk.config import PreprocessConfig
from autalk.errors import DataError
from autalk.preprocess.dlib_models import load_models
from autalk.preprocess.process import ClipJob, preprocess_clip
from autalk.preprocess.qc import qc_table
from autalk.workers import spawn_pool

log = logging.getLogger(__name__)

# A spawned worker pays ~2 s of imports; below this many clips each, extra processes cost more than they save.
CLIPS_PER_PROCESS = 8

_worker_cfg: PreprocessConfig | None = None


def _init_worker(cfg: PreprocessConfig) -> None:
    global _worker_cfg
    _worker_cfg = cfg
    cv2.setNumThreads(1)          # parallelism is across clips; OpenCV's own threads would oversubscribe
    load_models()


def _run(job: ClipJob) -> dict:
    return preprocess_clip(job, _worker_cfg, load_models())


def speaker_jobs(manifest_path: str | Path, speaker: str, out_dir: Path) -> list[ClipJob]:
    manifest = read_manifest(manifest_path)
    rows = manifest[manifest["speaker"] == speaker]
    if rows.empty:
        raise DataError(f"{manifest_path}: no clips of speaker {speaker!r}")
    return [ClipJob(utt_id=r.utt_id, speaker=r.speaker, video_path=r.video_path,
                    audio_path=r.audio_path if isinstance(r.audio_path, str) and r.audio_path else None,
                    fps=float(r.fps) if pd.notna(r.fps) else None, output=out_dir / f"{r.utt_id}.npz")
            for r in rows.itertuples()]


def preprocess_speaker(cfg: PreprocessConfig, manifest_path: str | Path, speaker: str, out_dir: str | Path,
                       qc_path: str | Path, threads: int = 1) -> pd.DataFrame:
    """Preprocess one speaker's clips; returns (and writes) its QC table, one row per manifest clip."""
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp_dir:
        jobs = speaker_jobs(manifest_path, speaker, tmp_dir)
        processes = max(1, min(threads, -(-len(jobs) // CLIPS_PER_PROCESS)))
        log.info("speaker %s: %d clips on %d process(es)", speaker, len(jobs), processes)
        progress = tqdm(total=len(jobs), desc=f"preprocess {speaker}", unit="clip")
        if processes == 1:
            _init_worker(cfg)
            rows = []
            for job in jobs:
                rows.append(_run(job))
                progress.update()
        else:
            with spawn_pool(processes, _init_worker, (cfg,)) as pool:
                rows = []
                for row in pool.imap_unordered(_run, jobs):
                    rows.append(row)
                    progress.update()
        progress.close()
    order = {job.utt_id: i for i, job in enumerate(jobs)}
    table = qc_table(sorted(rows, key=lambda r: order[r["utt_id"]]))
    if sorted(table["utt_id"]) != sorted(order):
        raise RuntimeError(f"speaker {speaker}: QC rows do not match the manifest's clips")
    with atomic_file(qc_path) as tmp:
        table.to_parquet(tmp, index=False)
    counts = Counter(table["reason"].replace("", "kept"))
    log.info("speaker %s: %s", speaker, ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return table
