"""Every file and folder the workflow writes, as one pattern each (Snakemake wildcards in braces).

Rules name these patterns rather than spell paths out, and code that looks for a workflow's files formats them
(``paths.QC.format(dataset="demo")``), so a path changes in one place. ``resources/`` holds what later stages
read (corpus, clips, labels, models); ``results/`` what a person reads (tables, figures, videos, logs).
"""

from pathlib import Path

# Acquisition: the raw corpus in GRID's layout ({RAW}/{speaker}/video|audio|align) and its manifest.
RAW = "resources/{dataset}/raw"
DOWNLOADS = "resources/{dataset}/downloads"
GRID_ACQUIRED = RAW + "/{speaker}.acquired"
LOCAL_LOCATED = RAW + "/local.complete"
SYNTHESIZED = RAW + "/synth.complete"
TRUTH_LANDMARKS = RAW + "/ground_truth/landmarks.parquet"
TRUTH_AUS = RAW + "/ground_truth/aus.parquet"
TRUTH_PHONEMES = RAW + "/ground_truth/phonemes.parquet"
MANIFEST = "resources/{dataset}/manifest.parquet"
CONTACT_SHEET = "results/{dataset}/contact_sheet.png"
PREVIEWS = "results/{dataset}/previews"

# Preprocessing: one clip file per kept utterance ({CLIPS}/{speaker}/{utt_id}.npz) and the QC tables.
CLIPS = "resources/{dataset}/clips"
SPEAKER_CLIPS = CLIPS + "/{speaker}"
CLIP_IN_CLIPS = "{speaker}/{utt_id}.npz"
SPEAKER_QC = "resources/{dataset}/qc/{speaker}.parquet"
QC = "resources/{dataset}/qc.parquet"
LANDMARKS = "resources/{dataset}/landmarks.parquet"
QC_SUMMARY = "results/{dataset}/qc_summary.csv"

# Action units: labels, and the pretrained networks with their test-speaker metrics.
PYFEAT_RAW = "resources/{dataset}/au_pyfeat_raw.parquet"
AU_LABELS = "resources/{dataset}/au_labels.parquet"
AU_AGREEMENT = "results/{dataset}/au_label_agreement.csv"
AU_CLASSIFIER = "resources/{dataset}/models/au_classifier.pt"
AU_CLASSIFIER_METRICS = "results/{dataset}/au_classifier_metrics.csv"
AUDIO2AU = "resources/{dataset}/models/audio2au.pt"
AUDIO2AU_METRICS = "results/{dataset}/audio2au_metrics.csv"
AUDIO2AU_PLOT = "results/{dataset}/audio2au_trajectories.png"

# Training: the sync expert, and one generator per variant (its run folder holds the resumable checkpoints).
SYNC_EXPERT = "resources/{dataset}/models/sync_expert.pt"
SYNC_EXPERT_METRICS = "results/{dataset}/sync_expert_metrics.csv"
GENERATOR = "resources/{dataset}/models/generator/{variant}.pt"
TRAIN_RUN = "resources/{dataset}/train/{variant}"
TRAINING_CURVES = "results/{dataset}/training/{variant}_curves.png"

# Generation and evaluation: {variant} is a trained variant or a reference system (autalk.systems).
GENERATED = "results/{dataset}/generated/{variant}"
SAMPLES = "results/{dataset}/samples/{variant}"
CLIP_METRICS = "results/{dataset}/metrics/{variant}.csv"
TRACES = "results/{dataset}/metrics/{variant}.traces.npz"
METRICS = "results/{dataset}_metrics.csv"
METRICS_ALL_FRAMES = "results/{dataset}_metrics_all_frames.csv"
ABLATION = "results/{dataset}_ablation.csv"
PAPER_TABLES = "results/{dataset}_paper_tables.md"
ALL_PAPER_TABLES = "results/paper_tables.md"
ALL_PAPER_TABLES_LOG = "results/logs/paper_tables.log"
ALL_PAPER_TABLES_BENCHMARK = "results/benchmarks/paper_tables.tsv"
AU_TRAJECTORIES = "results/{dataset}/evaluation/au_trajectories.png"
SYNC_CURVES = "results/{dataset}/evaluation/sync_curves.png"
OVERVIEW = "results/{dataset}/overview.html"


def clip_file(clips_root: str | Path, speaker: str, utt_id: str) -> Path:
    """A clip's file in a clips folder (``CLIPS``, or the one a command is given)."""
    return Path(clips_root) / CLIP_IN_CLIPS.format(speaker=speaker, utt_id=utt_id)


def log(job: str) -> str:
    """A job's log, e.g. ``log("acquire/{speaker}")``."""
    return f"results/{{dataset}}/logs/{job}.log"


def benchmark(job: str) -> str:
    """A job's run time and memory, as Snakemake's ``benchmark:`` records them."""
    return f"results/{{dataset}}/benchmarks/{job}.tsv"
