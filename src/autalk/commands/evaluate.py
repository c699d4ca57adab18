"""Subcommands of the evaluate stage: the sync expert's training, per-clip metrics of one system, the metric /
ablation / paper tables, and the evaluation figures of the report."""

import argparse
from pathlib import Path

from autalk.commands import add_clip_args, add_device_arg, add_settings_args, stage_settings
from autalk.devices import resolve_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-sync-expert", help="train the audio-visual sync expert used as a metric")
    add_settings_args(p)
    add_clip_args(p)
    p.add_argument("--model", required=True, type=Path, help="sync expert checkpoint to write")
    p.add_argument("--metrics", required=True, type=Path, help="per-epoch training/validation metrics CSV")
    add_device_arg(p)
    p.set_defaults(func=_train_sync_expert)

    p = sub.add_parser("evaluate", help="per-clip metrics of one system's rendered test clips")
    add_settings_args(p)
    p.add_argument("--system", required=True, help="variant name, or static / real")
    p.add_argument("--generated", required=True, type=Path, help="directory of the system's rendered clips")
    p.add_argument("--labels", required=True, type=Path, help="AU label table")
    add_clip_args(p)
    p.add_argument("--au-classifier", required=True, type=Path, help="frozen AU classifier checkpoint")
    p.add_argument("--sync-expert", required=True, type=Path, help="sync expert checkpoint")
    p.add_argument("--output", required=True, type=Path, help="per-clip metrics CSV to write")
    p.add_argument("--traces", type=Path, help="per-clip AU intensities and sync curves (.npz) for the figures")
    add_device_arg(p)
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("metric-tables", help="metric, ablation and paper tables from per-clip metrics")
    add_settings_args(p)
    p.add_argument("--per-clip", required=True, nargs="+", type=Path,
                   help="per-clip CSVs, full model first, then the variants, static and real")
    p.add_argument("--labels", required=True, type=Path,
                   help="AU label table (its metadata names the backend and OpenFace's mode)")
    p.add_argument("--metrics", required=True, type=Path, help="metric table CSV to write (the scored window)")
    p.add_argument("--metrics-all-frames", required=True, type=Path, help="metric table CSV on all frames")
    p.add_argument("--ablation", required=True, type=Path, help="ablation (deltas vs full) CSV to write")
    p.add_argument("--paper-tables", type=Path, help="markdown beside the peers' published GRID figures")
    p.set_defaults(func=_metric_tables)

    p = sub.add_parser("evaluation-figures", help="AU trajectories and sync curves of each system on sample clips")
    add_settings_args(p)
    p.add_argument("--traces", required=True, nargs="+", type=Path, help="traces .npz of each system")
    p.add_argument("--labels", required=True, type=Path, help="AU label table")
    p.add_argument("--au-plot", required=True, type=Path, help="PNG of AU trajectories to write")
    p.add_argument("--sync-plot", required=True, type=Path, help="PNG of sync distance curves to write")
    p.set_defaults(func=_figures)

    p = sub.add_parser("report-overview", help="the report's front page: metric table and a sample video",
                       description="Write an HTML fragment with the dataset's metric table and its first real | "
                                   "generated sample video embedded, which the report's front page shows.")
    p.add_argument("--dataset", required=True, help="dataset name shown on the page")
    p.add_argument("--metrics", required=True, type=Path, help="metric table CSV")
    p.add_argument("--samples", required=True, type=Path, help="folder of real | generated sample videos")
    p.add_argument("--variant", required=True, help="variant whose samples these are")
    p.add_argument("--output", required=True, type=Path, help="HTML fragment to write")
    p.set_defaults(func=_overview)


def _train_sync_expert(args: argparse.Namespace) -> None:
    from autalk.train.sync_expert import train_sync_expert

    ds = stage_settings(args, "train_sync_expert")
    train_sync_expert(ds, args.qc, args.clips_root, args.model, args.metrics, resolve_device(args.device))


def _evaluate(args: argparse.Namespace) -> None:
    from autalk.evaluate.systems import evaluate_system

    ds = stage_settings(args, "evaluate_variant", args.system)
    evaluate_system(args.system, ds, args.generated, args.labels, args.qc, args.clips_root,
                    args.au_classifier, args.sync_expert, args.output, args.traces, resolve_device(args.device))


def _metric_tables(args: argparse.Namespace) -> None:
    from autalk.aus.labels import label_backend, label_openface_mode
    from autalk.evaluate.tables import ablation_table, metric_table, paper_tables, protocol, write_text

    backend = label_backend(args.labels)
    metrics = metric_table(args.per_clip).assign(au_backend=backend)
    all_frames = metric_table(args.per_clip, frames="all").assign(au_backend=backend)
    write_text(metrics.to_csv(index=False), args.metrics)
    write_text(all_frames.to_csv(index=False), args.metrics_all_frames)
    write_text(ablation_table(metrics).to_csv(index=False), args.ablation)
    if args.paper_tables is not None:
        lines = protocol(stage_settings(args, "metric_tables"), backend, metrics["au_judge"].iloc[0],
                         label_openface_mode(args.labels))
        write_text(paper_tables(args.dataset, metrics, lines, all_frames), args.paper_tables)
    print(metrics.to_string(index=False))


def _figures(args: argparse.Namespace) -> None:
    from autalk.evaluate.figures import evaluation_figures

    ds = stage_settings(args, "evaluation_figures")
    evaluation_figures(ds, args.traces, args.labels, args.au_plot, args.sync_plot)


def _overview(args: argparse.Namespace) -> None:
    from autalk.evaluate.overview import write_overview

    write_overview(args.dataset, args.metrics, args.samples, args.variant, args.output)
