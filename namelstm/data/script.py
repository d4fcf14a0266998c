"""The writing system of a name, and which languages are written in it.

A name typed in Cyrillic, Greek, Hangul, Kana, Han or Arabic letters says much about its language
before any model reads it. The script of each letter comes from Unicode's own Scripts.txt, as
shipped (and kept current) by fontTools; the table of which language uses which script ships
with the package and is stored in every checkpoint, so another language list can bring its own.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from namelstm.errors import NamelstmError

LATIN = "Latin"
# Scripts that belong to no one writing system (digits, punctuation, combining marks).
_NEUTRAL = {"Zyyy", "Zinh", "Zzzz"}

# The 18 tutorial languages. Every one lists Latin, because the training files are romanised.
TUTORIAL_SCRIPTS: Mapping[str, tuple[str, ...]] = {
    "Arabic": (LATIN, "Arabic"),
    "Chinese": (LATIN, "Han"),
    "Czech": (LATIN,),
    "Dutch": (LATIN,),
    "English": (LATIN,),
    "French": (LATIN,),
    "German": (LATIN,),
    "Greek": (LATIN, "Greek"),
    "Irish": (LATIN,),
    "Italian": (LATIN,),
    "Japanese": (LATIN, "Han", "Hiragana", "Katakana"),
    "Korean": (LATIN, "Hangul", "Han"),
    "Polish": (LATIN,),
    "Portuguese": (LATIN,),
    "Russian": (LATIN, "Cyrillic"),
    "Scottish": (LATIN,),
    "Spanish": (LATIN,),
    "Vietnamese": (LATIN,),
}


def default_scripts(languages: Sequence[str]) -> dict[str, list[str]]:
    """The shipped table for the tutorial's languages; empty for any other list (custom data)."""
    if set(languages) != set(TUTORIAL_SCRIPTS):
        return {}
    return {language: list(TUTORIAL_SCRIPTS[language]) for language in languages}


def load_scripts(path: Path, languages: Sequence[str]) -> dict[str, list[str]]:
    """A script table from JSON, `{"Language": ["Latin", "Cyrillic"], ...}`, checked against `languages`."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise NamelstmError(f"cannot read the script table {path}: {err}") from None
    if not isinstance(raw, dict) or not all(
        isinstance(v, list) and all(isinstance(s, str) for s in v) for v in raw.values()
    ):
        raise NamelstmError(f"{path} must map each language to a list of script names")
    unknown = sorted(set(raw) - set(languages))
    if unknown:
        raise NamelstmError(f"{path} names languages the data does not have: {', '.join(unknown)}")
    return {language: list(raw[language]) for language in languages if language in raw}


def script_table(path: str | Path | None, languages: Sequence[str]) -> dict[str, list[str]]:
    """The table a run stores: from `path` (`--scripts FILE.json`) when given, else the shipped one."""
    return load_scripts(Path(path), languages) if path else default_scripts(languages)


def scripts_of(text: str) -> Counter[str]:
    """How many letters of `text` are in each script ('Кузнецова' -> {'Cyrillic': 9})."""
    from fontTools import unicodedata  # Unicode's Scripts.txt, updated with each Unicode release

    codes = Counter(unicodedata.script(c) for c in text if c.isalpha())
    return Counter({unicodedata.script_name(code): n for code, n in codes.items() if code not in _NEUTRAL})


@dataclass(frozen=True)
class ScriptEvidence:
    """What a name's writing system says: the non-Latin scripts in it, and the languages allowed.

    `allowed` is None when the script says nothing: a Latin name, `--ignore-script`, or a script
    that no language of the model is written in (then `unknown` is True)."""

    scripts: tuple[str, ...]
    allowed: tuple[int, ...] | None
    unknown: bool = False
    no_table: bool = False  # the model has no script table (custom labels without --scripts)

    def describe(self) -> str:
        """'Cyrillic script', or why the script did not narrow the languages down."""
        if not self.scripts:
            return ""
        name = " and ".join(self.scripts) + " script"
        if self.no_table:
            return f"{name}; this model has no table of scripts, so the model answers alone"
        return f"{name}, which no language of this model is written in" if self.unknown else name


def evidence(name: str, table: Mapping[str, Sequence[str]], languages: Sequence[str]) -> ScriptEvidence:
    """The languages of `languages` that are written in every non-Latin script of `name`."""
    scripts = tuple(sorted(s for s in scripts_of(name) if s != LATIN))
    if not scripts or not table:
        return ScriptEvidence(scripts, None, no_table=bool(scripts))
    allowed = tuple(i for i, lang in enumerate(languages) if set(scripts) <= set(table.get(lang, ())))
    return ScriptEvidence(scripts, allowed or None, unknown=not allowed)
