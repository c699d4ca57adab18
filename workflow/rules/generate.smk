# Stage 5: render every test clip with each system: a trained variant (identity frame + audio (+ predicted AUs))
# or a reference computed on the same clips (static: the identity frame held still; real: the real video).
# Each clip -> {utt_id}.mp4 (H.264 + its audio) and {utt_id}.npz (exact frames for the metrics).


rule generate_test_clips:
    input:
        model=paths.GENERATOR,
        labels=paths.AU_LABELS,
        qc=paths.QC,
        manifest=paths.MANIFEST,
        clips=clip_dirs,
    output:
        clips=directory(paths.GENERATED),
        samples=report(
            directory(paths.SAMPLES),
            patterns=["{name}.mp4"],
            caption="../report/samples.rst",
            category="Results",
            subcategory="Sample videos",
        ),
    log:
        paths.log("generate/{variant}"),
    benchmark:
        paths.benchmark("generate/{variant}")
    wildcard_constraints:
        variant=GENERATOR_VARIANT,
    conda:
        "../../envs/autalk.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    params:
        settings=stage_settings("generate_test_clips"),
        clips_root=paths.CLIPS,
    shell:
        "autalk generate-clips --settings {params.settings:q} --dataset {wildcards.dataset} --system {wildcards.variant}"
        " --model {input.model} --labels {input.labels} --qc {input.qc} --clips-root {params.clips_root}"
        " --manifest {input.manifest} --out-dir {output.clips} --samples-dir {output.samples} 2> {log}"


rule reference_clips:
    """The reference rows' clips: static (identity frame copied) and real (the real aligned video)."""
    input:
        qc=paths.QC,
        manifest=paths.MANIFEST,
        clips=clip_dirs,
    output:
        clips=directory(paths.GENERATED),
    log:
        paths.log("generate/{variant}"),
    benchmark:
        paths.benchmark("generate/{variant}")
    wildcard_constraints:
        variant=REFERENCE_SYSTEM,
    conda:
        "../../envs/autalk.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        settings=stage_settings("reference_clips"),
        clips_root=paths.CLIPS,
    shell:
        "autalk generate-clips --settings {params.settings:q} --dataset {wildcards.dataset} --system {wildcards.variant}"
        " --qc {input.qc} --clips-root {params.clips_root} --manifest {input.manifest} --out-dir {output.clips}"
        " 2> {log}"
