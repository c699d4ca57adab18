"""Subcommands of the acquire stage: download GRID, locate a registered local corpus, build the manifest."""

import argparse
from pathlib import Path

from autalk.commands import add_settings_args, stage_settings


def _download_grid(args: argparse.Namespace) -> None:
    from autalk.acquire.grid import acquire_speaker

    ds = stage_settings(args, "acquire_grid_speaker")
    acquire_speaker(ds, args.speaker, Path(args.downloads), Path(args.raw), Path(args.flag))


def _locate_local(args: argparse.Namespace) -> None:
    from autalk.acquire.local import locate

    locate(stage_settings(args, "locate_local_corpus"), Path(args.raw), Path(args.flag))


def _manifest(args: argparse.Namespace) -> None:
    from autalk.acquire.manifest import build_manifest, write_manifest

    write_manifest(build_manifest(stage_settings(args, "build_manifest"), args.raw, threads=args.threads), args.output)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("download-grid", help="download, verify and extract one GRID talker (resumable)")
    add_settings_args(p)
    p.add_argument("--speaker", required=True, help="talker id, e.g. s1")
    p.add_argument("--downloads", required=True, help="folder for the archives (partial ones end in .part)")
    p.add_argument("--raw", required=True, help="raw corpus folder; the talker lands in RAW/SPEAKER/")
    p.add_argument("--flag", required=True, help="JSON record of what was acquired, written last")
    p.set_defaults(func=_download_grid)

    p = sub.add_parser("locate-local", help="check a registered corpus (TCD-TIMIT) at source.local_path and "
                                            "link its clips into the raw layout")
    add_settings_args(p)
    p.add_argument("--raw", required=True, help="raw corpus folder; each speaker is linked as RAW/SPEAKER/")
    p.add_argument("--flag", required=True, help="JSON record of what was found, written last")
    p.set_defaults(func=_locate_local)

    p = sub.add_parser("manifest", help="probe every utterance under the raw layout into manifest.parquet")
    add_settings_args(p)
    p.add_argument("--raw", required=True, help="raw corpus folder (RAW/SPEAKER/video|audio|align)")
    p.add_argument("--output", required=True, help="manifest parquet file")
    p.add_argument("--threads", type=int, default=1, help="files probed at a time")
    p.set_defaults(func=_manifest)
