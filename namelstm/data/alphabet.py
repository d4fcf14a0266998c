"""The letters a model reads: the report's 57, or the letters of the training data (`auto`).

Folding maps any text onto an alphabet; encoding maps folded names to letter indices, for millions
of names at once (numpy over the UTF-32 code points, no Python loop per letter).
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, partial

import numpy as np
from anyascii import anyascii

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
    def _ascii_drop(self) -> dict[int, str | None]:
        """str.translate table deleting every ASCII character outside the alphabet, and those no
        name holds (digits, punctuation other than NAME_PUNCTUATION) even where the alphabet has them."""
        space = " " if " " in self.index else None  # other white space is a plain space, as in a name
        table: dict[int, str | None] = {c: space for c in range(128) if chr(c).isspace()}
        for c in range(128):
            if not chr(c).isspace() and (chr(c) not in self.index or not _is_name_character(chr(c))):
                table[c] = None
        return table

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
        """Text -> these letters, as `fold_slowly` defines; "" when no letter is left."""
        # Most names are ASCII: transliterating leaves ASCII as it is and NFD changes no ASCII
        # character, so dropping the characters outside the alphabet is the whole fold (~10x faster).
        if text.isascii():
            if not text.isalpha():  # a plain name holds no symbol: no pass over it for one
                text = text.translate(_ASCII_SYMBOLS)
            folded = normalise(text).translate(self._ascii_drop).strip()
            return folded if folded.isalpha() else _with_letters(folded)
        return self.fold_slowly(text, transliterate)

    def fold_slowly(self, text: str, transliterate: bool = False) -> str:
        """`fold` without its shortcuts for ASCII text: the definition they are tested against.
        Emoji and symbols are dropped (`name_characters`), the name is written as `written.normalise`
        says ('SMITH Jr' -> 'Smith'), and with `transliterate` other scripts are written in Latin
        letters. Then a letter of the alphabet stays; any other is decomposed (NFD) and keeps its
        parts in the alphabet ('à' -> 'a', 'Ś' -> 'S'), or else is transliterated and keeps the
        parts of that ('ß' -> 'ss', 'ł' -> 'l', 'Д' -> 'D'); anything else is dropped."""
        text = name_characters(text)
        if transliterate:
            text = _transliterate(text)
        index = self.index
        kept = []
        for c in unicodedata.normalize("NFC", text):
            if c in index:
                kept.append(c)
            elif parts := [d for d in unicodedata.normalize("NFD", c) if d in index]:
                kept.extend(parts)
            else:
                kept.extend(d for d in _transliterate(c) if d in index)
        return _with_letters("".join(kept).strip())

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
    return anyascii(text)


REPORT = Alphabet(string.ascii_letters + " .,;'")  # the report's 57 one-hot letters


NAME_PUNCTUATION = " .,;'-"  # kept by `auto` besides letters: the report's punctuation and the hyphen
# Typographic apostrophes and dashes are that punctuation as a keyboard or a word processor writes it.
_PUNCTUATION_VARIANTS = str.maketrans(
    dict.fromkeys("\u2019\u2018\u02bc\u02bb", "'") | dict.fromkeys("\u2010\u2011\u2013\u2014", "-")
)
# Symbols (emoji, currency, arrows...) and controls are dropped before the name is read as words, so a
# trailing emoji does not hide a suffix ('Smith Jr 😀'); variation selectors are marks only of emoji.
_SYMBOL_CATEGORIES = frozenset({"Sm", "Sc", "Sk", "So", "Cc", "Cf", "Co", "Cs", "Cn"})


def _is_symbol(c: str) -> bool:
    return unicodedata.category(c) in _SYMBOL_CATEGORIES and not c.isspace() or "\ufe00" <= c <= "\ufe0f"


def _is_name_character(c: str) -> bool:
    return c in NAME_PUNCTUATION or unicodedata.category(c)[0] in "LM"


# ASCII's symbols and controls, deleted by str.translate: the fast path's share of `name_characters`.
_ASCII_SYMBOLS: dict[int, None] = {c: None for c in range(128) if _is_symbol(chr(c))}


def name_characters(text: str) -> str:
    """What of `text` can be part of a name, written as `written.normalise` says: letters, marks and
    NAME_PUNCTUATION (typographic apostrophes and dashes as the plain ones; other white space as a
    plain space). Emoji, symbols, digits and other punctuation are dropped before any transliteration,
    so 'Rossi😀' is 'Rossi' and never 'Rossigrinning'. The one filter of every folding."""
    return _keep_name_characters(normalise("".join(c for c in text if not _is_symbol(c))))


def _keep_name_characters(text: str) -> str:
    kept = [
        " " if c.isspace() else c
        for c in text.translate(_PUNCTUATION_VARIANTS)
        if _is_name_character(c) or c.isspace()
    ]
    return "".join(kept)


def _with_letters(folded: str) -> str:
    # A name of punctuation and accents alone is no name: it is reported as a bad one.
    return folded if any(map(str.isalpha, folded)) else ""


def fold_keeping_all(text: str, transliterate: bool = False) -> str:
    """Folding for `--alphabet auto`: every letter of any script is kept (NFC-composed, so 'é' is one
    letter, with its combining marks), and NAME_PUNCTUATION, as `name_characters` keeps them;
    "" when no letter is left."""
    text = name_characters(text)
    if transliterate:  # a transliteration may hold characters no name does
        text = _keep_name_characters(_transliterate(text))
    return _with_letters(unicodedata.normalize("NFC", text).strip())


def folding(alphabet: Alphabet | None, transliterate: bool = False) -> Callable[[str], str]:
    """How a run reads any text: the one folding shared by training, prediction, evaluation and files.
    `alphabet` is the run's (None while training with `--alphabet auto`, whose letters come from the
    folded data: the same folding, since a letter the data holds is one of the alphabet's)."""
    if alphabet is None:
        return partial(fold_keeping_all, transliterate=transliterate)
    return partial(alphabet.fold, transliterate=transliterate)


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
