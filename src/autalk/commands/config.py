"""Config subcommands: print the generated schema, check a config file."""

import argparse
import sys
from pathlib import Path


def _schema(args: argparse.Namespace) -> None:
    from autalk.config import schema_yaml

    text = schema_yaml()
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)


def _check(args: argparse.Namespace) -> None:
    from autalk.config import load_config

    cfg = load_config(*args.config)
    for name, ds in cfg.datasets.items():
        print(f"{name}: {len(ds.speakers)} speakers "
              f"(train {len(ds.splits.train)}, val {len(ds.splits.val)}, test {len(ds.splits.test)}), "
              f"variants {sorted(ds.variants)}")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config-schema", help="print the JSON schema generated from the config dataclasses")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.set_defaults(func=_schema)
    p = sub.add_parser("check-config", help="validate config file(s) and summarise the datasets")
    p.add_argument("--config", nargs="+", default=["config.yaml"], metavar="YAML",
                   help="config file(s), later ones overriding earlier ones (default: config.yaml)")
    p.set_defaults(func=_check)
