"""CLI subcommands, one module per workflow stage; rules call these."""

import argparse


def add_config_args(parser: argparse.ArgumentParser, dataset: bool = True) -> None:
    """The arguments every config-driven subcommand takes: config file(s) and the dataset name."""
    parser.add_argument("--config", nargs="+", default=["config.yaml"], metavar="YAML",
                        help="config file(s); later ones override earlier ones")
    if dataset:
        parser.add_argument("--dataset", required=True, help="dataset name from the config")


def dataset_config(args: argparse.Namespace):
    from autalk.config import load_config

    return load_config(*args.config).dataset(args.dataset)
