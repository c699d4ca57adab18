# The offline demo corpus: synthesised from packaged photographs and espeak-ng speech, in GRID's layout,
# with ground truth (landmarks, AU intensities, phoneme timings) that real corpora lack.


rule synthesize_demo:
    output:
        flag=paths.SYNTHESIZED,
        landmarks=paths.TRUTH_LANDMARKS,
        aus=paths.TRUTH_AUS,
        phonemes=paths.TRUTH_PHONEMES,
    log:
        paths.log("synthesize_demo"),
    benchmark:
        paths.benchmark("synthesize_demo")
    wildcard_constraints:
        dataset=datasets_of_kind("synthetic"),
    conda:
        "../../envs/autalk.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=stage_settings("synthesize_demo"),
        raw=paths.RAW,
    shell:
        "autalk synth --settings {params.settings:q} --dataset {wildcards.dataset} --out {params.raw}"
        " --threads {threads} 2> {log}"


rule demo_previews:
    """A contact sheet of every speaker and one muxed mp4 per speaker, for a person to look at."""
    input:
        flag=paths.SYNTHESIZED,
        manifest=paths.MANIFEST,
    output:
        sheet=report(paths.CONTACT_SHEET, caption="../report/contact_sheet.rst", category="Demo corpus"),
        videos=report(
            directory(paths.PREVIEWS),
            patterns=["{name}.mp4"],
            caption="../report/previews.rst",
            category="Demo corpus",
        ),
    log:
        paths.log("demo_previews"),
    benchmark:
        paths.benchmark("demo_previews")
    wildcard_constraints:
        dataset=datasets_of_kind("synthetic"),
    conda:
        "../../envs/autalk.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=stage_settings("demo_previews"),
    shell:
        "autalk demo-previews --settings {params.settings:q} --dataset {wildcards.dataset} --manifest {input.manifest}"
        " --sheet {output.sheet} --videos {output.videos} 2> {log}"
