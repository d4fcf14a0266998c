"""Folding: the shortcut for ASCII names gives exactly what the full definition gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from namelstm.data.alphabet import REPORT, Alphabet, folding

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
    "Rossi😀",
    "😀😀",
    "Smith Jr 😀",
    "O\u2019Brien",
    "Marszałek",
    "Smith\x00 $",
]


@pytest.mark.parametrize("alphabet", [REPORT, Alphabet("abcdeé -")], ids=["report", "small"])
@pytest.mark.parametrize("transliterate", [True, False])
def test_the_ascii_shortcut_folds_as_the_full_definition(alphabet: Alphabet, transliterate: bool) -> None:
    fast = [alphabet.fold(name, transliterate) for name in MIXED]
    slow = [alphabet.fold_slowly(name, transliterate) for name in MIXED]
    assert fast == slow
    if alphabet is REPORT:
        assert fast[:4] == ["Smith", "O'Neill", "McDonaldSmith", "van der Berg"]
        # A letter NFD cannot keep is transliterated, with or without --transliterate.
        assert fast[13] == "Dostoevskiy" and fast[10] == "Strauss"
        assert fast[-6:] == ["Rossi", "", "Smith", "O'Brien", "Marszalek", "Smith"]
        assert fast[4] == fast[7] == ""  # digits and punctuation alone are no name


def test_one_folding_for_every_stage() -> None:
    """Training data loading, prediction and files all read a run's text with `folding`."""
    assert folding(REPORT)("Marszałek") == folding(REPORT, transliterate=True)("Marszałek") == "Marszalek"
    assert folding(None)("Marszałek") == "Marszałek" and folding(None, True)("Groß") == "Gross"
    # Emoji and symbols go before transliteration: never 'grinning'.
    assert [folding(None, True)(n) for n in ("Rossi😀", "😀😀", "Müller™")] == ["Rossi", "", "Muller"]


def test_a_run_reads_a_name_in_training_as_predict_reads_it(tiny_run: Path, tmp_path: Path) -> None:
    from namelstm.checkpoint import load_checkpoint
    from namelstm.config import TrainConfig
    from namelstm.data.names import load_dataset
    from namelstm.inference.predict import Predictor

    names = ["Marszałek", "Groß", "Rossi😀", "Дмитриев"]
    (tmp_path / "Polish.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    (tmp_path / "German.txt").write_text("Weber\n", encoding="utf-8")
    config = TrainConfig.from_dict(load_checkpoint(tiny_run / "checkpoint.pt").config)
    trained_as = [name for name, language in load_dataset(tmp_path, config).pairs if language == "Polish"]
    predicted_as = [p.seen_as for p in Predictor.load(tiny_run).predict(names)]
    assert sorted(trained_as) == sorted(predicted_as) == sorted(["Marszalek", "Gross", "Rossi", "Dmitriev"])
