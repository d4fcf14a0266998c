"""Han names read as each language reads them: 佐藤 is 'Zuoteng' to a Chinese reader and 'Sato' to a
Japanese one, and the model is asked about each language in that language's own reading.

The script alone narrows a name in Han characters to the languages written in Han; what decides
between them is (1) the model's probability of each language given its own reading, (2) whether a
Japanese reader could write the name at all (a character outside the JIS set, such as simplified
张, is not Japanese), and (3) its length: most Chinese surnames are one character, most Japanese
surnames two. The weight of (3) was chosen on `tests/data/han_surnames_dev.csv`, a list kept apart
from the lists the tests check.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

HAN = "Han"
# Odds of a one-character Han surname being Chinese rather than Japanese (and of a longer one being
# Japanese). On the development list (124 names) odds of 1, 3, 9 and 30 left 13, 3, 0 and 0 wrong for
# the shipped model (and for a default lstm trained before canonical case): 9 is the weakest that
# leaves none. Today's default lstm (seed 0) leaves one at 9 (葛).
LENGTH_ODDS = 9.0
# Long vowels written the passport way, as the tutorial's files do ('Satou' -> 'Sato', 'Oota' -> 'Ota',
# 'Yuuki' -> 'Yuki'); before a vowel the two letters are two syllables ('Inoue').
_LONG_VOWEL = re.compile(r"(?<=o)[ou](?![aeiou])|(?<=u)u(?![aeiou])")


def mandarin(name: str) -> str:
    """The Mandarin reading, syllables joined as the tutorial's Chinese names are ('欧阳' -> 'Ouyang')."""
    from anyascii import anyascii  # its Han table is Mandarin pinyin without tones

    return anyascii(name).replace(" ", "").capitalize()


@cache
def _kakasi() -> object:
    # pykakasi: a maintained kanji-to-romaji converter with its dictionary inside the wheel (no
    # network, ~10 MB), against cutlet, whose MeCab dictionary is ten times the size.
    import pykakasi

    return pykakasi.kakasi()


def japanese(name: str) -> str | None:
    """The Japanese reading in Hepburn romaji without long vowels ('佐藤' -> 'Sato', '井上' -> 'Inoue');
    None when a character is outside cp932, the JIS X 0208 set with the extensions Japanese computers
    write names in (simplified '张'): such a name is not Japanese; '' when pykakasi cannot read
    every character (variant kanji such as 髙), which rules nothing out."""
    try:
        name.encode("cp932")
    except UnicodeEncodeError:
        return None
    tokens = [token["hepburn"] for token in _kakasi().convert(name)]  # type: ignore[attr-defined]
    if not all(t.isascii() and t.replace(" ", "").isalpha() for t in tokens):
        return ""
    return _LONG_VOWEL.sub("", "".join(tokens)).capitalize()


# A language joins by name: a custom label set with "Chinese" or "Japanese" labels gets their readings.
READERS: Mapping[str, Callable[[str], str | None]] = MappingProxyType(
    {"Chinese": mandarin, "Japanese": japanese}
)
READING_NAMES: Mapping[str, str] = MappingProxyType({"Chinese": "Mandarin", "Japanese": "Japanese"})


@dataclass(frozen=True)
class HanReadings:
    """One name's readings, by position in the model's languages, and what its length says of each."""

    name: str
    texts: Mapping[int, str]  # language index -> its reading; '' where it has none (the name's own form)
    log_prior: Mapping[int, float]  # language index -> log odds from the number of Han characters

    def note(self, language: int, name: str) -> str:
        """What the CLI and the page say of the reading that won (`language`, an index; `name`, its
        label): 'Han script, Japanese reading', or that it had none and the name was read as written."""
        if not self.texts[language]:
            return f"Han script, no {READING_NAMES.get(name, name)} reading: read as written"
        return f"Han script, {READING_NAMES.get(name, name)} reading"


def han_readings(
    name: str, scripts: Sequence[str], allowed: Sequence[int] | None, languages: Sequence[str]
) -> HanReadings | None:
    """The readings of a name whose only non-Latin script is Han (`name` as `written.normalise`
    leaves it), for the allowed languages that have a reader and may write it; None when the name is
    in another script too, or no allowed language has a reader."""
    if tuple(scripts) != (HAN,) or not allowed:
        return None
    texts = {}
    for i in allowed:
        reader = READERS.get(languages[i])
        reading = reader(name) if reader else None
        if reading is not None:
            texts[i] = reading
    if not texts:
        return None
    one = _han_letters(name) == 1
    prior = {i: _length_log_prior(languages[i], one) for i in texts}
    return HanReadings(name, texts, prior)


def _han_letters(name: str) -> int:
    from fontTools import unicodedata  # the same Scripts.txt the script rule reads

    return sum(unicodedata.script(c) == "Hani" for c in name)


def _length_log_prior(language: str, one_character: bool) -> float:
    favoured = "Chinese" if one_character else "Japanese"
    return math.log(LENGTH_ODDS / (1 + LENGTH_ODDS)) if language == favoured else -math.log(1 + LENGTH_ODDS)
