# The offline demo corpus: synthesised from packaged photographs and espeak-ng speech, in GRID's layout,
# with ground truth (landmarks, AU intensities, phoneme timings) that real corpora lack.


rule synthesize_demo:
    output:
        flag="resources/{dataset}/raw/synth.complete",
        landmarks="resources/{dataset}/raw/ground_truth/landmarks.parquet",
        aus="resources/{dataset}/raw/ground_truth/aus.parquet",
        phonemes="resources/{dataset}/raw/ground_truth/phonemes.parquet",
    params:
        config=CONFIG_ARGS,
        settings=settings("source", "speakers", "aus"),
        raw="resources/{dataset}/raw",
    wildcard_constraints:
        dataset=datasets_of_kind("synthetic"),
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    log:
        "results/{dataset}/logs/synthesize_demo.log",
    benchmark:
        "results/{dataset}/benchmarks/synthesize_demo.tsv"
    conda:
        "../../envs/autalk.yaml"
    shell:
        "autalk synth --config {params.config} --dataset {wildcards.dataset} --out {params.raw}"
        " --threads {threads} 2> {log}"


rule demo_previews:
    """A contact sheet of every speaker and one muxed mp4 per speaker, for a person to look at."""
    input:
        flag="resources/{dataset}/raw/synth.complete",
        manifest="resources/{dataset}/manifest.parquet",
    output:
        sheet=report("results/{dataset}/contact_sheet.png", caption="../report/contact_sheet.rst", category="Demo corpus"),
        videos=report(
            directory("results/{dataset}/previews"),
            patterns=["{name}.mp4"],
            caption="../report/previews.rst",
            category="Demo corpus",
        ),
    params:
        config=CONFIG_ARGS,
        settings=settings("splits"),
    wildcard_constraints:
        dataset=datasets_of_kind("synthetic"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        "results/{dataset}/logs/demo_previews.log",
    benchmark:
        "results/{dataset}/benchmarks/demo_previews.tsv"
    conda:
        "../../envs/autalk.yaml"
    shell:
        "autalk demo-previews --config {params.config} --dataset {wildcards.dataset} --manifest {input.manifest}"
        " --sheet {output.sheet} --videos {output.videos} 2> {log}"
