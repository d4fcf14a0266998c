"""Names as people write them (issue 16): letter case, suffixes, Han readings, 'uncertain', and the
team's list of names as real lists hold them, checked against the shipped model."""

from __future__ import annotations

import csv
import json
import string
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from namelstm.cli import cli
from namelstm.data.readings import han_readings, japanese, mandarin
from namelstm.data.written import canonical_case, without_suffix
from namelstm.errors import BadInput
from namelstm.evaluation.selective import min_confidence_for, risk_coverage
from namelstm.inference.predict import MAX_LETTERS, Predictor

DATA = Path(__file__).parent / "data"


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line and line[0] != "#"]


def _table(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(_lines(path)))


@pytest.fixture(scope="module")
def shipped() -> Predictor:
    return Predictor.load("pretrained")


def _first(predictor: Predictor, names: list[str]) -> list[str]:
    return [p.predictions[0][0] for p in predictor.predict(names, top_k=1)]


# ---------------------------------------------------------------------------- letter case and suffixes


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("SMITH", "Smith"),
        ("smith", "Smith"),
        ("Smith", "Smith"),
        ("O'NEILL", "O'Neill"),
        ("GARCÍA-MÁRQUEZ", "García-Márquez"),
        ("Jean DUPONT", "Jean Dupont"),
        ("McDonald", "McDonald"),  # mixed case says something: kept
        ("DeVito", "DeVito"),
        ("van der Berg", "van der Berg"),
        ("ДОСТОЕВСКИЙ", "Достоевский"),
        ("STRAUß", "Strauß"),  # ß has no capital of its own: still a name in capitals
        ("佐藤", "佐藤"),
    ],
)
def test_canonical_case(written: str, canonical: str) -> None:
    assert canonical_case(written) == canonical


@given(st.text(alphabet=string.ascii_letters + " '-", min_size=1, max_size=30))
def test_capitals_and_lower_case_are_one_name(text: str) -> None:
    assert canonical_case(text.upper()) == canonical_case(text.lower())
    assert canonical_case(canonical_case(text)) == canonical_case(text)


@pytest.mark.parametrize(
    ("written", "core"),
    [
        ("Smith Jr", "Smith"),
        ("Smith, Jr.", "Smith"),
        ("Ford III", "Ford"),
        ("SMITH JR", "SMITH"),
        ("Kim Il", "Kim Il"),
        ("Jr", "Jr"),  # a lone word is a name, whatever it spells
        ("De la Cruz", "De la Cruz"),
        ("Smith\u00a0Jr", "Smith"),  # a no-break space, as pasted from a page
    ],
)
def test_generational_suffixes_are_dropped(written: str, core: str) -> None:
    assert without_suffix(written) == core


def test_smith_in_any_case_gets_one_answer() -> None:
    result = CliRunner().invoke(
        cli, ["predict", "--checkpoint", "pretrained", "--json", "SMITH", "smith", "Smith", "Smith Jr"]
    )
    assert result.exit_code == 0, result.output
    answers = json.loads(result.stdout)
    assert len({a["predictions"][0]["language"] for a in answers}) == 1
    assert [a["seen_as"] for a in answers] == ["Smith"] * 4


# ---------------------------------------------------------------------------- Han readings


def test_readings_of_a_han_name() -> None:
    assert (mandarin("佐藤"), japanese("佐藤"), japanese("井上"), mandarin("欧阳")) == (
        "Zuoteng",
        "Sato",
        "Inoue",
        "Ouyang",
    )
    assert japanese("张") is None  # outside the JIS set Japanese names are written in: not Japanese
    assert japanese("髙橋") == ""  # a variant pykakasi cannot read: no reading, nothing ruled out


def test_only_languages_with_a_reader_compete_for_a_han_name() -> None:
    languages = ("Chinese", "Japanese", "Korean")
    readings = han_readings("林", ("Han",), (0, 1, 2), languages)
    assert readings is not None and set(readings.texts) == {0, 1}  # Korean has no reader here
    assert readings.log_prior[0] > readings.log_prior[1]  # one character: Chinese is likelier
    assert han_readings("林", ("Han", "Hangul"), (2,), languages) is None
    assert han_readings("林", ("Han",), (0, 1), ("Mandarin", "Nihongo")) is None  # other labels: as before


def test_the_note_names_the_reading_that_won(shipped: Predictor) -> None:
    sato, zhang = shipped.predict(["佐藤", "张"], top_k=2)
    assert (
        sato.predictions[0][0] == "Japanese"
        and sato.note() == "(read as 'Sato'; Han script, Japanese reading)"
    )
    assert zhang.predictions[0][0] == "Chinese" and zhang.seen_as == "Zhang"


def test_a_suffix_never_decides_a_han_name(shipped: Predictor) -> None:
    plain, *suffixed = shipped.predict(["李", "李 Jr", "李 二世", "李, Sr."], top_k=2)
    assert all(p.predictions == plain.predictions and p.seen_as == plain.seen_as for p in suffixed)


def test_kanji_pykakasi_cannot_read_do_not_rule_japanese_out(shipped: Predictor) -> None:
    # 髙 is the variant of 高 in Takahashi: in cp932, but not in pykakasi's dictionary.
    (takahashi,) = shipped.predict(["髙橋"], top_k=2)
    languages = shipped.languages
    readings = han_readings(
        "髙橋", ("Han",), (languages.index("Chinese"), languages.index("Japanese")), languages
    )
    # Japanese has no reading (''), so the model is asked about it in the name's own form, and it competes.
    assert readings is not None and readings.texts[languages.index("Japanese")] == ""
    assert "Japanese" in dict(takahashi.predictions)


def test_a_reading_longer_than_a_name_is_not_read(shipped: Predictor) -> None:
    # 900 letters in Mandarin ('Zhi' each), about ten times that in Japanese: the model is not
    # asked to read the Japanese, which would take seconds, but the name as written.
    (long,) = shipped.predict(["志" * 300], top_k=1)
    assert len(long.seen_as) <= MAX_LETTERS


def test_common_japanese_and_chinese_surnames_in_han_characters(shipped: Predictor) -> None:
    japanese_names = _lines(DATA / "japanese_surnames_kanji.txt")
    chinese_names = _lines(DATA / "chinese_surnames_han.txt")
    assert (len(japanese_names), len(chinese_names)) == (50, 100)
    assert sum(lang == "Japanese" for lang in _first(shipped, japanese_names)) >= 45
    assert sum(lang == "Chinese" for lang in _first(shipped, chinese_names)) >= 90


# ---------------------------------------------------------------------------- knowing when it doesn't know


def test_min_confidence_answers_uncertain_but_lists_the_candidates(shipped: Predictor) -> None:
    sure = Predictor.load("pretrained", min_confidence=0.99)
    (plain,), (careful,) = shipped.predict(["Xqwz"]), sure.predict(["Xqwz"])
    assert plain.answer == plain.predictions[0][0] and not plain.uncertain
    assert careful.uncertain and careful.answer == "uncertain"
    assert careful.predictions == plain.predictions and careful.to_dict()["uncertain"] is True


def test_min_confidence_in_a_csv_file(isolated: Path) -> None:
    (isolated / "in.csv").write_text("name,city\nNakamura,Osaka\nXqwz,Nowhere\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        ["predict", "--checkpoint", "pretrained", "--input", "in.csv", "--output", "out.csv"]
        + ["--min-confidence", "0.9", "-q"],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((isolated / "out.csv").open(encoding="utf-8")))
    assert [r["answer"] for r in rows] == ["Japanese", "uncertain"]
    assert rows[1]["language_1"]  # the candidates stay


def test_min_confidence_out_of_range_is_one_line() -> None:
    result = CliRunner().invoke(cli, ["predict", "--min-confidence", "1.5", "Smith"])
    assert result.exit_code == 2 and "1.5" in result.output and "Traceback" not in result.output
    with pytest.raises(BadInput, match="between 0 and 1"):
        Predictor.load("pretrained", min_confidence=1.5)


def test_risk_coverage_curve() -> None:
    # Three names: sure and right, sure and wrong, unsure and right.
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.55, 0.45]])
    curve = risk_coverage(probs.log(), torch.tensor([0, 0, 0]))
    at = {row["min_confidence"]: row for row in curve}
    assert at[0.0]["coverage"] == 1 and at[0.0]["accuracy"] == pytest.approx(2 / 3)
    assert at[0.6]["coverage"] == pytest.approx(2 / 3) and at[0.6]["accuracy"] == 0.5
    assert at[0.85]["coverage"] == pytest.approx(1 / 3) and at[0.85]["accuracy"] == 1
    assert at[0.95]["accuracy"] is None
    assert min_confidence_for(curve, 0.9)["min_confidence"] == 0.81


# ---------------------------------------------------------------------------- names as real lists hold them


def test_names_as_real_lists_hold_them(shipped: Predictor) -> None:
    rows = _table(DATA / "real_names.csv")
    forms = {r["form"] for r in rows}
    assert {"capitals", "lower case", "Han", "hyphenated", "particle", "accented", "suffix"} <= forms
    got = _first(shipped, [r["name"] for r in rows])
    right = sum(g == r["language"] for g, r in zip(got, rows, strict=True))
    assert right / len(rows) >= 0.75  # 64 of 81 when written (docs/trust.md)


def test_case_and_suffixes_never_decide_the_language(shipped: Predictor) -> None:
    # Capitals and lower case are one name; a name written in mixed case ('van Dijk') keeps what its
    # case says, so it is compared with its own suffixed forms only.
    names = [r["name"] for r in _table(DATA / "real_names.csv") if r["name"].isascii()]
    groups = [[n.upper(), n.lower(), n.upper() + " JR"] for n in names] + [
        [n, n + " Jr", n + ", III"] for n in names
    ]
    answers = _first(shipped, [v for group in groups for v in group])
    for i, group in enumerate(groups):
        assert len(set(answers[3 * i : 3 * i + 3])) == 1, group
