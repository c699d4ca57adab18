# Stage 1: obtain the raw corpus (download, synthesise or locate) and describe it in one manifest table.


rule acquire_grid_speaker:
    """Download, verify and extract one GRID talker's video and alignment (and optional audio) archives.

    Resumable: partial archives wait in resources/{dataset}/downloads as .part files for the rerun."""
    output:
        flag="resources/{dataset}/raw/{speaker}.acquired",
    params:
        config=CONFIG_ARGS,
        settings=settings("source"),
        raw="resources/{dataset}/raw",
        downloads="resources/{dataset}/downloads",
    wildcard_constraints:
        dataset=datasets_of_kind("grid"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    log:
        "results/{dataset}/logs/acquire/{speaker}.log",
    benchmark:
        "results/{dataset}/benchmarks/acquire/{speaker}.tsv"
    conda:
        "../../envs/autalk.yaml"
    shell:
        "autalk download-grid --config {params.config} --dataset {wildcards.dataset} --speaker {wildcards.speaker}"
        " --downloads {params.downloads} --raw {params.raw} --flag {output.flag} 2> {log}"


rule locate_local_corpus:
    """Check a corpus that needs registration (TCD-TIMIT) at source.local_path; link its clips into raw/."""
    output:
        flag="resources/{dataset}/raw/local.complete",
    params:
        config=CONFIG_ARGS,
        settings=settings("source", "speakers"),
        raw="resources/{dataset}/raw",
    wildcard_constraints:
        dataset=datasets_of_kind("local"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "results/{dataset}/logs/acquire/locate.log",
    benchmark:
        "results/{dataset}/benchmarks/acquire/locate.tsv"
    conda:
        "../../envs/autalk.yaml"
    shell:
        "autalk locate-local --config {params.config} --dataset {wildcards.dataset} --raw {params.raw}"
        " --flag {output.flag} 2> {log}"


rule build_manifest:
    """One row per utterance: the single source of truth every later stage reads. Unreadable files stay in
    as rows with probe_error set, for QC to reject with a reason."""
    input:
        acquired_flags,
    output:
        manifest="resources/{dataset}/manifest.parquet",
    params:
        config=CONFIG_ARGS,
        settings=settings("source", "speakers"),
        raw="resources/{dataset}/raw",
    threads: 4
    resources:
        mem_mb=2000,
        runtime=30,
    log:
        "results/{dataset}/logs/manifest.log",
    benchmark:
        "results/{dataset}/benchmarks/manifest.tsv"
    conda:
        "../../envs/autalk.yaml"
    shell:
        "autalk manifest --config {params.config} --dataset {wildcards.dataset} --raw {params.raw}"
        " --output {output.manifest} --threads {threads} 2> {log}"
