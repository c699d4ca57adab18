"""Subcommands of the generate stage: ``generate-clips`` renders every test clip with one system (a trained
variant, or the ``static`` / ``real`` reference); ``generate`` animates a user's face photo with any audio."""

import argparse
import contextlib
import gc
import time
from pathlib import Path
from typing import Iterator

from autalk.commands import add_clip_args, add_device_arg, add_settings_args, stage_settings
from autalk.devices import PRECISIONS, resolve_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate-clips", help="render every test clip with one system (workflow rule)",
                       description="Render every kept test clip as {utt_id}.mp4 (H.264 + its audio) and {utt_id}.npz "
                                   "(exact frames for the metrics) with a trained variant (--model) or a reference "
                                   "system (static: the identity frame held still; real: the real video).")
    add_settings_args(p)
    p.add_argument("--system", required=True, help="variant name, or 'static' / 'real'")
    p.add_argument("--model", type=Path, help="generator checkpoint of the variant (not for static/real)")
    p.add_argument("--labels", type=Path, help="AU label table (needed by a ground-truth-AU variant)")
    add_clip_args(p)
    p.add_argument("--manifest", required=True, type=Path, help="manifest (where each clip's audio is)")
    p.add_argument("--out-dir", required=True, type=Path, help="directory of the rendered clips")
    p.add_argument("--samples-dir", type=Path, help="directory of real | generated videos of a few clips")
    add_device_arg(p)
    p.set_defaults(func=_generate_clips)

    p = sub.add_parser("generate", help="animate a face photo with a speech recording",
                       description="Detect and align the face in any photo (the largest if several), resample any "
                                   "audio, predict its speech AUs, generate the talking face and write an mp4 with "
                                   "the audio: the photo at its own resolution with the generated lower face pasted "
                                   "back (--crop-only: the aligned crop the generator drew). The checkpoint is a "
                                   "generator checkpoint (it embeds the audio-to-AU networks and the preprocessing "
                                   "settings). Batch mode: give a folder for --image and/or --audio and a folder for "
                                   "-o; every photo x recording becomes {photo}__{recording}.mp4, the networks "
                                   "loaded once.")
    p.add_argument("--checkpoint", required=True, type=Path, help="generator checkpoint (.pt)")
    p.add_argument("--image", required=True, type=Path,
                   help="face photo (any format OpenCV reads), or a folder of them (batch mode)")
    p.add_argument("--audio", required=True, type=Path,
                   help="speech (wav/flac/ogg, or any file ffmpeg decodes), or a folder of them (batch mode)")
    p.add_argument("-o", "--output", required=True, type=Path, help="mp4 to write (batch mode: a folder)")
    p.add_argument("--au-scale", type=float, default=1.0,
                   help="multiply the predicted AU drive: >1 exaggerates articulation, <1 damps it (default 1)")
    p.add_argument("--save-aus", type=Path, nargs="?", const=True,
                   help="also write the predicted AU intensities per frame as CSV (batch mode: a flag, each "
                        "video's track lands beside it as {name}.aus.csv)")
    p.add_argument("--crop-only", action="store_true",
                   help="write the aligned face crop the generator drew instead of pasting it back into the photo")
    p.add_argument("--side-by-side", action="store_true",
                   help="show the input beside the result (photo | result; with --crop-only, identity | crop)")
    add_device_arg(p)
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="the generator's arithmetic: auto (bf16 on a CPU with bf16 instructions, about half the fp32 "
                        "time, else fp32), fp32 or bf16")
    p.set_defaults(func=_generate)


def _generate_clips(args: argparse.Namespace) -> None:
    from autalk.generate.clips import render_system
    from autalk.systems import REFERENCE_SYSTEMS

    stage = "reference_clips" if args.system in REFERENCE_SYSTEMS else "generate_test_clips"
    ds = stage_settings(args, stage, args.system)
    render_system(args.system, ds, args.qc, args.clips_root, args.manifest, args.out_dir, args.samples_dir,
                  args.model, args.labels, resolve_device(args.device))


def _generate(args: argparse.Namespace) -> None:
    start = time.perf_counter()  # end to end: importing torch and the rest counts too
    from autalk.errors import ConfigError
    from autalk.generate.checks import check_au_scale, check_outputs

    check_au_scale(args.au_scale)
    if args.image.is_dir() or args.audio.is_dir():
        with collector_paused():
            from autalk.generate.batch import generate_batch

        if args.save_aus not in (None, True):
            raise ConfigError("in batch mode --save-aus takes no file name: each track is written as "
                              "{name}.aus.csv beside its video")
        generate_batch(args.checkpoint, args.image, args.audio, args.output, args.au_scale, bool(args.save_aus),
                       resolve_device(args.device), args.crop_only, args.side_by_side, args.precision)
        return
    with collector_paused():
        from autalk.generate.photo import generate_from_photo

    if args.save_aus is True:
        raise ConfigError("--save-aus needs a CSV file name (it is a flag only in batch mode)")
    check_outputs({"--checkpoint": args.checkpoint, "--image": args.image, "--audio": args.audio},
                  {"-o": (args.output, ".mp4"), "--save-aus": (args.save_aus, ".csv")})
    device = resolve_device(args.device)
    result = generate_from_photo(args.checkpoint, args.image, args.audio, args.output, args.au_scale, args.save_aus,
                                 device, args.crop_only, args.side_by_side, args.precision)
    seconds = time.perf_counter() - start
    n = len(result.frames)  # end to end: imports, model loading, face detection + alignment, MFCC, network, mp4
    print(f"{args.output}: {n} frames in {seconds:.2f} s = {n / seconds:.1f} frames/s "
          f"({n / result.fps / seconds:.2f}x real time; {cpu_seconds():.2f} CPU-seconds since the start, ffmpeg's "
          f"included)")


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused, for importing torch, OpenCV, dlib and the rest: they create
    ~190 k objects that all stay, so the ~430 collections their allocations set off free nothing and cost
    ~0.2 s of CPU, 5-8% of ``autalk generate`` on a 3 s clip."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished children (ffmpeg) so far: what one idle core
    would take, where the wall time on a busy machine also counts waiting and on several cores overlaps."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
