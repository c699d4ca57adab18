# Stage 2: per speaker, detect/track/align faces (dlib) and extract MFCC windows (librosa) into one compact
# file per clip; every manifest clip gets exactly one QC row (kept, or rejected with a reason).


rule preprocess_speaker:
    input:
        manifest="resources/{dataset}/manifest.parquet",
    output:
        clips=directory("resources/{dataset}/clips/{speaker}"),
        qc="resources/{dataset}/qc/{speaker}.parquet",
    params:
        config=CONFIG_ARGS,
        settings=settings("preprocess"),
    threads: 4
    resources:
        mem_mb=4000,
        runtime=120,
    log:
        "results/{dataset}/logs/preprocess/{speaker}.log",
    benchmark:
        "results/{dataset}/benchmarks/preprocess/{speaker}.tsv"
    conda:
        "../../envs/autalk.yaml"
    shell:
        "autalk preprocess --config {params.config} --dataset {wildcards.dataset} --manifest {input.manifest}"
        " --speaker {wildcards.speaker} --out-dir {output.clips} --qc {output.qc} --threads {threads} 2> {log}"


rule qc_summary:
    """Gather per-speaker QC and landmarks into dataset tables; print and write counts per reason/speaker."""
    input:
        qc=qc_tables,
        clips=clip_dirs,
    output:
        qc="resources/{dataset}/qc.parquet",
        landmarks="resources/{dataset}/landmarks.parquet",
        summary=report("results/{dataset}/qc_summary.csv", caption="../report/qc_summary.rst", category="Preprocessing"),
    params:
        clips_root="resources/{dataset}/clips",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "results/{dataset}/logs/qc_summary.log",
    benchmark:
        "results/{dataset}/benchmarks/qc_summary.tsv"
    conda:
        "../../envs/autalk.yaml"
    shell:
        "autalk qc-summary --qc-tables {input.qc} --clips-root {params.clips_root} --qc {output.qc}"
        " --landmarks {output.landmarks} --summary {output.summary} 2> {log}"
