"""Preprocessing subcommands: one speaker's clips (``preprocess``), the dataset tables (``qc-summary``)."""

import argparse

from autalk.commands import add_settings_args, stage_settings


def _preprocess(args: argparse.Namespace) -> None:
    from autalk.acquire.manifest import check_manifest_dataset
    from autalk.preprocess.speaker import preprocess_speaker

    ds = stage_settings(args, "preprocess_speaker")
    check_manifest_dataset(args.manifest, ds, args.speaker)
    preprocess_speaker(ds.preprocess, args.manifest, args.speaker, args.out_dir, args.qc, threads=args.threads)


def _qc_summary(args: argparse.Namespace) -> None:
    from autalk.preprocess.summary import summarize

    summary = summarize(args.qc_tables, args.clips_root, args.qc, args.landmarks, args.summary)
    print(summary.to_string(index=False))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preprocess", help="align faces, extract MFCC windows and QC one speaker's clips")
    add_settings_args(p)
    p.add_argument("--manifest", required=True, help="manifest.parquet of the dataset")
    p.add_argument("--speaker", required=True, help="speaker whose clips are processed")
    p.add_argument("--out-dir", required=True, help="folder of the speaker's clip files (replaced as a whole)")
    p.add_argument("--qc", required=True, help="QC table written for the speaker (parquet)")
    p.add_argument("--threads", type=int, default=1, help="parallel processes (one clip each)")
    p.set_defaults(func=_preprocess)

    p = sub.add_parser("qc-summary", help="merge per-speaker QC, build the landmarks table, print counts")
    p.add_argument("--qc-tables", nargs="+", required=True, help="per-speaker QC tables")
    p.add_argument("--clips-root", required=True, help="folder holding {speaker}/{utt_id}.npz")
    p.add_argument("--qc", required=True, help="merged QC table to write (parquet)")
    p.add_argument("--landmarks", required=True, help="landmarks table to write (parquet)")
    p.add_argument("--summary", required=True, help="counts per reason and speaker (CSV)")
    p.set_defaults(func=_qc_summary)
