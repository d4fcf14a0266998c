"""Folding: the shortcut for ASCII names gives exactly what the full definition gives."""

from __future__ import annotations

import pytest

from namelstm.data.alphabet import REPORT, Alphabet

MIXED = [
    "Smith",
    "  O'Neill ",
    "McDonald-Smith",
    "van der Berg",
    "42",
    "Jean-Luc\tPicard\n",
    "a.b,c;d'e",
    "!!!",
    "",
    "Müller",
    "Strauß",
    "Nuñez",
    "Dvořák",
    "Достоевский",
    "中村",
    "Ἀριστοτέλης",
    "Ørsted æ",
    "Ｓｍｉｔｈ",  # full-width letters: NFD keeps them, NFKD would not
    "e\u0301",  # a combining accent after a plain letter
]


@pytest.mark.parametrize("alphabet", [REPORT, Alphabet("abcdeé -")], ids=["report", "small"])
@pytest.mark.parametrize("transliterate", [True, False])
def test_the_ascii_shortcut_folds_as_the_full_definition(alphabet: Alphabet, transliterate: bool) -> None:
    fast = [alphabet.fold(name, transliterate) for name in MIXED]
    slow = [alphabet.fold_slowly(name, transliterate) for name in MIXED]
    assert fast == slow
    if alphabet is REPORT:
        assert fast[:4] == ["Smith", "O'Neill", "McDonaldSmith", "van der Berg"]
        assert fast[13] == ("Dostoevskiy" if transliterate else "")
