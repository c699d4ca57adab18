"""Subcommand ``app``: the local web page (Gradio, the optional ``autalk[app]`` extra) around ``generate``."""

import argparse
from pathlib import Path

from autalk.commands import add_device_arg
from autalk.devices import resolve_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("app", help="serve a local web page that animates an uploaded photo with a recording",
                       description="Start a web page on 127.0.0.1 (Gradio; pip install 'autalk[app]'): upload a "
                                   "face photo and a recording (or record one), set the AU exaggeration, watch "
                                   "the talking photo and the predicted AU curves. The checkpoint is a generator "
                                   "checkpoint, as for `autalk generate` (make demo leaves "
                                   "resources/demo/models/generator/full.pt).")
    p.add_argument("--checkpoint", required=True, type=Path, help="generator checkpoint (.pt)")
    p.add_argument("--port", type=int, default=7860, help="port on 127.0.0.1 (default 7860)")
    add_device_arg(p)
    p.set_defaults(func=_app)


def _app(args: argparse.Namespace) -> None:
    from autalk.app import serve

    serve(args.checkpoint, args.port, resolve_device(args.device))
