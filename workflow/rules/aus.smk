# Stage 3: speech-related AU labels per aligned frame, the frozen AU classifier (a loss and a metric), and the
# audio-to-AU networks whose features drive the generator.


rule detect_aus_pyfeat:
    """Optional backend (aus.backend: pyfeat): py-feat's Detector in its own env; run with --sdm conda."""
    input:
        qc="resources/{dataset}/qc.parquet",
        clips=clip_dirs,
    output:
        raw="resources/{dataset}/au_pyfeat_raw.parquet",
    params:
        script=str(Path(workflow.basedir) / "src" / "autalk" / "aus" / "pyfeat_detect.py"),
        clips_root="resources/{dataset}/clips",
    threads: 4
    resources:
        mem_mb=8000,
        runtime=480,
    log:
        "results/{dataset}/logs/detect_aus_pyfeat.log",
    benchmark:
        "results/{dataset}/benchmarks/detect_aus_pyfeat.tsv"
    conda:
        "../../envs/pyfeat.yaml"
    shell:
        "python {params.script} --qc {input.qc} --clips-root {params.clips_root} --output {output.raw} 2> {log}"


rule label_aus:
    input:
        qc="resources/{dataset}/qc.parquet",
        landmarks="resources/{dataset}/landmarks.parquet",
        clips=clip_dirs,
        pyfeat=pyfeat_raw,
    output:
        labels="resources/{dataset}/au_labels.parquet",
    params:
        config=CONFIG_ARGS,
        settings=settings("aus"),
        backend=au_backend,
        clips_root="resources/{dataset}/clips",
        pyfeat=pyfeat_arg,
    threads: 2
    resources:
        mem_mb=4000,
        runtime=240,
    log:
        "results/{dataset}/logs/label_aus.log",
    benchmark:
        "results/{dataset}/benchmarks/label_aus.tsv"
    conda:
        "../../envs/autalk.yaml"
    shell:
        "autalk label-aus --config {params.config} --dataset {wildcards.dataset} --qc {input.qc}"
        " --landmarks {input.landmarks} --clips-root {params.clips_root} {params.pyfeat} --output {output.labels} 2> {log}"


rule au_label_agreement:
    """Demo only: each labelling backend that ran against the synthesiser's ground-truth AUs."""
    input:
        labels="resources/{dataset}/au_labels.parquet",
        truth="resources/{dataset}/raw/ground_truth/aus.parquet",
    output:
        table=report("results/{dataset}/au_label_agreement.csv", caption="../report/au_label_agreement.rst", category="Action units"),
    params:
        config=CONFIG_ARGS,
        settings=settings("aus"),
    wildcard_constraints:
        dataset=datasets_of_kind("synthetic"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        "results/{dataset}/logs/au_label_agreement.log",
    benchmark:
        "results/{dataset}/benchmarks/au_label_agreement.tsv"
    conda:
        "../../envs/autalk.yaml"
    shell:
        "autalk au-agreement --config {params.config} --dataset {wildcards.dataset} --labels {input.labels}"
        " --truth {input.truth} --output {output.table} 2> {log}"


rule pretrain_au_classifier:
    input:
        labels="resources/{dataset}/au_labels.parquet",
        qc="resources/{dataset}/qc.parquet",
        clips=clip_dirs,
    output:
        model="resources/{dataset}/models/au_classifier.pt",
        metrics=report("results/{dataset}/au_classifier_metrics.csv", caption="../report/au_classifier.rst", category="Action units"),
    params:
        config=CONFIG_ARGS,
        settings=settings("aus", "au_classifier", "splits", "preprocess"),
        clips_root="resources/{dataset}/clips",
    threads: 4
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    log:
        "results/{dataset}/logs/pretrain_au_classifier.log",
    benchmark:
        "results/{dataset}/benchmarks/pretrain_au_classifier.tsv"
    conda:
        "../../envs/autalk.yaml"
    shell:
        "autalk pretrain-au-classifier --config {params.config} --dataset {wildcards.dataset} --labels {input.labels}"
        " --qc {input.qc} --clips-root {params.clips_root} --model {output.model} --metrics {output.metrics} 2> {log}"


rule pretrain_audio2au:
    input:
        labels="resources/{dataset}/au_labels.parquet",
        qc="resources/{dataset}/qc.parquet",
        clips=clip_dirs,
    output:
        model="resources/{dataset}/models/audio2au.pt",
        metrics=report("results/{dataset}/audio2au_metrics.csv", caption="../report/audio2au.rst", category="Action units"),
        plot=report("results/{dataset}/audio2au_trajectories.png", caption="../report/audio2au_plot.rst", category="Action units"),
    params:
        config=CONFIG_ARGS,
        settings=settings("aus", "audio2au", "splits", "preprocess", "model"),
        clips_root="resources/{dataset}/clips",
    threads: 4
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    log:
        "results/{dataset}/logs/pretrain_audio2au.log",
    benchmark:
        "results/{dataset}/benchmarks/pretrain_audio2au.tsv"
    conda:
        "../../envs/autalk.yaml"
    shell:
        "autalk pretrain-audio2au --config {params.config} --dataset {wildcards.dataset} --labels {input.labels}"
        " --qc {input.qc} --clips-root {params.clips_root} --model {output.model} --metrics {output.metrics}"
        " --plot {output.plot} 2> {log}"
