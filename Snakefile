# autalk workflow: raw corpus -> aligned faces + MFCC -> AU labels -> pretrained AU classifier and
# audio-to-AU networks -> generator training -> generation -> metric tables. Logic lives in the
# `autalk` package; rules only call its CLI. Targets: results/{dataset}_metrics.csv, or `demo`.
from snakemake.utils import min_version

from autalk import paths

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/acquire.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/aus.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/evaluate.smk"


# Everything the offline demo corpus yields: metric tables, previews, report material.
rule demo:
    default_target: True
    input:
        expand(
            [
                paths.METRICS,
                paths.ABLATION,
                paths.PAPER_TABLES,
                paths.AU_TRAJECTORIES,
                paths.AU_AGREEMENT,
                paths.CONTACT_SHEET,
                paths.OVERVIEW,
            ],
            dataset="demo",
        ),
