"""GRID's sentence grammar (Cooke et al. 2006): command colour preposition letter digit adverb.

A sentence's file id is the first letter of each word with the digit as a character (``bin blue at f two now``
is ``bbaf2n``), as in the corpus. Letters are spoken by name, so the text given to the synthesiser spells
them out ("eff") while alignments keep GRID's word ("f").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COMMANDS = ["bin", "lay", "place", "set"]
COLOURS = ["blue", "green", "red", "white"]
PREPOSITIONS = ["at", "by", "in", "with"]
LETTERS = [c for c in "abcdefghijklmnopqrstuvxyz"]  # GRID has no "w"
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
ADVERBS = ["again", "now", "please", "soon"]

# How each letter's name is spelled so that espeak-ng says the name, not the article or a sound.
LETTER_NAMES = {
    "a": "eigh", "b": "bee", "c": "see", "d": "dee", "e": "ee", "f": "ef", "g": "gee", "h": "aitch",
    "i": "eye", "j": "jay", "k": "kay", "l": "el", "m": "em", "n": "en", "o": "oh", "p": "pee",
    "q": "queue", "r": "are", "s": "ess", "t": "tee", "u": "you", "v": "vee", "x": "ex", "y": "why",
    "z": "zed",
}


@dataclass(frozen=True)
class Sentence:
    words: tuple[str, ...]

    @property
    def file_id(self) -> str:
        """GRID's 6-character id: first letters, digit as its numeral."""
        command, colour, prep, letter, digit, adverb = self.words
        return f"{command[0]}{colour[0]}{prep[0]}{letter}{DIGITS.index(digit)}{adverb[0]}"

    @property
    def spoken_words(self) -> tuple[str, ...]:
        """The words as the synthesiser should read them (the letter spelled as its name)."""
        return tuple(LETTER_NAMES[w] if i == 3 else w for i, w in enumerate(self.words))

    @property
    def text(self) -> str:
        return " ".join(self.words)


def sample_sentences(rng: np.random.Generator, n: int) -> list[Sentence]:
    """``n`` distinct random GRID sentences (distinct file ids, as in one GRID speaker's folder)."""
    slots = [COMMANDS, COLOURS, PREPOSITIONS, LETTERS, DIGITS, ADVERBS]
    total = int(np.prod([len(s) for s in slots]))
    if n > total:
        raise ValueError(f"GRID's grammar has only {total} distinct sentences, {n} requested")
    seen: set[str] = set()
    out = []
    while len(out) < n:
        sentence = Sentence(tuple(slot[rng.integers(len(slot))] for slot in slots))
        if sentence.file_id not in seen:
            seen.add(sentence.file_id)
            out.append(sentence)
    return out
