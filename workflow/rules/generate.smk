# Stage 5: render every test clip with each system: a trained variant (identity frame + audio (+ predicted AUs))
# or a reference computed on the same clips (static: the identity frame held still; real: the real video).
# Each clip -> {utt_id}.mp4 (H.264 + its audio) and {utt_id}.npz (exact frames for the metrics).


rule generate_test_clips:
    input:
        model="resources/{dataset}/models/generator/{variant}.pt",
        labels="resources/{dataset}/au_labels.parquet",
        qc="resources/{dataset}/qc.parquet",
        manifest="resources/{dataset}/manifest.parquet",
        clips=clip_dirs,
    output:
        clips=directory("results/{dataset}/generated/{variant}"),
        samples=report(
            directory("results/{dataset}/samples/{variant}"),
            patterns=["{name}.mp4"],
            caption="../report/samples.rst",
            category="Results",
            subcategory="Sample videos",
        ),
    wildcard_constraints:
        variant=GENERATOR_VARIANT,
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
        "autalk generate-clips --config {params.config} --dataset {wildcards.dataset} --system {wildcards.variant}"
        " --model {input.model} --labels {input.labels} --qc {input.qc} --clips-root {params.clips_root}"
        " --manifest {input.manifest} --out-dir {output.clips} --samples-dir {output.samples} 2> {log}"


rule reference_clips:
    """The reference rows' clips: static (identity frame copied) and real (the real aligned video)."""
    input:
        qc="resources/{dataset}/qc.parquet",
        manifest="resources/{dataset}/manifest.parquet",
        clips=clip_dirs,
    output:
        clips=directory("results/{dataset}/generated/{variant}"),
    wildcard_constraints:
        variant="|".join(REFERENCE_SYSTEMS),
    params:
        config=CONFIG_ARGS,
        settings=system_settings("splits", "evaluation"),
        clips_root="resources/{dataset}/clips",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    log:
        "results/{dataset}/logs/generate/{variant}.log",
    benchmark:
        "results/{dataset}/benchmarks/generate/{variant}.tsv"
    conda:
        "../../envs/autalk.yaml"
    shell:
        "autalk generate-clips --config {params.config} --dataset {wildcards.dataset} --system {wildcards.variant}"
        " --qc {input.qc} --clips-root {params.clips_root} --manifest {input.manifest} --out-dir {output.clips}"
        " 2> {log}"
