"""Speech from espeak-ng (the ``espeakng_loader`` wheel) through ctypes, with per-phoneme and per-word timings.

espeak-ng runs in retrieval mode: ``espeak_Synth`` returns after calling our callback with PCM blocks and
event lists. Phoneme events (``espeakINITIALIZE_PHONEME_EVENTS``) carry each phoneme's espeak mnemonic and
its sample position, which is what makes the corpus' phoneme ground truth exact rather than estimated.
espeak-ng keeps static synthesis state (e.g. the pitch-flutter phase) across utterances and even across
``espeak_Initialize``, and seeds its noise generator from the clock, so an utterance's waveform would
depend on what the process spoke before and when. Each ``Engine`` therefore loads the library afresh (and
unloads it on close) and fixes the noise seed: the same words and voice give the same samples, whatever the
order of utterances, the number of processes or the time.
"""

from __future__ import annotations

import _ctypes
import ctypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from autalk.errors import ConfigError

_AUDIO_OUTPUT_RETRIEVAL = 1
_INITIALIZE_PHONEME_EVENTS = 0x0001
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_OK = 0
_RATE, _PITCH = 1, 3
_EVENT_LIST_TERMINATED, _EVENT_WORD, _EVENT_END, _EVENT_PHONEME = 0, 1, 5, 7
_STRESS_MARKS = "',"


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice (language + variant, e.g. ``en-us+f2``), pitch 0-100 and rate in words per minute."""

    name: str
    pitch: int
    rate: int


@dataclass
class Phone:
    phoneme: str  # espeak mnemonic without stress marks, e.g. "aI", "u:"
    word: int  # index of the word it belongs to
    start_s: float
    end_s: float


@dataclass
class Speech:
    """Mono PCM (float32, -1..1) and the phones in it; times in seconds from the first sample."""

    audio: np.ndarray
    sample_rate: int
    phones: list[Phone]

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate


class Engine:
    """A freshly loaded espeak-ng, used as a context manager. Not thread-safe (the C library is global)."""

    def __init__(self) -> None:
        import espeakng_loader

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._data = espeakng_loader.get_data_path()
        self.sample_rate = self._lib.espeak_Initialize(
            _AUDIO_OUTPUT_RETRIEVAL, 0, self._data.encode(), _INITIALIZE_PHONEME_EVENTS)
        if self.sample_rate <= 0:
            raise RuntimeError("espeak-ng failed to initialise from the espeakng_loader wheel's data")
        self._blocks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, str]] = []
        self._callback = _CALLBACK(self._collect)  # kept referenced: C holds the pointer
        self._lib.espeak_SetSynthCallback(self._callback)
        self._lib.espeak_ng_SetRandSeed(0)  # espeak-ng seeds its noise generator from the clock

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self._lib.espeak_Terminate()
        _ctypes.dlclose(self._lib._handle)  # the next Engine starts from the library's initial state

    def _collect(self, wav, n, events) -> int:
        if n > 0:
            self._blocks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            e = events[i]
            name = e.id.string.decode("ascii", "replace") if e.type == _EVENT_PHONEME else ""
            self._events.append((e.type, e.text_position, e.sample, name))
            i += 1
        return 0

    def check_voice(self, voice: Voice) -> None:
        """Raise ConfigError unless espeak-ng knows the voice (and its variant)."""
        variant = voice.name.partition("+")[2]
        known_variant = not variant or (Path(self._data) / "voices" / "!v" / variant).is_file()
        if not known_variant or self._lib.espeak_SetVoiceByName(voice.name.encode()) != _EE_OK:
            raise ConfigError(f"source.synth.voices: espeak-ng has no voice {voice.name!r} "
                              "(use a language such as 'en' or 'en-us', optionally with a variant: 'en+f2')")

    def say(self, words: tuple[str, ...], voice: Voice) -> Speech:
        """Speak the words; each phone is attributed to the word whose text span its event points into."""
        self.check_voice(voice)
        self._lib.espeak_SetParameter(_RATE, int(voice.rate), 0)
        self._lib.espeak_SetParameter(_PITCH, int(voice.pitch), 0)
        text = " ".join(words)
        starts = np.cumsum([0] + [len(w) + 1 for w in words[:-1]]) + 1  # espeak's positions are 1-based
        self._blocks.clear()
        self._events.clear()
        data = text.encode() + b"\0"
        err = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        self._lib.espeak_Synchronize()
        if err != _EE_OK or not self._blocks:
            raise RuntimeError(f"espeak-ng failed (error {err}) on {text!r}")
        audio = np.concatenate(self._blocks).astype(np.float32) / 32768.0
        sr = self.sample_rate
        marks = [(sample, name, pos) for kind, pos, sample, name in self._events if kind == _EVENT_PHONEME]
        end = max([s for kind, _, s, _ in self._events if kind == _EVENT_END] + [len(audio)])
        phones = []
        for k, (sample, name, pos) in enumerate(marks):
            stop = marks[k + 1][0] if k + 1 < len(marks) else end
            name = name.strip(_STRESS_MARKS)
            if name.startswith("_") or stop <= sample:  # pauses are silence, not phones
                continue
            if not any(c.isalnum() or c == "@" for c in name):  # a linking mark (";"): part of the previous phone
                if phones:
                    phones[-1].end_s = stop / sr
                continue
            word = int(np.searchsorted(starts, pos, side="right") - 1)
            phones.append(Phone(name, max(word, 0), sample / sr, stop / sr))
        return Speech(audio, sr, phones)


def speak(words: tuple[str, ...], voice: Voice) -> Speech:
    """Speak the words with a fresh engine (reproducible samples)."""
    with Engine() as engine:
        return engine.say(words, voice)


def check_voices(voices: list[Voice]) -> None:
    """Raise ConfigError naming the first voice espeak-ng does not know."""
    with Engine() as engine:
        for voice in voices:
            engine.check_voice(voice)


def resample(speech: Speech, sample_rate: int) -> Speech:
    """Polyphase resampling (22,050 Hz -> e.g. 16 kHz); timings are in seconds and carry over unchanged."""
    if sample_rate == speech.sample_rate:
        return speech
    g = np.gcd(sample_rate, speech.sample_rate)
    audio = resample_poly(speech.audio, sample_rate // g, speech.sample_rate // g).astype(np.float32)
    return Speech(audio, sample_rate, speech.phones)
