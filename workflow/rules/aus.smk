# Stage 3: speech-related AU labels per aligned frame, the frozen AU classifier (a loss and a metric), and the
# audio-to-AU networks whose features drive the generator.


rule detect_aus_pyfeat:
    """Optional backend (aus.backend: pyfeat): py-feat's Detector in its own env; run with --sdm conda."""
    input:
        qc=paths.QC,
        clips=clip_dirs,
    output:
        raw=paths.PYFEAT_RAW,
    log:
        paths.log("detect_aus_pyfeat"),
    benchmark:
        paths.benchmark("detect_aus_pyfeat")
    conda:
        "../../envs/pyfeat.yaml"
    threads: 4
    resources:
        mem_mb=8000,
        runtime=480,
    params:
        script=str(Path(workflow.basedir) / "src" / "autalk" / "aus" / "pyfeat_detect.py"),
        clips_root=paths.CLIPS,
    shell:
        "python {params.script} --qc {input.qc} --clips-root {params.clips_root} --output {output.raw} 2> {log}"


rule label_aus:
    input:
        qc=paths.QC,
        landmarks=paths.LANDMARKS,
        clips=clip_dirs,
        pyfeat=pyfeat_raw,
    output:
        labels=paths.AU_LABELS,
    log:
        paths.log("label_aus"),
    benchmark:
        paths.benchmark("label_aus")
    conda:
        "../../envs/autalk.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        settings=stage_settings("label_aus"),
        backend=au_backend,
        clips_root=paths.CLIPS,
        pyfeat=pyfeat_arg,
    shell:
        "autalk label-aus --settings {params.settings:q} --dataset {wildcards.dataset} --qc {input.qc}"
        " --landmarks {input.landmarks} --clips-root {params.clips_root} {params.pyfeat} --output {output.labels} 2> {log}"


rule au_label_agreement:
    """Demo only: each labelling backend that ran against the synthesiser's ground-truth AUs."""
    input:
        labels=paths.AU_LABELS,
        truth=paths.TRUTH_AUS,
    output:
        table=report(paths.AU_AGREEMENT, caption="../report/au_label_agreement.rst", category="Action units"),
    log:
        paths.log("au_label_agreement"),
    benchmark:
        paths.benchmark("au_label_agreement")
    wildcard_constraints:
        dataset=datasets_of_kind("synthetic"),
    conda:
        "../../envs/autalk.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=stage_settings("au_label_agreement"),
    shell:
        "autalk au-agreement --settings {params.settings:q} --dataset {wildcards.dataset} --labels {input.labels}"
        " --truth {input.truth} --output {output.table} 2> {log}"


rule pretrain_au_classifier:
    input:
        labels=paths.AU_LABELS,
        qc=paths.QC,
        clips=clip_dirs,
    output:
        model=paths.AU_CLASSIFIER,
        metrics=report(paths.AU_CLASSIFIER_METRICS, caption="../report/au_classifier.rst", category="Action units"),
    log:
        paths.log("pretrain_au_classifier"),
    benchmark:
        paths.benchmark("pretrain_au_classifier")
    conda:
        "../../envs/autalk.yaml"
    threads: 4
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    params:
        settings=stage_settings("pretrain_au_classifier"),
        clips_root=paths.CLIPS,
    shell:
        "autalk pretrain-au-classifier --settings {params.settings:q} --dataset {wildcards.dataset}"
        " --labels {input.labels} --qc {input.qc} --clips-root {params.clips_root} --model {output.model}"
        " --metrics {output.metrics} 2> {log}"


rule pretrain_audio2au:
    input:
        labels=paths.AU_LABELS,
        qc=paths.QC,
        clips=clip_dirs,
    output:
        model=paths.AUDIO2AU,
        metrics=report(paths.AUDIO2AU_METRICS, caption="../report/audio2au.rst", category="Action units"),
        plot=report(paths.AUDIO2AU_PLOT, caption="../report/audio2au_plot.rst", category="Action units"),
    log:
        paths.log("pretrain_audio2au"),
    benchmark:
        paths.benchmark("pretrain_audio2au")
    conda:
        "../../envs/autalk.yaml"
    threads: 4
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    params:
        settings=stage_settings("pretrain_audio2au"),
        clips_root=paths.CLIPS,
    shell:
        "autalk pretrain-audio2au --settings {params.settings:q} --dataset {wildcards.dataset} --labels {input.labels}"
        " --qc {input.qc} --clips-root {params.clips_root} --model {output.model} --metrics {output.metrics}"
        " --plot {output.plot} 2> {log}"
