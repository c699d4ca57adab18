# Shared helpers: the validated config as dataclasses, path patterns, and per-rule settings.
# Rules build every path from the patterns here, never ad hoc.
import json
import shlex
import sys
from pathlib import Path

from autalk.config import config_from_dict, read_config_file, _deep_merge

# The `configfile:` directive's file first, then --configfile files, which Snakemake lets override it.
_CLI_FILES = [str(p) for p in workflow.config_settings.configfiles]
CONFIG_FILES = [str(p) for p in workflow.configfiles if str(p) not in _CLI_FILES] + _CLI_FILES


def _files_config():
    merged = {}
    for path in CONFIG_FILES:
        merged = _deep_merge(merged, read_config_file(path))
    return merged


if _files_config() != config:
    raise ValueError(
        "autalk reads its settings from config files: put overrides in a YAML file and pass it with "
        "--configfile (e.g. --configfile config.yaml my_ablation.yaml) instead of --config KEY=VALUE."
    )

CFG = config_from_dict(config, source=", ".join(CONFIG_FILES))


class ConfigFiles:
    """The config files every command is given (``--config {params.config}``). Not a str on purpose: Snakemake
    records only params of builtin types for its rerun decisions, so renaming, adding or reordering a
    --configfile reruns nothing by itself; the ``settings`` param of each rule (the config sections the stage
    reads) is what reruns a stage when one of its settings changes."""

    def __init__(self, files):
        self.files = list(files)

    def __str__(self):
        return " ".join(shlex.quote(f) for f in self.files)


CONFIG_ARGS = ConfigFiles(CONFIG_FILES)

wildcard_constraints:
    dataset="|".join(CFG.datasets),
    speaker=r"[A-Za-z0-9_]+",
    variant=r"[A-Za-z0-9_]+",


def ds(wildcards):
    return CFG.dataset(wildcards.dataset)


def settings(*sections):
    """A rule's params: the config sections it reads, so a change re-runs exactly the stages that use it."""

    def get(wildcards):
        cfg = ds(wildcards)
        if hasattr(wildcards, "variant"):
            cfg = cfg.variant(wildcards.variant)
        return json.dumps({s: _asdict(getattr(cfg, s)) for s in sections}, sort_keys=True)

    return get


def _asdict(obj):
    import dataclasses

    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj


def speakers(wildcards):
    return ds(wildcards).speakers


def clip_dirs(wildcards):
    return expand("resources/{dataset}/clips/{speaker}", dataset=wildcards.dataset, speaker=speakers(wildcards))


def qc_tables(wildcards):
    return expand("resources/{dataset}/qc/{speaker}.parquet", dataset=wildcards.dataset, speaker=speakers(wildcards))


def eval_variants(wildcards):
    return ds(wildcards).evaluation.variants


def datasets_of_kind(kind):
    """A wildcard regex matching the datasets whose source is of this kind (never matching if none)."""
    names = [n for n, d in CFG.datasets.items() if d.source.kind == kind]
    return "|".join(names) if names else "(?!)"


def acquired_flags(wildcards):
    """What must exist before a dataset's manifest can be built, by source kind."""
    kind = ds(wildcards).source.kind
    if kind == "grid":
        return expand("resources/{dataset}/raw/{speaker}.acquired", dataset=wildcards.dataset, speaker=speakers(wildcards))
    if kind == "synthetic":
        return expand("resources/{dataset}/raw/synth.complete", dataset=wildcards.dataset)
    return expand("resources/{dataset}/raw/local.complete", dataset=wildcards.dataset)


# Generation and evaluation: a {variant} of those rules is a trained variant or one of the reference systems.
REFERENCE_SYSTEMS = ["static", "real"]
GENERATOR_VARIANT = r"(?!(?:static|real)$)[A-Za-z0-9_]+"


def system_settings(*sections):
    """``settings`` for rules whose {variant} may also be a reference system (which has no variant overrides)."""

    def get(wildcards):
        cfg = ds(wildcards)
        if wildcards.variant not in REFERENCE_SYSTEMS:
            cfg = cfg.variant(wildcards.variant)
        return json.dumps({s: _asdict(getattr(cfg, s)) for s in sections}, sort_keys=True)

    return get


def eval_systems(wildcards):
    """Rows of the metric table: the evaluated variants (full first, as configured), then the references."""
    return eval_variants(wildcards) + REFERENCE_SYSTEMS


_BACKEND_WARNED = set()


def au_backend(wildcards):
    """The AU labelling backend ``aus.backend`` resolves to (a param, so finding OpenFace later relabels); warns
    once, when the run is planned, if ``auto`` falls back to the landmark approximation."""
    from autalk.aus.labelling import auto_backend_warning, resolve_backend

    aus = ds(wildcards).aus
    warning = auto_backend_warning(aus, wildcards.dataset)
    if warning and wildcards.dataset not in _BACKEND_WARNED:
        _BACKEND_WARNED.add(wildcards.dataset)
        print(f"WARNING: {warning}", file=sys.stderr)
    return resolve_backend(aus)


def pyfeat_raw(wildcards):
    """py-feat's raw detections, needed only when the dataset's AU backend is pyfeat."""
    if ds(wildcards).aus.backend != "pyfeat":
        return []
    return expand("resources/{dataset}/au_pyfeat_raw.parquet", dataset=wildcards.dataset)


def pyfeat_arg(wildcards):
    return " ".join(f"--pyfeat-raw {path}" for path in pyfeat_raw(wildcards))


def trainer_launcher(wildcards, resources):
    """`autalk`, or torchrun with one data-parallel process per GPU when the job is given more than one
    (e.g. --set-resources train_generator:gpu=4)."""
    if resources.gpu > 1:
        return f"torchrun --standalone --nproc-per-node {resources.gpu} -m autalk.cli"
    return "autalk"


def paper_table_inputs(wildcards):
    """Per-dataset paper tables of the real corpora: what `results/paper_tables.md` gathers."""
    return [f"results/{name}_paper_tables.md" for name, d in CFG.datasets.items() if d.source.kind != "synthetic"]
