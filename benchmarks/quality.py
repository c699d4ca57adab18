"""Image quality and lip sync of the generator variants on the demo corpus, over several training seeds.

For each seed, the demo workflow (config.yaml ``demo``, its own training budget) trains, renders and evaluates
every variant named on the command line beside the ``static`` and ``real`` references, in a workspace of its
own that starts from a copy of a base workspace's upstream products (clips, AU labels, pre-trained AU
classifier, audio-to-AU networks, sync expert), so only the generators differ between seeds. It prints each
seed's metric table, the mean over seeds, and the goal of issue 15 checked per seed for one variant:
PSNR and SSIM >= static's, CPBD >= 0.9x real's, all-68 LMD < static's, mouth LMD >= 40% below static's, sync
confidence within 20% of real's.

    # the base workspace: the upstream products of make demo (or a finished make demo's own directory)
    mkdir -p /tmp/qws && cp config.yaml /tmp/qws/
    PATH=$PWD/.venv/bin:$PATH snakemake --directory /tmp/qws --cores 2 resources/demo/models/audio2au.pt \\
        resources/demo/models/au_classifier.pt resources/demo/models/sync_expert.pt
    .venv/bin/python benchmarks/quality.py --base /tmp/qws --seeds 0 1 2 \\
        --variants ours full mask_blend full_res_skip ema mouth_x10 no_mouth_l1 gan_x10 mask_off_lower_face \\
            sync_gan no_au --goal ours
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
UPSTREAM = ["resources/demo", "results/demo/logs", "results/demo/benchmarks", ".snakemake/metadata"]
PER_RUN = ["resources/demo/train", "resources/demo/models/generator"]
SHOWN = ["psnr", "ssim", "cpbd", "lmd_all", "lmd_mouth", "sync_confidence", "sync_abs_offset", "au_f1"]


def prepare(base: Path, work: Path, seed: int, variants: list[str]) -> Path:
    """A seed's workspace: the base's upstream files (timestamps kept, so Snakemake reruns nothing upstream) and
    a config override selecting the seed and the evaluated variants."""
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "config.yaml", work / "config.yaml")
    for rel in UPSTREAM:
        if (base / rel).exists() and not (work / rel).exists():
            shutil.copytree(base / rel, work / rel, symlinks=True)
    for rel in PER_RUN:
        if seed_marker(work) != seed:
            shutil.rmtree(work / rel, ignore_errors=True)
    (work / "seed").write_text(str(seed))
    override = {"datasets": {"demo": {"training": {"seed": seed}, "evaluation": {"variants": variants}}}}
    (work / "quality.yaml").write_text(yaml.safe_dump(override))
    return work


def seed_marker(work: Path) -> int | None:
    marker = work / "seed"
    return int(marker.read_text()) if marker.is_file() else None


def run_seed(work: Path, cores: int) -> pd.DataFrame:
    env = {**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    # the target first (--configfile takes every following word); mtime alone decides reruns, since the config
    # files' own paths are a parameter of every rule and would rerun the copied upstream stages
    subprocess.run(["snakemake", "results/demo_metrics.csv", "-s", str(REPO / "Snakefile"), "--directory", str(work),
                    "--cores", str(cores), "--rerun-triggers", "mtime",
                    "--configfile", str(work / "config.yaml"), str(work / "quality.yaml")], check=True, env=env)
    return pd.read_csv(work / "results" / "demo_metrics.csv")


def goal_checks(table: pd.DataFrame, variant: str) -> dict[str, bool]:
    """Issue 15's goal for ``variant`` against the static and real rows of one seed's table."""
    row, static, real = (table.set_index("system").loc[name] for name in (variant, "static", "real"))
    return {"psnr >= static": row.psnr >= static.psnr,
            "ssim >= static": row.ssim >= static.ssim,
            "cpbd >= 0.9 real": row.cpbd >= 0.9 * real.cpbd,
            "lmd_all < static": row.lmd_all < static.lmd_all,
            "lmd_mouth >= 40% below static": row.lmd_mouth <= 0.6 * static.lmd_mouth,
            "sync conf within 20% of real": abs(row.sync_confidence - real.sync_confidence)
            <= 0.2 * real.sync_confidence}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, required=True, help="workspace holding the upstream demo products")
    parser.add_argument("--work", type=Path, default=Path("/tmp/autalk_quality"), help="per-seed workspaces")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=["full", "ours", "no_au"])
    parser.add_argument("--goal", default="ours", help="the variant whose per-seed goal is checked")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    tables, checks = [], {}
    for seed in args.seeds:
        work = prepare(args.base, args.work / f"seed{seed}", seed, args.variants)
        table = run_seed(work, args.cores)
        print(f"\n## seed {seed}\n")
        print(table.set_index("system")[SHOWN].round(3).to_markdown())
        tables.append(table.assign(seed=seed))
        if args.goal in set(table["system"]):
            checks[f"seed {seed}"] = goal_checks(table, args.goal)
    both = pd.concat(tables)
    order = list(dict.fromkeys(both["system"]))
    mean = both.groupby("system")[SHOWN].mean().loc[order]
    # the real row's PSNR is infinite in every seed: its spread is shown as 0, not inf - inf
    spread = both.groupby("system")[SHOWN].agg(lambda s: 0.0 if s.min() == s.max() else s.max() - s.min()).loc[order]
    print(f"\n## mean over seeds {args.seeds} (max - min in brackets)\n")
    print(mean.round(3).astype(str).add(" (").add(spread.round(3).astype(str)).add(")").to_markdown())
    if checks:
        print(f"\n## goal of issue 15 for `{args.goal}`, per seed\n")
        print(pd.DataFrame(checks).replace({True: "yes", False: "**no**"}).to_markdown())


if __name__ == "__main__":
    main()
