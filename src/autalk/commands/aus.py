"""Subcommands of the aus stage: AU labels, their agreement with the demo ground truth, and the pretraining of
the AU classifier and the audio-to-AU networks."""

import argparse

from autalk.commands import add_clip_args, add_device_arg, add_settings_args, stage_settings


def _label(args: argparse.Namespace) -> None:
    from autalk.aus.labelling import label_dataset
    from autalk.aus.labels import write_au_labels

    ds = stage_settings(args, "label_aus")
    table, backend = label_dataset(ds, args.qc, args.landmarks, args.clips_root, args.pyfeat_raw)
    write_au_labels(table, args.output, backend, ds.aus.openface_mode if backend == "openface" else None)


def _agreement(args: argparse.Namespace) -> None:
    from autalk.aus.agreement import agreement_table
    from autalk.train.scaffold import write_csv

    ds = stage_settings(args, "au_label_agreement")
    table = agreement_table(args.labels, args.truth, ds.aus.units, ds.aus.presence_threshold)
    write_csv(table, args.output)
    print(table[["backend", "au", "pearson_r", "f1", "best_scale", "target_r", "meets_target"]]
          .to_string(index=False, float_format="%.3f"))


def _classifier(args: argparse.Namespace) -> None:
    from autalk.train.au_classifier import train_au_classifier

    ds = stage_settings(args, "pretrain_au_classifier")
    metrics = train_au_classifier(ds, args.labels, args.qc, args.clips_root, args.model, args.metrics, args.device)
    print(metrics.to_string(index=False, float_format="%.3f"))


def _audio2au(args: argparse.Namespace) -> None:
    from autalk.train.audio2au import train_audio2au

    ds = stage_settings(args, "pretrain_audio2au")
    metrics = train_audio2au(ds, args.labels, args.qc, args.clips_root, args.model, args.metrics, args.plot,
                             args.device)
    print(metrics.to_string(index=False, float_format="%.3f"))


def _training_args(p: argparse.ArgumentParser) -> None:
    add_settings_args(p)
    p.add_argument("--labels", required=True, help="AU label table (au_labels.parquet)")
    add_clip_args(p)
    p.add_argument("--model", required=True, help="checkpoint to write (.pt)")
    p.add_argument("--metrics", required=True, help="test-speaker metrics to write (.csv)")
    add_device_arg(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("label-aus", help="AU intensity/presence per frame of every kept clip (aus.backend)")
    add_settings_args(p)
    add_clip_args(p)
    p.add_argument("--landmarks", required=True, help="landmarks table (landmarks.parquet; backend landmarks)")
    p.add_argument("--pyfeat-raw", help="py-feat's raw output from the detect_aus_pyfeat rule (backend pyfeat)")
    p.add_argument("--output", required=True, help="AU label table to write (.parquet)")
    p.set_defaults(func=_label)

    p = sub.add_parser("au-agreement", help="agreement of AU label tables with ground-truth AUs (demo)")
    add_settings_args(p)
    p.add_argument("--labels", nargs="+", required=True, help="AU label table(s), one per backend that ran")
    p.add_argument("--truth", required=True, help="ground-truth AU table (raw/ground_truth/aus.parquet)")
    p.add_argument("--output", required=True, help="agreement table to write (.csv)")
    p.set_defaults(func=_agreement)

    p = sub.add_parser("pretrain-au-classifier", help="train the frozen AU classifier; test-speaker metrics")
    _training_args(p)
    p.set_defaults(func=_classifier)

    p = sub.add_parser("pretrain-audio2au", help="train the audio-to-AU networks; test-speaker metrics and plot")
    _training_args(p)
    p.add_argument("--plot", help="PNG of predicted vs label AU trajectories for a few test clips")
    p.set_defaults(func=_audio2au)
