# Stage 6: metrics per clip for every system (variants + the static and real references), then the tables a
# paper prints (metrics, ablation deltas, ours beside the peers' published GRID figures) and report figures.


rule evaluate_variant:
    input:
        generated="results/{dataset}/generated/{variant}",
        labels="resources/{dataset}/au_labels.parquet",
        qc="resources/{dataset}/qc.parquet",
        clips=clip_dirs,
        au_classifier="resources/{dataset}/models/au_classifier.pt",
        sync_expert="resources/{dataset}/models/sync_expert.pt",
    output:
        per_clip="results/{dataset}/metrics/{variant}.csv",
        traces="results/{dataset}/metrics/{variant}.traces.npz",
    params:
        config=CONFIG_ARGS,
        settings=system_settings("evaluation", "sync_expert", "splits", "aus", "training"),
        clips_root="resources/{dataset}/clips",
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
    log:
        "results/{dataset}/logs/evaluate/{variant}.log",
    benchmark:
        "results/{dataset}/benchmarks/evaluate/{variant}.tsv"
    conda:
        "../../envs/autalk.yaml"
    shell:
        "autalk evaluate --config {params.config} --dataset {wildcards.dataset} --system {wildcards.variant}"
        " --generated {input.generated} --labels {input.labels} --qc {input.qc} --clips-root {params.clips_root}"
        " --au-classifier {input.au_classifier} --sync-expert {input.sync_expert} --output {output.per_clip}"
        " --traces {output.traces} 2> {log}"


rule metric_tables:
    input:
        systems=lambda wc: expand("results/{dataset}/metrics/{variant}.csv", dataset=wc.dataset, variant=eval_systems(wc)),
        labels="resources/{dataset}/au_labels.parquet",
    output:
        metrics=report("results/{dataset}_metrics.csv", caption="../report/metrics.rst", category="Results"),
        all_frames="results/{dataset}_metrics_all_frames.csv",
        ablation=report("results/{dataset}_ablation.csv", caption="../report/ablation.rst", category="Results"),
        paper=report("results/{dataset}_paper_tables.md", caption="../report/paper_tables.rst", category="Results"),
    params:
        config=CONFIG_ARGS,
        settings=settings("evaluation", "training", "splits", "preprocess"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        "results/{dataset}/logs/metric_tables.log",
    benchmark:
        "results/{dataset}/benchmarks/metric_tables.tsv"
    conda:
        "../../envs/autalk.yaml"
    shell:
        "autalk metric-tables --config {params.config} --dataset {wildcards.dataset} --per-clip {input.systems}"
        " --labels {input.labels} --metrics {output.metrics} --metrics-all-frames {output.all_frames}"
        " --ablation {output.ablation} --paper-tables {output.paper} 2> {log}"


rule evaluation_figures:
    input:
        traces=lambda wc: expand("results/{dataset}/metrics/{variant}.traces.npz", dataset=wc.dataset, variant=eval_systems(wc)),
        labels="resources/{dataset}/au_labels.parquet",
    output:
        au=report("results/{dataset}/evaluation/au_trajectories.png", caption="../report/au_trajectories.rst", category="Results"),
        sync=report("results/{dataset}/evaluation/sync_curves.png", caption="../report/sync_curves.rst", category="Results"),
    params:
        config=CONFIG_ARGS,
        settings=settings("evaluation", "aus"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        "results/{dataset}/logs/evaluation_figures.log",
    benchmark:
        "results/{dataset}/benchmarks/evaluation_figures.tsv"
    conda:
        "../../envs/autalk.yaml"
    shell:
        "autalk evaluation-figures --config {params.config} --dataset {wildcards.dataset} --traces {input.traces}"
        " --labels {input.labels} --au-plot {output.au} --sync-plot {output.sync} 2> {log}"


rule paper_tables:
    """The paper's tables for every real corpus in the config (GRID, TCD-TIMIT), one section per dataset."""
    input:
        tables=paper_table_inputs,
    output:
        report("results/paper_tables.md", caption="../report/paper_tables.rst", category="Results"),
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    log:
        "results/logs/paper_tables.log",
    benchmark:
        "results/benchmarks/paper_tables.tsv"
    conda:
        "../../envs/autalk.yaml"
    shell:
        "cat {input.tables} > {output} 2> {log}"


rule report_overview:
    """The report's front page material: the metric table and the main variant's first real | generated video."""
    input:
        metrics="results/{dataset}_metrics.csv",
        samples=lambda wc: f"results/{wc.dataset}/samples/{eval_variants(wc)[0]}",
    output:
        report("results/{dataset}/overview.html", caption="../report/overview.rst", category="Overview"),
    params:
        variant=lambda wc: eval_variants(wc)[0],
    threads: 1
    # The job step (snakemake + autalk + pandas) peaks near 560 MB: 500 MB was killed under SLURM.
    resources:
        mem_mb=2000,
        runtime=5,
    log:
        "results/{dataset}/logs/report_overview.log",
    benchmark:
        "results/{dataset}/benchmarks/report_overview.tsv"
    conda:
        "../../envs/autalk.yaml"
    shell:
        "autalk report-overview --dataset {wildcards.dataset} --metrics {input.metrics} --samples {input.samples}"
        " --variant {params.variant} --output {output} 2> {log}"
