# Stage 5: generate every test clip from its identity frame and audio (+ predicted AUs), muxed with its audio.


rule generate_test_clips:
    input:
        model="resources/{dataset}/models/generator/{variant}.pt",
        labels="resources/{dataset}/au_labels.parquet",
        qc="resources/{dataset}/qc.parquet",
        clips=clip_dirs,
    output:
        clips=directory("results/{dataset}/generated/{variant}"),
    params:
        config=CONFIG_ARGS,
        settings=settings("evaluation", "splits"),
        clips_root="resources/{dataset}/clips",
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    log:
        "results/{dataset}/logs/generate/{variant}.log",
    benchmark:
        "results/{dataset}/benchmarks/generate/{variant}.tsv"
    conda:
        "../../envs/autalk.yaml"
    shell:
        "autalk generate-clips --config {params.config} --dataset {wildcards.dataset} --model {input.model}"
        " --labels {input.labels} --qc {input.qc} --clips-root {params.clips_root} --out-dir {output.clips}"
        " 2> {log}"
