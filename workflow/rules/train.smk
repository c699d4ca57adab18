# Stage 4: the generator (one per ablation variant) and the audio-visual sync expert used as a metric.
# Checkpoints live in the run folder (paths.TRAIN_RUN), outside the declared outputs, so a killed job resumes
# from its last checkpoint when rerun.


rule train_sync_expert:
    input:
        qc=paths.QC,
        clips=clip_dirs,
    output:
        model=paths.SYNC_EXPERT,
        metrics=report(paths.SYNC_EXPERT_METRICS, caption="../report/sync_expert.rst", category="Evaluation"),
    log:
        paths.log("train_sync_expert"),
    benchmark:
        paths.benchmark("train_sync_expert")
    conda:
        "../../envs/autalk.yaml"
    threads: 4
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    params:
        settings=stage_settings("train_sync_expert"),
        clips_root=paths.CLIPS,
    shell:
        "autalk train-sync-expert --settings {params.settings:q} --dataset {wildcards.dataset} --qc {input.qc}"
        " --clips-root {params.clips_root} --model {output.model} --metrics {output.metrics} 2> {log}"


rule train_generator:
    input:
        labels=paths.AU_LABELS,
        qc=paths.QC,
        clips=clip_dirs,
        au_classifier=paths.AU_CLASSIFIER,
        audio2au=paths.AUDIO2AU,
    output:
        model=paths.GENERATOR,
        curves=report(paths.TRAINING_CURVES, caption="../report/training_curves.rst", category="Training"),
    log:
        paths.log("train_generator/{variant}"),
    benchmark:
        paths.benchmark("train_generator/{variant}")
    conda:
        "../../envs/autalk.yaml"
    threads: 4
    resources:
        mem_mb=16000,
        runtime=2880,
        gpu=1,
    params:
        launch=trainer_launcher,
        settings=stage_settings("train_generator"),
        clips_root=paths.CLIPS,
        run_dir=paths.TRAIN_RUN,
    shell:
        "{params.launch} train --settings {params.settings:q} --dataset {wildcards.dataset} --variant {wildcards.variant}"
        " --labels {input.labels} --qc {input.qc} --clips-root {params.clips_root}"
        " --au-classifier {input.au_classifier} --audio2au {input.audio2au}"
        " --run-dir {params.run_dir} --model {output.model} --curves {output.curves} 2> {log}"
