"""The letters a model reads: the report's 57, or the letters of the training data (`auto`).

Folding maps any text onto an alphabet; encoding maps folded names to letter indices, for millions
of names at once (numpy over the UTF-32 code points, no Python loop per letter).
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from namelstm.data.written import normalise
from namelstm.errors import NamelstmError

ALPHABET_CHOICES = ("report", "auto")


@dataclass(frozen=True)
class Alphabet:
    """An ordered set of letters; a letter's position is its index in the model's input.

    `fold` maps any text onto these letters and `encode_flat` turns folded names into indices.
    """

    letters: str

    def __post_init__(self) -> None:
        if not self.letters or len(set(self.letters)) != len(self.letters):
            raise NamelstmError("an alphabet needs at least one letter and no letter twice")

    def __len__(self) -> int:
        return len(self.letters)

    @cached_property
    def index(self) -> dict[str, int]:
        return {letter: i for i, letter in enumerate(self.letters)}

    @cached_property
    def _ascii_drop(self) -> dict[int, None]:
        """str.translate table deleting every ASCII character outside the alphabet."""
        return {c: None for c in range(128) if chr(c) not in self.index}

    @cached_property
    def _lookup(self) -> np.ndarray:
        """Code point -> index, -1 for code points outside the alphabet."""
        table = np.full(max(map(ord, self.letters)) + 1, -1, dtype=np.int32)
        table[[ord(c) for c in self.letters]] = np.arange(len(self.letters), dtype=np.int32)
        return table

    @property
    def dtype(self) -> np.dtype:
        """The smallest integer type that holds every index: millions of names stay small."""
        return np.dtype(np.uint8 if len(self) <= 256 else np.int16 if len(self) <= 32767 else np.int32)

    def fold(self, text: str, transliterate: bool = False) -> str:
        """Text -> these letters. The name is first written as `written.normalise` says ('SMITH Jr'
        -> 'Smith'); then a letter of the alphabet stays, any other character is decomposed (NFD)
        and keeps only its parts in the alphabet ('à' -> 'a' when 'à' is not a letter here,
        'Ś' -> 'S'), and anything else is dropped. With `transliterate`, other scripts are first written
        in Latin letters ('Достоевский' -> 'Dostoevskiy', 'Strauß' -> 'Strauss')."""
        # Most names are ASCII: transliterating leaves ASCII as it is and NFD changes no ASCII
        # character, so dropping the characters outside the alphabet is the whole fold (~10x faster).
        text = normalise(text)
        if not text.isascii() and transliterate:
            text = _transliterate(text)
        if text.isascii():
            return text.translate(self._ascii_drop).strip()
        return self.fold_slowly(text)

    def fold_slowly(self, text: str, transliterate: bool = False) -> str:
        """`fold` without its shortcuts for ASCII text: the definition they are tested against."""
        text = normalise(text)
        if transliterate:
            text = _transliterate(text)
        index = self.index
        kept = []
        for c in unicodedata.normalize("NFC", text):
            if c in index:
                kept.append(c)
            else:
                kept.extend(d for d in unicodedata.normalize("NFD", c) if d in index)
        return "".join(kept).strip()

    def encode_flat(self, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """All letters of folded `names` end to end (`self.dtype`) and each name's length (int64)."""
        lengths = np.fromiter(map(len, names), dtype=np.int64, count=len(names))
        codes = np.frombuffer("".join(names).encode("utf-32-le"), dtype=np.uint32)
        lookup = self._lookup
        inside = codes < len(lookup)
        indices = np.where(inside, lookup[np.where(inside, codes, 0)], -1)
        if (indices < 0).any():
            position = int(np.argmax(indices < 0))
            row = int(np.searchsorted(np.cumsum(lengths), position, side="right"))
            raise NamelstmError(
                f"{names[row]!r} holds {chr(codes[position])!r}, which is not in the model's alphabet"
            )
        return indices.astype(self.dtype), lengths


def _transliterate(text: str) -> str:
    # anyascii is a maintained table covering every Unicode script; a hand-made one would not be.
    from anyascii import anyascii

    return anyascii(text)


REPORT = Alphabet(string.ascii_letters + " .,;'")  # the report's 57 one-hot letters


NAME_PUNCTUATION = " .,;'-"  # kept by `auto` besides letters: the report's punctuation and the hyphen


def fold_keeping_all(text: str, transliterate: bool = False) -> str:
    """Folding for `--alphabet auto`: every letter of any script is kept (NFC-composed, so 'é' is one
    letter, with its combining marks), and NAME_PUNCTUATION; digits, symbols and control characters
    are dropped, and other white space becomes a plain space."""
    text = normalise(text)
    if transliterate:
        text = _transliterate(text)
    kept = []
    for c in unicodedata.normalize("NFC", text):
        if c in NAME_PUNCTUATION or unicodedata.category(c)[0] in "LM":
            kept.append(c)
        elif c.isspace():
            kept.append(" ")
    return "".join(kept).strip()


def alphabet_of(names: Iterable[str]) -> Alphabet:
    """The letters that occur in `names`, in code point order (so the same data gives the same alphabet)."""
    letters: set[str] = set()
    for name in names:
        letters.update(name)
    if not letters:
        raise NamelstmError("the data holds no letters to build an alphabet from")
    return Alphabet("".join(sorted(letters)))


def pick_alphabet(mode: str) -> Alphabet | None:
    """The alphabet named on the command line: the report's, or None for `auto` (built from the data)."""
    if mode == "report":
        return REPORT
    if mode == "auto":
        return None
    raise NamelstmError(f"--alphabet {mode!r} is not one of {', '.join(ALPHABET_CHOICES)}")
