# autalk workflow: raw corpus -> aligned faces + MFCC -> AU labels -> pretrained AU classifier and
# audio-to-AU networks -> generator training -> generation -> metric tables. Logic lives in the
# `autalk` package; rules only call its CLI. Targets: results/{dataset}_metrics.csv, or `demo`.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


validate(config, "workflow/schemas/config.schema.yaml", set_default=False)


include: "workflow/rules/common.smk"
include: "workflow/rules/acquire.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/aus.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/evaluate.smk"


rule demo:
    """Everything the offline demo corpus yields: metric tables, previews, report material."""
    input:
        "results/demo_metrics.csv",
        "results/demo_ablation.csv",
        "results/demo_paper_tables.md",
        "results/demo/evaluation/au_trajectories.png",
        "results/demo/au_label_agreement.csv",
        "results/demo/contact_sheet.png",
        "results/demo/overview.html",
    default_target: True
