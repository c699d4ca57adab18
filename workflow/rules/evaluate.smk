# Stage 6: metrics per clip and aggregated; the paper's tables with reference rows (static face, real video).


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
    params:
        config=CONFIG_ARGS,
        settings=settings("evaluation", "sync_expert", "splits"),
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
        " 2> {log}"


rule metric_tables:
    input:
        variants=lambda wc: expand("results/{dataset}/metrics/{variant}.csv", dataset=wc.dataset, variant=eval_variants(wc)),
    output:
        metrics=report("results/{dataset}_metrics.csv", caption="../report/metrics.rst", category="Results"),
        ablation=report("results/{dataset}_ablation.csv", caption="../report/ablation.rst", category="Results"),
    params:
        settings=settings("evaluation"),
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
        "autalk metric-tables --per-clip {input.variants} --metrics {output.metrics} --ablation {output.ablation}"
        " 2> {log}"
