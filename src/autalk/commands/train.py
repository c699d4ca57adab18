"""Subcommands of the train stage: ``autalk train`` trains one generator variant (resuming its run directory)."""

import argparse
from pathlib import Path

from autalk.commands import add_clip_args, add_settings_args, stage_settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train (or resume) one generator variant",
                       description="Train one ablation variant of the generator. Rerunning with the same settings "
                                   "resumes from RUN_DIR/checkpoint.pt. Under torchrun, trains data-parallel.")
    add_settings_args(p)
    p.add_argument("--variant", default="full", help="ablation variant from the dataset's `variants` "
                   "(with --settings, whose sections already carry its overrides)")
    p.add_argument("--labels", required=True, type=Path, help="AU label table (au_labels.parquet)")
    add_clip_args(p)
    p.add_argument("--au-classifier", required=True, type=Path, help="frozen AU classifier checkpoint (AU loss)")
    p.add_argument("--audio2au", required=True, type=Path, help="pre-trained audio-to-AU checkpoint (AU features)")
    p.add_argument("--run-dir", required=True, type=Path, help="checkpoints, logs and figures of this run")
    p.add_argument("--model", required=True, type=Path, help="final generator checkpoint to write")
    p.add_argument("--curves", required=True, type=Path, help="PNG of the training curves to write")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> None:
    from autalk.train.generator import TrainPaths, train

    ds = stage_settings(args, "train_generator", args.variant)
    train(ds, TrainPaths(labels=args.labels, qc=args.qc, clips_root=args.clips_root,
                          au_classifier=args.au_classifier, audio2au=args.audio2au, run_dir=args.run_dir,
                          model=args.model, curves=args.curves))
