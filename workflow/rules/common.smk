# Shared helpers: the validated config as dataclasses and each stage's settings. Path patterns live in
# autalk.paths and the config sections each stage reads in autalk.stages: rules name them, never restate them.
# Naming: `ds` is one dataset's settings (autalk.config.DatasetConfig), CFG the whole config.
import sys

import yaml
from snakemake.utils import update_config, validate

from autalk import paths, stages
from autalk.config import config_from_dict
from autalk.systems import REFERENCE_SYSTEMS


def _typed_overrides():
    """--config KEY=VALUE as YAML with its types. Snakemake reads a nested VALUE (datasets={demo: {...}}) with
    every scalar a string, which the schema refuses; each override is read again here, as a config file is."""
    overrides = {}
    for entry in workflow.config_settings.config_args or []:
        key, _, value = entry.partition("=")
        try:
            overrides[key] = yaml.safe_load(value) if value else None
        except yaml.YAMLError as err:
            raise ValueError(f"--config {key}=...: not a YAML value ({err})") from None
    return overrides


update_config(config, _typed_overrides())
validate(config, "../schemas/config.schema.yaml", set_default=False)
_SOURCES = [str(p) for p in workflow.configfiles] + (["--config"] if workflow.config_settings.config_args else [])
CFG = config_from_dict(config, source=", ".join(_SOURCES))


wildcard_constraints:
    dataset="|".join(CFG.datasets),
    speaker=r"[A-Za-z0-9_]+",
    variant=r"[A-Za-z0-9_]+",


def dataset(wildcards):
    return CFG.dataset(wildcards.dataset)


def stage_settings(stage):
    """A rule's ``settings`` param: the sections its stage reads (autalk.stages), with the variant's overrides
    where the rule has a {variant}. Snakemake records it, so a change reruns exactly the stages it concerns;
    the command reads its settings from it (``--settings {params.settings:q}``)."""

    def get(wildcards):
        ds = dataset(wildcards)
        if "variant" in wildcards.keys():
            ds = stages.for_system(ds, wildcards.variant)
        return stages.settings_json(stage, ds)

    return get


def speakers(wildcards):
    return dataset(wildcards).speakers


def clip_dirs(wildcards):
    return expand(paths.SPEAKER_CLIPS, dataset=wildcards.dataset, speaker=speakers(wildcards))


def qc_tables(wildcards):
    return expand(paths.SPEAKER_QC, dataset=wildcards.dataset, speaker=speakers(wildcards))


def eval_variants(wildcards):
    return dataset(wildcards).evaluation.variants


def datasets_of_kind(kind):
    """A wildcard regex matching the datasets whose source is of this kind (never matching if none)."""
    names = [name for name, ds in CFG.datasets.items() if ds.source.kind == kind]
    return "|".join(names) if names else "(?!)"


def acquired_flags(wildcards):
    """What must exist before a dataset's manifest can be built, by source kind."""
    kind = dataset(wildcards).source.kind
    if kind == "grid":
        return expand(paths.GRID_ACQUIRED, dataset=wildcards.dataset, speaker=speakers(wildcards))
    if kind == "synthetic":
        return expand(paths.SYNTHESIZED, dataset=wildcards.dataset)
    return expand(paths.LOCAL_LOCATED, dataset=wildcards.dataset)


# Generation and evaluation: a {variant} of those rules is a trained variant or one of the reference systems.
REFERENCE_SYSTEM = "|".join(REFERENCE_SYSTEMS)
GENERATOR_VARIANT = rf"(?!(?:{REFERENCE_SYSTEM})$)[A-Za-z0-9_]+"


def eval_systems(wildcards):
    """Rows of the metric table: the evaluated variants (full first, as configured), then the references."""
    return eval_variants(wildcards) + list(REFERENCE_SYSTEMS)


_BACKEND_WARNED = set()


def au_backend(wildcards):
    """The AU labelling backend ``aus.backend`` resolves to (a param, so finding OpenFace later relabels); warns
    once, when the run is planned, if ``auto`` falls back to the landmark approximation."""
    from autalk.aus.labelling import auto_backend_warning, resolve_backend

    aus = dataset(wildcards).aus
    warning = auto_backend_warning(aus, wildcards.dataset)
    if warning and wildcards.dataset not in _BACKEND_WARNED:
        _BACKEND_WARNED.add(wildcards.dataset)
        print(f"WARNING: {warning}", file=sys.stderr)
    return resolve_backend(aus)


def pyfeat_raw(wildcards):
    """py-feat's raw detections, needed only when the dataset's AU backend is pyfeat."""
    if dataset(wildcards).aus.backend != "pyfeat":
        return []
    return expand(paths.PYFEAT_RAW, dataset=wildcards.dataset)


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
    return [
        paths.PAPER_TABLES.format(dataset=name) for name, ds in CFG.datasets.items() if ds.source.kind != "synthetic"
    ]


def report_variant(wildcards):
    """The variant whose samples the report's front page shows: the first evaluated one."""
    return eval_variants(wildcards)[0]
