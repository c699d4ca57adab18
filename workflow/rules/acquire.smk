# Stage 1: obtain the raw corpus (download, synthesise or locate) and describe it in one manifest table.


rule acquire_grid_speaker:
    """Download, verify and extract one GRID talker's video and alignment (and optional audio) archives.

    Resumable: partial archives wait in resources/{dataset}/downloads as .part files for the rerun."""
    output:
        flag=paths.GRID_ACQUIRED,
    log:
        paths.log("acquire/{speaker}"),
    benchmark:
        paths.benchmark("acquire/{speaker}")
    wildcard_constraints:
        dataset=datasets_of_kind("grid"),
    conda:
        "../../envs/autalk.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        settings=stage_settings("acquire_grid_speaker"),
        raw=paths.RAW,
        downloads=paths.DOWNLOADS,
    shell:
        "autalk download-grid --settings {params.settings:q} --dataset {wildcards.dataset} --speaker {wildcards.speaker}"
        " --downloads {params.downloads} --raw {params.raw} --flag {output.flag} 2> {log}"


rule locate_local_corpus:
    """Check a corpus that needs registration (TCD-TIMIT) at source.local_path; link its clips into raw/."""
    output:
        flag=paths.LOCAL_LOCATED,
    log:
        paths.log("acquire/locate"),
    benchmark:
        paths.benchmark("acquire/locate")
    wildcard_constraints:
        dataset=datasets_of_kind("local"),
    conda:
        "../../envs/autalk.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        settings=stage_settings("locate_local_corpus"),
        raw=paths.RAW,
    shell:
        "autalk locate-local --settings {params.settings:q} --dataset {wildcards.dataset} --raw {params.raw}"
        " --flag {output.flag} 2> {log}"


rule build_manifest:
    """One row per utterance: the single source of truth every later stage reads. Unreadable files stay in
    as rows with probe_error set, for QC to reject with a reason."""
    input:
        acquired_flags,
    output:
        manifest=paths.MANIFEST,
    log:
        paths.log("manifest"),
    benchmark:
        paths.benchmark("manifest")
    conda:
        "../../envs/autalk.yaml"
    threads: 4
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=stage_settings("build_manifest"),
        raw=paths.RAW,
    shell:
        "autalk manifest --settings {params.settings:q} --dataset {wildcards.dataset} --raw {params.raw}"
        " --output {output.manifest} --threads {threads} 2> {log}"
