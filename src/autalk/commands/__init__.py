"""CLI subcommands, one module per workflow stage; rules call these."""

import argparse
from pathlib import Path


def add_config_args(parser: argparse.ArgumentParser, dataset: bool = True) -> None:
    """The arguments every config-driven subcommand takes: config file(s) and the dataset name."""
    parser.add_argument("--config", nargs="+", default=["config.yaml"], metavar="YAML",
                        help="config file(s); later ones override earlier ones")
    if dataset:
        parser.add_argument("--dataset", required=True, help="dataset name from the config")


def add_clip_args(parser: argparse.ArgumentParser) -> None:
    """The kept clips a stage reads: the QC table that lists them (with their splits) and their files' folder."""
    parser.add_argument("--qc", required=True, type=Path, help="QC table (qc.parquet) listing the kept clips")
    parser.add_argument("--clips-root", required=True, type=Path,
                        help="directory of the clip files (clips/{speaker}/{utt_id}.npz)")


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda or cuda:N")


def dataset_config(args: argparse.Namespace):
    from autalk.config import load_config

    return load_config(*args.config).dataset(args.dataset)
