"""The demo corpus: every speaker's utterances in GRID's raw layout, plus ground-truth tables.

Layout under ``out``: ``{speaker}/video/{sentence}.mp4`` (H.264, ``fps``, ``width`` x ``height``),
``{speaker}/audio/{sentence}.wav`` (16-bit mono), ``{speaker}/align/{sentence}.align`` (GRID format, with
``sil``/``sp``), ``ground_truth/{landmarks,aus,phonemes}.parquet`` (docs/architecture.md) and the flag
``synth.complete``, written last; ``ground_truth/identity_distances.csv`` holds the face-recognition
distance between every two speakers (``autalk.demo.recognition``), measured before anything is rendered.
Utterances are independent jobs (one process each with ``threads`` > 1); each draws from its own generator
seeded by (seed, speaker index, utterance index), so the corpus does not depend on the number of processes or
their order.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from autalk.atomic import atomic_file
from autalk.config import Splits, SynthConfig
from autalk.demo import articulation, media
from autalk.demo.faces import Identity, make_identities
from autalk.demo.grammar import Sentence, sample_sentences
from autalk.demo.recognition import check_split, distance_matrix, face_descriptor
from autalk.demo.render import articulate, head_motion, move_rigidly, paint_mouth
from autalk.demo.speech import Voice, check_voices, resample, speak
from autalk.workers import spawn_pool

log = logging.getLogger(__name__)

FLAG = "synth.complete"
GROUND_TRUTH = "ground_truth"
DISTANCES = "identity_distances.csv"
_LEAD_SILENCE_S = (0.3, 0.6)  # GRID's speakers start after a short pause
_TAIL_SILENCE_S = 0.25  # at least this much silence after the last phone
_NOISE_DBFS = -66.0  # a microphone's noise floor: GRID's silences are not digital zeros
# The lips move ahead of the sound they shape (anticipatory coarticulation). Without this lead the symmetric
# coarticulation model's lip opening trailed the audio energy by ~45 ms (its best-correlating lag, measured
# at 5 ms resolution over the tiny demo corpus), a frame's worth of asynchrony that the corpus would teach
# every model; with it the best frame lag between lip opening and audio energy is 0.
_ARTICULATORY_LEAD_S = 0.045
_BLINKS_PER_S = 0.3


@dataclass
class Job:
    speaker: str
    speaker_index: int
    utt_index: int
    sentence: Sentence
    voice: Voice
    identity: Identity
    synth: SynthConfig
    out: Path

    @property
    def utt_id(self) -> str:
        return f"{self.speaker}_{self.sentence.file_id}"


@dataclass
class Truth:
    """One utterance's ground truth, gathered into the corpus tables by the parent process."""

    utt_id: str
    landmarks: np.ndarray  # (T, 68, 2) as rendered, video pixels
    params: np.ndarray  # (T, 5) articulation parameters
    blink: np.ndarray  # (T,) eye closure 0..1
    phonemes: pd.DataFrame


def voice_for(synth: SynthConfig, index: int) -> Voice:
    """Speaker ``index``'s voice: the config lists cycle, so any number of speakers gets one."""
    return Voice(synth.voices[index % len(synth.voices)], synth.pitches[index % len(synth.pitches)],
                 synth.rates[index % len(synth.rates)])


# ------------------------------------------------------------------------------------------ one utterance
def _word_entries(phones: list, n_words: int, words: tuple[str, ...], total_s: float) -> list[tuple[float, float, str]]:
    """GRID alignment entries: sil, the words (with sp where there is a pause between two), sil."""
    entries = []
    cursor = 0.0
    for w in range(n_words):
        mine = [p for p in phones if p.word == w]
        if not mine:
            raise RuntimeError(f"espeak-ng produced no phone for the word {words[w]!r}")
        start, end = mine[0].start_s, mine[-1].end_s
        if start > cursor + 1e-3:
            entries.append((cursor, start, "sil" if w == 0 else "sp"))
        entries.append((start, end, words[w]))
        cursor = end
    entries.append((cursor, total_s, "sil"))
    return entries


def _blinks(rng: np.random.Generator, times: np.ndarray, total_s: float) -> np.ndarray:
    closure = np.zeros_like(times)
    for centre in rng.uniform(0.2, total_s - 0.2, rng.poisson(_BLINKS_PER_S * total_s)):
        closure = np.maximum(closure, np.exp(-(((times - centre) / 0.07) ** 2)))
    return closure


def _head_motions(rng: np.random.Generator, times: np.ndarray, centre: np.ndarray) -> list[np.ndarray]:
    """Slow, small head motion: a sum of sinusoids in roll (~1 degree), scale (~1%) and shift (~2 px)."""
    def wave(amplitude: float) -> np.ndarray:
        f = rng.uniform(0.15, 0.6, 2)
        phase = rng.uniform(0, 2 * np.pi, 2)
        return amplitude * (0.7 * np.sin(2 * np.pi * f[0] * times + phase[0])
                            + 0.3 * np.sin(2 * np.pi * f[1] * times + phase[1]))

    angle, scale, dx, dy = wave(1.2), 1 + wave(0.01), wave(2.0), wave(1.5)
    return [head_motion(centre, angle[i], scale[i], np.array([dx[i], dy[i]])) for i in range(len(times))]


def synthesize_utterance(job: Job) -> Truth:
    """Speak, articulate, render and write one utterance's video, audio and alignment."""
    synth, identity = job.synth, job.identity
    rng = np.random.default_rng([synth.seed, job.speaker_index, job.utt_index])
    speech = resample(speak(job.sentence.spoken_words, job.voice), synth.sample_rate)
    lead = float(rng.uniform(*_LEAD_SILENCE_S))
    n_frames = max(round(synth.duration_s * synth.fps),
                   math.ceil((lead + speech.duration_s + _TAIL_SILENCE_S) * synth.fps))
    total_s = n_frames / synth.fps
    sr = synth.sample_rate

    audio = rng.normal(0.0, 10 ** (_NOISE_DBFS / 20), round(total_s * sr)).astype(np.float32)
    start = round(lead * sr)
    audio[start:start + len(speech.audio)] += 0.7 * speech.audio / max(1e-6, float(np.abs(speech.audio).max()))
    phones = [type(p)(p.phoneme, p.word, p.start_s + lead, p.end_s + lead) for p in speech.phones]

    times = (np.arange(n_frames) + 0.5) / synth.fps
    segs = articulation.segments([(p.phoneme, p.start_s, p.end_s) for p in phones], total_s, rng, identity.gain)
    params = articulation.trajectory(segs, times + _ARTICULATORY_LEAD_S)
    blink = _blinks(rng, times, total_s)
    motions = _head_motions(rng, times, identity.rest[30])

    warp = identity.warper()
    frames = np.empty((n_frames, synth.height, synth.width, 3), np.uint8)
    landmarks = np.empty((n_frames, 68, 2), np.float64)
    for i in range(n_frames):
        shape = articulate(identity.rest, params[i], blink[i])
        points = move_rigidly(shape, motions[i])
        frame = warp(shape, motions[i])
        paint_mouth(frame, points, identity.teeth, identity.cavity)
        frames[i], landmarks[i] = frame, points

    speaker_dir = job.out / job.speaker
    name = job.sentence.file_id
    media.write_video(speaker_dir / "video" / f"{name}.mp4", frames, synth.fps, synth.crf)
    media.write_wav(speaker_dir / "audio" / f"{name}.wav", audio, sr)
    words = job.sentence.words
    media.write_align(speaker_dir / "align" / f"{name}.align", _word_entries(phones, len(words), words, total_s))
    phonemes = pd.DataFrame({
        "utt_id": job.utt_id,
        "phoneme": [p.phoneme for p in phones],
        "viseme": ["+".join(articulation.visemes_of(p.phoneme)) for p in phones],
        "word": [words[p.word] for p in phones],
        "start_s": [p.start_s for p in phones],
        "end_s": [p.end_s for p in phones],
    })
    return Truth(job.utt_id, landmarks, params, blink, phonemes)


# ------------------------------------------------------------------------------------------ the corpus
def _tables(truths: list[Truth]) -> dict[str, pd.DataFrame]:
    lm_rows, au_rows = [], []
    for t in truths:
        n = len(t.landmarks)
        base = {"utt_id": [t.utt_id] * n, "frame": np.arange(n, dtype=np.int32)}
        lm = {**base, **{f"x{k}": t.landmarks[:, k, 0].astype(np.float32) for k in range(68)},
              **{f"y{k}": t.landmarks[:, k, 1].astype(np.float32) for k in range(68)}}
        lm_rows.append(pd.DataFrame(lm))
        aus = articulation.action_units(t.params)
        au = {**base, **{k: v.astype(np.float32) for k, v in aus.items()},
              **{p: t.params[:, i].astype(np.float32) for i, p in enumerate(articulation.PARAMS)},
              "blink": t.blink.astype(np.float32)}
        au_rows.append(pd.DataFrame(au))
    return {"landmarks": pd.concat(lm_rows, ignore_index=True), "aus": pd.concat(au_rows, ignore_index=True),
            "phonemes": pd.concat([t.phonemes for t in truths], ignore_index=True)}


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    with atomic_file(path) as tmp:
        df.to_parquet(tmp, index=False)


def plan(synth: SynthConfig, speakers: list[str], out: Path,
         splits: Splits | None = None) -> tuple[list[Job], pd.DataFrame]:
    """Every utterance of the corpus as an independent job, and the speakers' face distances; voices,
    identities and (when ``splits`` are given) the rule that held-out speakers are other people are
    checked first."""
    voices = [voice_for(synth, k) for k in range(len(speakers))]
    check_voices(voices)
    identities = make_identities(synth.photos, len(speakers), synth.width, synth.height, synth.seed)
    distances = distance_matrix(speakers, [face_descriptor(ident.rest_frame(), f"speaker {s} ({ident.name})")
                                           for s, ident in zip(speakers, identities)])
    if splits is not None:
        check_split(distances, splits, {s: ident.name for s, ident in zip(speakers, identities)})
    jobs = []
    for k, speaker in enumerate(speakers):
        rng = np.random.default_rng([synth.seed, k])
        for j, sentence in enumerate(sample_sentences(rng, synth.utterances_per_speaker)):
            jobs.append(Job(speaker, k, j, sentence, voices[k], identities[k], synth, out))
    return jobs, distances


def _one_thread() -> None:
    """Worker set-up: parallelism comes from the processes, so each keeps OpenCV to one thread."""
    import cv2

    cv2.setNumThreads(1)


def synthesize_corpus(synth: SynthConfig, speakers: list[str], out: Path, threads: int = 1,
                      splits: Splits | None = None) -> list[Identity]:
    """Write the whole corpus under ``out`` (which it owns: the speakers' folders are replaced) and return
    the identities used, in speaker order. ``splits``: refuse before rendering when a val or test speaker is
    the same person as a speaker of another split (None: measure the distances, check nothing)."""
    began = time.perf_counter()
    out = Path(out)
    jobs, distances = plan(synth, speakers, out, splits)
    (out / FLAG).unlink(missing_ok=True)
    for speaker in speakers:
        shutil.rmtree(out / speaker, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    progress = dict(total=len(jobs), unit="utt", desc="synthesising", disable=None)
    if threads > 1:
        with spawn_pool(min(threads, len(jobs)), _one_thread) as pool:
            truths = list(tqdm(pool.imap(synthesize_utterance, jobs), **progress))
    else:
        truths = [synthesize_utterance(job) for job in tqdm(jobs, **progress)]
    for name, df in _tables(truths).items():
        _write_parquet(df, out / GROUND_TRUTH / f"{name}.parquet")
    with atomic_file(out / GROUND_TRUTH / DISTANCES) as tmp:
        distances.round(4).to_csv(tmp, index_label="speaker")
    (out / FLAG).write_text(f"{len(jobs)} utterances, {len(speakers)} speakers\n")
    n_frames = sum(len(t.landmarks) for t in truths)
    log.info("synthesised %d utterances (%d frames) of %d speakers in %.1f s with %d process(es) into %s",
             len(jobs), n_frames, len(speakers), time.perf_counter() - began, threads, out)
    return [jobs[k * synth.utterances_per_speaker].identity for k in range(len(speakers))]
