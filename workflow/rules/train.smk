# Stage 4: the generator (one per ablation variant) and the audio-visual sync expert used as a metric.
# Checkpoints live under resources/{dataset}/train/{variant}/, outside the declared outputs, so a killed
# job resumes from its last checkpoint when rerun.


rule train_sync_expert:
    input:
        qc="resources/{dataset}/qc.parquet",
        clips=clip_dirs,
    output:
        model="resources/{dataset}/models/sync_expert.pt",
        metrics=report("results/{dataset}/sync_expert_metrics.csv", caption="../report/sync_expert.rst", category="Evaluation"),
    params:
        config=CONFIG_ARGS,
        settings=settings("sync_expert", "splits", "preprocess"),
        clips_root="resources/{dataset}/clips",
    threads: 4
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    log:
        "results/{dataset}/logs/train_sync_expert.log",
    benchmark:
        "results/{dataset}/benchmarks/train_sync_expert.tsv"
    conda:
        "../../envs/autalk.yaml"
    shell:
        "autalk train-sync-expert --config {params.config} --dataset {wildcards.dataset} --qc {input.qc}"
        " --clips-root {params.clips_root} --model {output.model} --metrics {output.metrics} 2> {log}"


rule train_generator:
    input:
        labels="resources/{dataset}/au_labels.parquet",
        qc="resources/{dataset}/qc.parquet",
        clips=clip_dirs,
        au_classifier="resources/{dataset}/models/au_classifier.pt",
        audio2au="resources/{dataset}/models/audio2au.pt",
    output:
        model="resources/{dataset}/models/generator/{variant}.pt",
        curves=report("results/{dataset}/training/{variant}_curves.png", caption="../report/training_curves.rst", category="Training"),
    params:
        launch=trainer_launcher,
        config=CONFIG_ARGS,
        settings=settings("model", "training", "splits", "aus", "preprocess"),
        clips_root="resources/{dataset}/clips",
        run_dir="resources/{dataset}/train/{variant}",
    threads: 4
    resources:
        mem_mb=16000,
        runtime=2880,
        gpu=1,
    log:
        "results/{dataset}/logs/train_generator/{variant}.log",
    benchmark:
        "results/{dataset}/benchmarks/train_generator/{variant}.tsv"
    conda:
        "../../envs/autalk.yaml"
    shell:
        "{params.launch} train --config {params.config} --dataset {wildcards.dataset} --variant {wildcards.variant}"
        " --labels {input.labels} --qc {input.qc} --clips-root {params.clips_root}"
        " --au-classifier {input.au_classifier} --audio2au {input.audio2au}"
        " --run-dir {params.run_dir} --model {output.model} --curves {output.curves} 2> {log}"
