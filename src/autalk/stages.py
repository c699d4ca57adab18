"""The config sections each stage reads: one map, used by the workflow and by the commands alike.

A stage is a Snakemake rule that runs an ``autalk`` command. Its rule passes the stage's declared sections of the
dataset's settings (``settings_json``) as a param, which Snakemake records: a change to any of them reruns the
stage, and a change to any other section does not. The command builds its settings from that same text
(``stage_config``), in which every undeclared section is an ``UndeclaredSection``: reading it raises, so a stage
cannot depend on a setting whose change would not rerun it. ``tests/test_stages.py`` runs each stage and checks
that what it reads is what it declares.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, NoReturn

from autalk.config import DatasetConfig, build_settings
from autalk.errors import ConfigError
from autalk.systems import REFERENCE_SYSTEMS

# Stage (rule name) -> the sections of DatasetConfig it reads.
STAGES: dict[str, tuple[str, ...]] = {
    "acquire_grid_speaker": ("source", "speakers"),
    "locate_local_corpus": ("source", "speakers"),
    "synthesize_demo": ("source", "speakers", "splits"),
    "build_manifest": ("speakers",),
    "demo_previews": ("splits",),
    "preprocess_speaker": ("preprocess", "speakers"),
    "qc_summary": (),
    "label_aus": ("aus",),
    "au_label_agreement": ("aus",),
    "pretrain_au_classifier": ("aus", "au_classifier", "splits"),
    "pretrain_audio2au": ("aus", "audio2au", "splits", "preprocess", "model"),
    "train_sync_expert": ("sync_expert", "splits", "preprocess"),
    "train_generator": ("model", "training", "splits", "aus", "preprocess"),
    "generate_test_clips": ("evaluation", "splits", "preprocess", "training", "aus"),  # aus: ground-truth-AU variants
    "reference_clips": ("evaluation", "splits", "preprocess", "training"),
    "evaluate_variant": ("sync_expert", "splits", "aus", "training", "preprocess"),
    "metric_tables": ("training", "splits", "preprocess"),
    "evaluation_figures": ("evaluation", "aus"),
    "report_overview": (),
}

# Every field of a dataset's settings but its name is a section a stage may declare.
SECTIONS = tuple(f.name for f in dataclasses.fields(DatasetConfig) if f.name != "name")


class UndeclaredSectionError(ConfigError):
    """A stage read a config section that ``STAGES`` does not list for it."""


class UndeclaredSection:
    """Stands in a stage's settings for a section the stage did not declare; any use of it raises."""

    def __init__(self, stage: str, section: str):
        self._stage = stage
        self._section = section

    def _refuse(self, what: str = "") -> NoReturn:
        raise UndeclaredSectionError(
            f"stage {self._stage} reads config section {self._section!r}{what}, which autalk/stages.py does not "
            f"declare for it: add it to STAGES[{self._stage!r}] so that a change to it reruns the stage")

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):   # copy, pickle and repr probe for optional hooks
            raise AttributeError(key)
        self._refuse(f" (.{key})")

    def __iter__(self):
        self._refuse()

    def __len__(self) -> int:
        self._refuse()

    def __bool__(self) -> bool:
        self._refuse()

    def __contains__(self, item: object) -> bool:
        self._refuse()

    def __getitem__(self, key: object) -> Any:
        self._refuse(f" ([{key!r}])")

    def __copy__(self) -> NoReturn:   # copying or pickling whole settings reads every section
        self._refuse()

    def __deepcopy__(self, memo: dict) -> NoReturn:
        self._refuse()

    def __reduce_ex__(self, protocol: int) -> NoReturn:
        self._refuse()

    def __repr__(self) -> str:
        return f"UndeclaredSection({self._stage!r}, {self._section!r})"


def declared(stage: str) -> tuple[str, ...]:
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; autalk/stages.py knows {sorted(STAGES)}")
    return STAGES[stage]


def for_system(ds: DatasetConfig, system: str) -> DatasetConfig:
    """The settings a system runs with: a variant's overrides applied; a reference system has none."""
    return ds if system in REFERENCE_SYSTEMS else ds.variant(system)


def settings_json(stage: str, ds: DatasetConfig) -> str:
    """The stage's declared sections of these settings as the text a rule passes (and Snakemake records)."""
    sections = {}
    for name in declared(stage):
        value = getattr(ds, name)
        sections[name] = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
    return json.dumps(sections, sort_keys=True)


def stage_config(stage: str, dataset: str, text: str) -> DatasetConfig:
    """The settings of one stage of ``dataset`` from the text its rule passed: the declared sections as given,
    every other one an ``UndeclaredSection``."""
    where = f"settings of stage {stage} (dataset {dataset})"
    try:
        sections = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{where}: not JSON ({err})") from None
    if not isinstance(sections, dict) or sorted(sections) != sorted(declared(stage)):
        given = sorted(sections) if isinstance(sections, dict) else type(sections).__name__
        raise ConfigError(f"{where}: carry {given}, but autalk/stages.py declares {sorted(declared(stage))}")
    ds = build_settings(DatasetConfig, {"name": dataset, **sections}, where)
    undeclared = {name: UndeclaredSection(stage, name) for name in SECTIONS if name not in sections}
    return dataclasses.replace(ds, **undeclared)
