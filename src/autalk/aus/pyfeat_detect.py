"""Run py-feat's Detector on the aligned frames of every kept clip: the ``detect_aus_pyfeat`` rule's script.

Runs in its own environment (``envs/pyfeat.yaml``, ``snakemake --sdm conda``): py-feat needs its own torch and
cannot be installed beside the main environment's. So this file imports neither autalk nor py-feat at module
level (only numpy and pandas, which both environments have) and is run as a script::

    python src/autalk/aus/pyfeat_detect.py --qc resources/demo/qc.parquet --clips-root resources/demo/clips \
        --output resources/demo/au_pyfeat_raw.parquet

It writes py-feat's raw per-frame output (``utt_id``, ``frame``, ``face_score``, ``AU01``... probabilities 0-1);
``autalk.aus.pyfeat_backend`` turns that into the AU label table in the main environment. py-feat downloads its
model weights from its model hub on first use, so the first run needs a network connection.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

MISSING_PYFEAT = ("py-feat is not installed in this environment. It cannot share the main environment's torch: "
                  "run the workflow with `snakemake --sdm conda` (the rule uses envs/pyfeat.yaml), or create that "
                  "env yourself (conda env create -f envs/pyfeat.yaml) and run this script with its python; or "
                  "choose aus.backend: landmarks (offline) or openface.")


def kept_clips(qc_path: Path, clips_root: Path) -> dict[str, Path]:
    qc = pd.read_parquet(qc_path)
    kept = qc[qc["status"] == "kept"]
    return {row.utt_id: clips_root / row.speaker / f"{row.utt_id}.npz" for row in kept.itertuples()}


def write_pngs(frames: np.ndarray, directory: Path) -> list[str]:
    from PIL import Image  # py-feat's dependency; not needed to import this module

    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, frame in enumerate(frames):
        path = directory / f"{i:05d}.png"
        Image.fromarray(frame).save(path)
        paths.append(str(path))
    return paths


def best_face_per_frame(fex: pd.DataFrame, paths: list[str], au_columns: list[str]) -> pd.DataFrame:
    """One row per input image: the most confident face, or NaNs where py-feat found none."""
    fex = fex.assign(frame=fex["input"].map({p: i for i, p in enumerate(paths)}))
    fex = fex.sort_values("FaceScore", ascending=False, na_position="last").drop_duplicates("frame")
    fex = fex.set_index("frame").reindex(range(len(paths)))
    return pd.DataFrame({"frame": np.arange(len(paths), dtype=np.int32),
                         "face_score": fex["FaceScore"].to_numpy(np.float32),
                         **{au: fex[au].to_numpy(np.float32) for au in au_columns}})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qc", type=Path, required=True)
    parser.add_argument("--clips-root", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    try:
        from feat import Detector
    except ImportError:
        print(f"pyfeat_detect: error: {MISSING_PYFEAT}", file=sys.stderr)
        return 2
    detector = Detector(au_model="xgb", device=args.device)
    au_columns = list(detector.info["au_presence_columns"])
    parts = []
    clips = kept_clips(args.qc, args.clips_root)
    for n, (utt_id, path) in enumerate(clips.items(), 1):
        with np.load(path, allow_pickle=False) as data:
            frames = data["frames"]
        with tempfile.TemporaryDirectory(prefix="autalk_pyfeat_") as tmp:
            paths = write_pngs(frames, Path(tmp))
            fex = detector.detect_image(paths, batch_size=args.batch_size, output_size=max(224, frames.shape[1]))
            part = best_face_per_frame(pd.DataFrame(fex), paths, au_columns)
        part.insert(0, "utt_id", utt_id)
        parts.append(part)
        print(f"pyfeat_detect: {n}/{len(clips)} {utt_id}", file=sys.stderr)
    table = pd.concat(parts, ignore_index=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_name(f".{args.output.name}.tmp")
    table.to_parquet(tmp, index=False)
    tmp.replace(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
