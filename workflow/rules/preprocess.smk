# Stage 2: per speaker, detect/track/align faces (dlib) and extract MFCC windows (librosa) into one compact
# file per clip; every manifest clip gets exactly one QC row (kept, or rejected with a reason).


rule preprocess_speaker:
    input:
        manifest=paths.MANIFEST,
    output:
        clips=directory(paths.SPEAKER_CLIPS),
        qc=paths.SPEAKER_QC,
    log:
        paths.log("preprocess/{speaker}"),
    benchmark:
        paths.benchmark("preprocess/{speaker}")
    conda:
        "../../envs/autalk.yaml"
    threads: 4
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        settings=stage_settings("preprocess_speaker"),
    shell:
        "autalk preprocess --settings {params.settings:q} --dataset {wildcards.dataset} --manifest {input.manifest}"
        " --speaker {wildcards.speaker} --out-dir {output.clips} --qc {output.qc} --threads {threads} 2> {log}"


rule qc_summary:
    """Gather per-speaker QC and landmarks into dataset tables; print and write counts per reason/speaker."""
    input:
        qc=qc_tables,
        clips=clip_dirs,
    output:
        qc=paths.QC,
        landmarks=paths.LANDMARKS,
        summary=report(paths.QC_SUMMARY, caption="../report/qc_summary.rst", category="Preprocessing"),
    log:
        paths.log("qc_summary"),
    benchmark:
        paths.benchmark("qc_summary")
    conda:
        "../../envs/autalk.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        clips_root=paths.CLIPS,
    shell:
        "autalk qc-summary --qc-tables {input.qc} --clips-root {params.clips_root} --qc {output.qc}"
        " --landmarks {output.landmarks} --summary {output.summary} 2> {log}"
