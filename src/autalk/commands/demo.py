"""Subcommands of the demo stage: synthesise the offline corpus, its previews for a person to look at, and
the packaged GRID faces it is made from."""

from __future__ import annotations

import argparse
from pathlib import Path

from autalk.commands import add_settings_args, stage_settings
from autalk.errors import ConfigError


def _synth(args: argparse.Namespace) -> None:
    from autalk.demo.synthesize import synthesize_corpus

    ds = stage_settings(args, "synthesize_demo")
    if ds.source.kind != "synthetic":
        raise ConfigError(f"dataset {ds.name!r} has source.kind {ds.source.kind!r}; autalk synth needs 'synthetic'")
    synthesize_corpus(ds.source.synth, ds.speakers, Path(args.out), threads=args.threads, splits=ds.splits)


def _previews(args: argparse.Namespace) -> None:
    from autalk.demo.previews import write_previews

    ds = stage_settings(args, "demo_previews")
    write_previews(Path(args.manifest), Path(args.sheet), Path(args.videos), ds.splits.split_of(),
                   per_speaker=args.per_speaker)


def _grid_faces(args: argparse.Namespace) -> None:
    from autalk.demo.grid_faces import extract_grid_faces

    extract_grid_faces([Path(c) for c in args.clips], Path(args.out))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="synthesise the offline demo corpus (GRID layout + ground truth)")
    add_settings_args(p)
    p.add_argument("--out", required=True, help="raw corpus folder, e.g. resources/demo/raw")
    p.add_argument("--threads", type=int, default=1, help="processes synthesising utterances in parallel")
    p.set_defaults(func=_synth)

    p = sub.add_parser("demo-previews", help="a contact sheet and one muxed mp4 per speaker of a demo corpus")
    add_settings_args(p)
    p.add_argument("--manifest", required=True, help="the corpus manifest (manifest.parquet)")
    p.add_argument("--sheet", required=True, help="contact sheet PNG to write")
    p.add_argument("--videos", required=True, help="folder of per-speaker preview mp4s to write")
    p.add_argument("--per-speaker", type=int, default=3, help="utterances per speaker in its preview video")
    p.set_defaults(func=_previews)

    p = sub.add_parser("demo-grid-faces", help="re-extract the packaged GRID faces: each clip's closed-mouth frame")
    p.add_argument("clips", nargs="+", help="GRID clips, e.g. tests/data/grid/*.mpg")
    p.add_argument("--out", default="src/autalk/assets", help="folder of the grid_{sentence}.jpg faces to write")
    p.set_defaults(func=_grid_faces)
