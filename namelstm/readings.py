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
# Japanese). On the development list (124 names) odds of 1, 3, 9 and 30 left 13, 3, 0 and 0 wrong, for
# the shipped model and a default lstm alike: 9 is the weakest that leaves none.
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


def japanese(name: str) -> str:
    """The Japanese reading in Hepburn romaji without long vowels ('佐藤' -> 'Sato', '井上' -> 'Inoue'),
    or '' when a character is outside the JIS X 0208 set Japanese names are written in ('张')."""
    try:
        name.encode("cp932")
    except UnicodeEncodeError:
        return ""
    reading = "".join(token["hepburn"] for token in _kakasi().convert(name))  # type: ignore[attr-defined]
    return _LONG_VOWEL.sub("", reading).capitalize() if reading.isascii() else ""


# A language joins by name: a custom label set with "Chinese" or "Japanese" labels gets their readings.
READERS: Mapping[str, Callable[[str], str]] = MappingProxyType({"Chinese": mandarin, "Japanese": japanese})
READING_NAMES: Mapping[str, str] = MappingProxyType({"Chinese": "Mandarin", "Japanese": "Japanese"})


@dataclass(frozen=True)
class HanReadings:
    """One name's readings, by position in the model's languages, and what its length says of each."""

    name: str
    texts: Mapping[int, str]  # language index -> that language's reading (never empty)
    log_prior: Mapping[int, float]  # language index -> log odds from the name's length

    def note(self, language: str) -> str:
        return f"Han script, {READING_NAMES.get(language, language)} reading"


def han_readings(
    name: str, scripts: Sequence[str], allowed: Sequence[int] | None, languages: Sequence[str]
) -> HanReadings | None:
    """The readings of a name written in Han characters alone, for the allowed languages that have a
    reader; None when the name is in other scripts too, or no allowed language has a reader."""
    if tuple(scripts) != (HAN,) or not allowed:
        return None
    texts = {}
    for i in allowed:
        reader = READERS.get(languages[i])
        reading = reader(name) if reader else ""
        if reading:
            texts[i] = reading
    if not texts:
        return None
    one = sum(c.isalpha() for c in name) == 1
    prior = {i: _length_log_prior(languages[i], one) for i in texts}
    return HanReadings(name, texts, prior)


def _length_log_prior(language: str, one_character: bool) -> float:
    favoured = "Chinese" if one_character else "Japanese"
    return math.log(LENGTH_ODDS / (1 + LENGTH_ODDS)) if language == favoured else -math.log(1 + LENGTH_ODDS)
