"""Phonemes -> visemes -> articulation parameters -> ground-truth action-unit intensities.

Each espeak-ng phoneme maps to one viseme (two for diphthongs: "aI" glides from "aa" to "ih"). A viseme is a
target for the five articulation parameters, each 0..1, plus a dominance: how strongly it holds its target
against its neighbours. The trajectory is the dominance-weighted mean of all targets (Cohen & Massaro's
coarticulation model): each segment's dominance is flat over the middle of the segment and decays
exponentially outside it, so a bilabial closure (high dominance) really closes the lips while a schwa (low
dominance) is coloured by its neighbours.

The ground-truth AU intensities are a fixed function of the same parameters (``AU_FORMULAS``, the one place
this mapping is defined; docs/demo_corpus.md prints it as a table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from autalk.config import MAX_INTENSITY

PARAMS = ["jaw", "lip_part", "stretch", "round", "upper_raise"]


@dataclass(frozen=True)
class Viseme:
    jaw: float  # jaw opening (chin drop)
    lip_part: float  # gap between the inner lips
    stretch: float  # mouth corners pulled outwards
    round: float  # lips rounded and protruded (corners pulled in)
    upper_raise: float  # upper lip raised off the teeth
    dominance: float

    @property
    def target(self) -> np.ndarray:
        return np.array([self.jaw, self.lip_part, self.stretch, self.round, self.upper_raise])


# Names follow the common 15-viseme set (sil PP FF TH DD kk CH SS nn RR aa E ih oh ou), with "ww" (w) and
# "ax" (schwa) added; "nn" folds into DD since n and l look like t and d from the front.
VISEMES: dict[str, Viseme] = {
    "sil": Viseme(0.00, 0.00, 0.00, 0.00, 0.00, 0.6),
    "PP": Viseme(0.08, 0.00, 0.05, 0.05, 0.00, 6.0),
    "FF": Viseme(0.10, 0.10, 0.10, 0.00, 0.45, 4.0),
    "TH": Viseme(0.18, 0.22, 0.15, 0.00, 0.15, 2.0),
    "DD": Viseme(0.22, 0.25, 0.20, 0.00, 0.05, 1.0),
    "kk": Viseme(0.30, 0.32, 0.10, 0.00, 0.05, 0.8),
    "CH": Viseme(0.15, 0.18, 0.00, 0.60, 0.35, 3.0),
    "SS": Viseme(0.10, 0.12, 0.40, 0.00, 0.15, 2.5),
    "RR": Viseme(0.18, 0.22, 0.00, 0.55, 0.10, 2.0),
    "ww": Viseme(0.10, 0.12, 0.00, 0.95, 0.00, 3.0),
    "aa": Viseme(0.85, 0.90, 0.20, 0.00, 0.15, 1.5),
    "E": Viseme(0.55, 0.60, 0.45, 0.00, 0.15, 1.5),
    "ih": Viseme(0.28, 0.32, 0.70, 0.00, 0.10, 1.5),
    "oh": Viseme(0.60, 0.55, 0.00, 0.65, 0.05, 1.5),
    "ou": Viseme(0.28, 0.22, 0.00, 0.95, 0.00, 2.0),
    "ax": Viseme(0.38, 0.42, 0.10, 0.00, 0.05, 0.7),
}

# espeak-ng's English phoneme mnemonics (stress marks removed) -> viseme(s).
PHONEME_VISEMES: dict[str, tuple[str, ...]] = {
    **{p: ("PP",) for p in ["p", "b", "m"]},
    **{p: ("FF",) for p in ["f", "v"]},
    **{p: ("TH",) for p in ["T", "D"]},
    **{p: ("DD",) for p in ["t", "d", "n", "l", "t#", "n-", "l/", "?", "d#"]},
    **{p: ("kk",) for p in ["k", "g", "N", "x", "h"]},
    **{p: ("CH",) for p in ["S", "Z", "tS", "dZ"]},
    **{p: ("SS",) for p in ["s", "z"]},
    **{p: ("RR",) for p in ["r", "r-", "3"]},
    "w": ("ww",), "j": ("ih",),
    **{p: ("aa",) for p in ["a", "A:", "A@", "V", "aa"]},
    **{p: ("E",) for p in ["E", "e", "E2"]},
    **{p: ("ih",) for p in ["I", "i", "i:", "I#", "I2"]},
    **{p: ("oh",) for p in ["0", "O", "O:", "O@", "o@", "02"]},
    **{p: ("ou",) for p in ["u:", "U", "u"]},
    **{p: ("ax",) for p in ["@", "a#", "3:", "@2", "@5", "@L"]},
    "aI": ("aa", "ih"), "aI@": ("aa", "ih"), "aU": ("aa", "ou"), "eI": ("E", "ih"), "e@": ("E", "ax"),
    "oU": ("oh", "ou"), "OI": ("oh", "ih"), "i@": ("ih", "ax"), "U@": ("ou", "ax"),
}


def visemes_of(phoneme: str) -> tuple[str, ...]:
    """The viseme(s) of an espeak mnemonic; an unlisted one falls back on its first letter, then schwa."""
    if phoneme in PHONEME_VISEMES:
        return PHONEME_VISEMES[phoneme]
    return PHONEME_VISEMES.get(phoneme[:1], ("ax",))


@dataclass(frozen=True)
class Segment:
    """A stretch of time with one articulation target (a phone, half a diphthong, or silence)."""

    start_s: float
    end_s: float
    target: np.ndarray
    dominance: float


def segments(phones: list[tuple[str, float, float]], duration_s: float, rng: np.random.Generator,
             gain: float, jitter: float = 0.1) -> list[Segment]:
    """Targets over the whole clip: silence around and between the phones, each phone's target scaled by
    the speaker's ``gain`` and a per-phone random factor (so AUs are not a pure function of phoneme identity)."""
    out: list[Segment] = []
    sil = VISEMES["sil"]
    cursor = 0.0
    for phoneme, start, end in phones:
        if start > cursor + 1e-4:
            out.append(Segment(cursor, start, sil.target, sil.dominance))
        names = visemes_of(phoneme)
        bounds = np.linspace(start, end, len(names) + 1)
        for name, a, b in zip(names, bounds[:-1], bounds[1:]):
            v = VISEMES[name]
            scale = gain * (1.0 + jitter * rng.standard_normal())
            target = np.clip(v.target * scale, 0.0, 1.0)
            out.append(Segment(float(a), float(b), target, v.dominance))
        cursor = end
    if duration_s > cursor:
        out.append(Segment(cursor, duration_s, sil.target, sil.dominance))
    return out


def trajectory(segs: list[Segment], times: np.ndarray, tau_s: float = 0.04) -> np.ndarray:
    """Coarticulated parameters (len(times), 5): dominance-weighted targets, each dominance flat over the
    middle half of its segment and decaying with time constant ``tau_s`` outside it."""
    centre = np.array([(s.start_s + s.end_s) / 2 for s in segs])
    half = np.array([(s.end_s - s.start_s) / 4 for s in segs])
    alpha = np.array([s.dominance for s in segs])
    targets = np.stack([s.target for s in segs])
    distance = np.maximum(0.0, np.abs(times[:, None] - centre[None, :]) - half[None, :])
    weight = alpha[None, :] * np.exp(-distance / tau_s)
    return (weight @ targets) / weight.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------------------------------ ground-truth AUs
# AU -> (FACS name, formula as written in the docs, function of the parameter columns). Intensities 0..5.
AU_FORMULAS: dict[str, tuple[str, str, Callable[[dict[str, np.ndarray]], np.ndarray]]] = {
    "AU10": ("upper lip raiser", "5 * upper_raise", lambda p: 5 * p["upper_raise"]),
    "AU14": ("dimpler", "5 * stretch * (1 - jaw)", lambda p: 5 * p["stretch"] * (1 - p["jaw"])),
    "AU18": ("lip pucker", "5 * round", lambda p: 5 * p["round"]),
    "AU20": ("lip stretcher", "5 * stretch", lambda p: 5 * p["stretch"]),
    "AU25": ("lips part", "5 * lip_part", lambda p: 5 * p["lip_part"]),
    "AU26": ("jaw drop", "5 * jaw", lambda p: 5 * p["jaw"]),
}


def action_units(params: np.ndarray) -> dict[str, np.ndarray]:
    """``AUxx_r`` intensity columns (0..5) from a (T, 5) parameter array."""
    cols = {name: params[:, i] for i, name in enumerate(PARAMS)}
    return {f"{au}_r": np.clip(f(cols), 0.0, MAX_INTENSITY) for au, (_, _, f) in AU_FORMULAS.items()}
