# Stage 6: metrics per clip for every system (variants + the static and real references), then the tables a
# paper prints (metrics, ablation deltas, ours beside the peers' published GRID figures) and report figures.


rule evaluate_variant:
    input:
        generated=paths.GENERATED,
        labels=paths.AU_LABELS,
        qc=paths.QC,
        clips=clip_dirs,
        au_classifier=paths.AU_CLASSIFIER,
        sync_expert=paths.SYNC_EXPERT,
    output:
        per_clip=paths.CLIP_METRICS,
        traces=paths.TRACES,
    log:
        paths.log("evaluate/{variant}"),
    benchmark:
        paths.benchmark("evaluate/{variant}")
    conda:
        "../../envs/autalk.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
    params:
        settings=stage_settings("evaluate_variant"),
        clips_root=paths.CLIPS,
    shell:
        "autalk evaluate --settings {params.settings:q} --dataset {wildcards.dataset} --system {wildcards.variant}"
        " --generated {input.generated} --labels {input.labels} --qc {input.qc} --clips-root {params.clips_root}"
        " --au-classifier {input.au_classifier} --sync-expert {input.sync_expert} --output {output.per_clip}"
        " --traces {output.traces} 2> {log}"


rule metric_tables:
    input:
        systems=lambda wc: expand(paths.CLIP_METRICS, dataset=wc.dataset, variant=eval_systems(wc)),
        labels=paths.AU_LABELS,
    output:
        metrics=report(paths.METRICS, caption="../report/metrics.rst", category="Results"),
        all_frames=paths.METRICS_ALL_FRAMES,
        ablation=report(paths.ABLATION, caption="../report/ablation.rst", category="Results"),
        paper=report(paths.PAPER_TABLES, caption="../report/paper_tables.rst", category="Results"),
    log:
        paths.log("metric_tables"),
    benchmark:
        paths.benchmark("metric_tables")
    conda:
        "../../envs/autalk.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=stage_settings("metric_tables"),
    shell:
        "autalk metric-tables --settings {params.settings:q} --dataset {wildcards.dataset} --per-clip {input.systems}"
        " --labels {input.labels} --metrics {output.metrics} --metrics-all-frames {output.all_frames}"
        " --ablation {output.ablation} --paper-tables {output.paper} 2> {log}"


rule evaluation_figures:
    input:
        traces=lambda wc: expand(paths.TRACES, dataset=wc.dataset, variant=eval_systems(wc)),
        labels=paths.AU_LABELS,
    output:
        au=report(paths.AU_TRAJECTORIES, caption="../report/au_trajectories.rst", category="Results"),
        sync=report(paths.SYNC_CURVES, caption="../report/sync_curves.rst", category="Results"),
    log:
        paths.log("evaluation_figures"),
    benchmark:
        paths.benchmark("evaluation_figures")
    conda:
        "../../envs/autalk.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=stage_settings("evaluation_figures"),
    shell:
        "autalk evaluation-figures --settings {params.settings:q} --dataset {wildcards.dataset}"
        " --traces {input.traces} --labels {input.labels} --au-plot {output.au} --sync-plot {output.sync} 2> {log}"


rule paper_tables:
    """The paper's tables for every real corpus in the config (GRID, TCD-TIMIT), one section per dataset."""
    input:
        tables=paper_table_inputs,
    output:
        report(paths.ALL_PAPER_TABLES, caption="../report/paper_tables.rst", category="Results"),
    log:
        paths.ALL_PAPER_TABLES_LOG,
    benchmark:
        paths.ALL_PAPER_TABLES_BENCHMARK
    conda:
        "../../envs/autalk.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "cat {input.tables} > {output} 2> {log}"


rule report_overview:
    """The report's front page material: the metric table and the main variant's first real | generated video."""
    input:
        metrics=paths.METRICS,
        samples=lambda wc: paths.SAMPLES.format(dataset=wc.dataset, variant=report_variant(wc)),
    output:
        report(paths.OVERVIEW, caption="../report/overview.rst", category="Overview"),
    log:
        paths.log("report_overview"),
    benchmark:
        paths.benchmark("report_overview")
    conda:
        "../../envs/autalk.yaml"
    threads: 1
    # The job step (snakemake + autalk + pandas) peaks near 560 MB: 500 MB was killed under SLURM.
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        variant=report_variant,
    shell:
        "autalk report-overview --dataset {wildcards.dataset} --metrics {input.metrics} --samples {input.samples}"
        " --variant {params.variant} --output {output} 2> {log}"
