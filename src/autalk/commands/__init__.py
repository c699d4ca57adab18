"""CLI subcommands, one module per workflow stage; rules call these."""

import argparse
from pathlib import Path


def add_settings_args(parser: argparse.ArgumentParser) -> None:
    """How a stage's command gets its settings: from its rule (``--settings``, what autalk/stages.py declares for
    the stage), or, run by hand, from config file(s) (``--config``, of which it takes the same sections)."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--settings", metavar="JSON",
                        help="the stage's config sections as its workflow rule passes them")
    source.add_argument("--config", nargs="+", default=["config.yaml"], metavar="YAML",
                        help="config file(s), later ones overriding earlier ones (default: config.yaml)")
    parser.add_argument("--dataset", required=True, help="dataset name from the config")


def add_clip_args(parser: argparse.ArgumentParser) -> None:
    """The kept clips a stage reads: the QC table that lists them (with their splits) and their files' folder."""
    parser.add_argument("--qc", required=True, type=Path, help="QC table (qc.parquet) listing the kept clips")
    parser.add_argument("--clips-root", required=True, type=Path,
                        help="directory of the clip files (clips/{speaker}/{utt_id}.npz)")


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda or cuda:N")


def stage_settings(args: argparse.Namespace, stage: str, system: str | None = None):
    """The settings ``stage`` may read (autalk/stages.py): the sections of the dataset its rule passed, or those
    of the config files with the variant ``system`` applied; reading any other section raises."""
    from autalk import stages

    text = args.settings
    if text is None:
        from autalk.config import load_config

        ds = load_config(*args.config).dataset(args.dataset)
        text = stages.settings_json(stage, ds if system is None else stages.for_system(ds, system))
    return stages.stage_config(stage, args.dataset, text)
