"""Predicting files and stdin: order kept, all columns kept, bad rows marked, never a half-written output."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import ended

from namelstm.cli import cli
from namelstm.errors import BadInput
from namelstm.inference.files import _ranking_cells, predict_file
from namelstm.inference.predict import Predictor, Ranking

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def predictor(tiny_run: Path) -> Predictor:
    return Predictor.load(tiny_run)


def _table(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def test_a_csv_comes_back_in_order_with_its_columns_top_k_and_errors(
    predictor: Predictor, tmp_path: Path
) -> None:
    rows = [["id", "name", "city"], ["1", "McDurin", "Oslo"], ["2", "42", "Rome"], ["3", "Bakiaki", "Kyiv"]]
    source = _table(tmp_path / "in.csv", rows)
    with pytest.raises(
        BadInput, match="1 of 3 names got no answer .*line 3: '42' has no letters.*error column"
    ):
        predict_file(predictor, source, tmp_path / "out.csv", top_k=2, progress=False, report=lambda _: None)
    with open(tmp_path / "out.csv", encoding="utf-8") as f:
        out = list(csv.DictReader(f))
    assert list(out[0]) == [
        "id",
        "name",
        "city",
        "seen_as",
        "script",
        "language_1",
        "probability_1",
        "language_2",
        "probability_2",
        "error",
    ]
    assert [r["id"] for r in out] == ["1", "2", "3"] and [r["city"] for r in out] == ["Oslo", "Rome", "Kyiv"]
    assert out[0]["language_1"] == "Gamman" and out[2]["language_1"] == "Betan" and not out[0]["error"]
    assert "has no letters" in out[1]["error"] and out[1]["language_1"] == ""
    assert float(out[0]["probability_1"]) >= float(out[0]["probability_2"])


def test_a_row_with_more_fields_than_the_header_is_an_error_not_silently_cut(
    predictor: Predictor, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("name,city\nMcDurin,Oslo\nSmith, Jr,Leeds\nBakiaki,Kyiv\n", encoding="utf-8")
    with pytest.raises(BadInput, match="1 of 3 names got no answer .*line 3: 3 fields, the header has 2"):
        predict_file(predictor, source, tmp_path / "out.csv", progress=False, report=lambda _: None)
    with open(tmp_path / "out.csv", encoding="utf-8") as f:
        out = list(csv.DictReader(f))
    assert [(r["name"], r["city"]) for r in out] == [
        ("McDurin", "Oslo"),
        ("Smith", " Jr"),
        ("Bakiaki", "Kyiv"),
    ]
    assert "quote a field that holds a comma" in out[1]["error"] and out[1]["language_1"] == ""
    assert out[0]["language_1"] and not out[0]["error"] and not out[2]["error"]


def test_a_cell_holding_a_carriage_return_stays_in_its_row(predictor: Predictor, tmp_path: Path) -> None:
    # Found by Hypothesis (test_properties.py): csv.writer with "\n" rows left a lone "\r" unquoted.
    source = _table(tmp_path / "in.csv", [["name", "note"], ["McDurin", "a\rb"], ["Bakiaki", "c"]])
    predict_file(predictor, source, tmp_path / "out.csv", top_k=1, progress=False)
    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as f:
        assert [(r["name"], r["note"]) for r in csv.DictReader(f)] == [("McDurin", "a\rb"), ("Bakiaki", "c")]


def test_strict_fails_naming_the_row_and_writes_nothing(predictor: Predictor, tmp_path: Path) -> None:
    source = _table(tmp_path / "in.csv", [["name"], ["Ann"], ["!!!"], ["Bob"]])
    with pytest.raises(BadInput, match="line 3: '!!!' has no letters"):
        predict_file(predictor, source, tmp_path / "out.csv", strict=True, progress=False)
    assert list(tmp_path.iterdir()) == [source]  # no output, no temporary left behind


def test_an_output_file_follows_the_umask(predictor: Predictor, tmp_path: Path) -> None:
    source = _table(tmp_path / "in.csv", [["name"], ["Ann"]])
    previous = os.umask(0o027)
    try:
        predict_file(predictor, source, tmp_path / "out.csv", top_k=1, progress=False)
    finally:
        os.umask(previous)
    assert (tmp_path / "out.csv").stat().st_mode & 0o777 == 0o640  # as any file the user makes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_an_existing_output_is_kept_unless_overwrite(predictor: Predictor, tmp_path: Path) -> None:
    source = tmp_path / "names.txt"
    source.write_text("Ann\n\nMcDurin\n", encoding="utf-8")
    (tmp_path / "out.jsonl").write_text("precious\n")
    with pytest.raises(Exception, match="already exists; .*--overwrite"):
        predict_file(predictor, source, tmp_path / "out.jsonl", progress=False)
    assert (tmp_path / "out.jsonl").read_text() == "precious\n"
    predict_file(predictor, source, tmp_path / "out.jsonl", top_k=1, overwrite=True, progress=False)
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(o["where"], o["name"]) for o in lines] == [("line 1", "Ann"), ("line 3", "McDurin")]
    assert len(lines[1]["predictions"]) == 1


def test_stdin_answers_the_good_lines_and_reports_the_bad_one(tiny_run: Path) -> None:
    result = CliRunner().invoke(
        cli, ["predict", "--checkpoint", str(tiny_run), "-", "-k", "1"], input="Bakiaki\n42\nMcDurin\n"
    )
    assert result.exit_code == 2
    assert [line for line in result.stdout.splitlines() if not line.startswith(" ")] == ["Bakiaki", "McDurin"]
    assert "line 2: '42' has no letters" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: 1 of 3 names got no answer")


def test_json_is_whole_or_nothing(tiny_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["predict", "--checkpoint", str(tiny_run), "-", "--json", "-k", "1"]
    partial = CliRunner().invoke(cli, args, input="Bakiaki\n42\n")
    assert partial.exit_code == 2 and [o.get("error", "") != "" for o in json.loads(partial.stdout)] == [
        False,
        True,
    ]
    strict = CliRunner().invoke(cli, [*args, "--strict"], input="Bakiaki\n42\n")
    assert strict.exit_code == 2 and strict.stdout == ""
    monkeypatch.setattr("namelstm.inference.files.JSON_MAX_NAMES", 3)
    big = CliRunner().invoke(cli, args, input="Ann\n" * 4)  # one over the limit
    assert big.exit_code == 2 and big.stdout == "" and "use --jsonl" in big.stderr
    at_limit = CliRunner().invoke(cli, args, input="Ann\n" * 3)
    assert at_limit.exit_code == 0 and [o["name"] for o in json.loads(at_limit.stdout)] == ["Ann"] * 3


@pytest.mark.slow  # several seconds: the fast suite keeps under 45 s on 2 cores
def test_the_cli_streams_answers_before_the_input_ends(tiny_run: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "namelstm",
            "predict",
            "--checkpoint",
            str(tiny_run),
            "-",
            "--jsonl",
            "-k",
            "1",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    try:
        process.stdin.write("McDurin\n")  # type: ignore[union-attr]
        process.stdin.flush()  # type: ignore[union-attr]
        started = time.monotonic()
        first = json.loads(process.stdout.readline())  # type: ignore[union-attr]  (blocks until answered)
        assert first["name"] == "McDurin" and time.monotonic() - started < 60
        assert process.poll() is None  # still running: its input is still open
        process.stdin.write("Bakiaki\n")  # type: ignore[union-attr]
        process.stdin.close()  # type: ignore[union-attr]
        assert json.loads(process.stdout.readline())["name"] == "Bakiaki"  # type: ignore[union-attr]
        assert process.wait(timeout=60) == 0
    finally:
        with ended(process):
            pass


def test_predict_options_that_do_not_go_together(tiny_run: Path, tmp_path: Path) -> None:
    for args, message in [
        ([], "give NAMES"),
        (["Ann", "--input", "x.csv"], "not both"),
        (["--input", "x.csv"], "--input needs --output"),
        (["Ann", "--output", "x.csv"], "--output goes with --input"),
        (["Ann", "--json", "--jsonl"], "one of --json and --jsonl"),
    ]:
        result = CliRunner().invoke(cli, ["predict", "--checkpoint", str(tiny_run), *args])
        assert result.exit_code == 2 and message in result.output, (args, result.output)


def test_table_cells_built_by_column_match_the_predictions() -> None:
    languages = ("Arabic", "Greek", "Russian")
    probs = torch.tensor([[0.7, 0.2, 0.1], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    index = torch.tensor([[2, 0, 1], [2, 0, 1], [1, 2, 0]])
    uncertain = torch.tensor([False, False, True])  # x: below a minimum confidence of 0.6
    ranking = Ranking(["Ivanov", "Иванов", "x"], ["Ivanov", "Ivanov", "x"], probs, index,
                      ["", "Cyrillic script", ""], languages, uncertain)  # fmt: skip
    expected = []
    for p in ranking.predictions():
        cells = [p.seen_as, p.script]
        for language, probability in p.predictions:
            cells += [language, f"{probability:.6f}"]
        expected.append(tuple(cells + ["", ""] * (3 - len(p.predictions)) + [""]))
    assert _ranking_cells(ranking, 3) == expected
    assert expected[1] == ("Ivanov", "Cyrillic script", "Russian", "1.000000", "", "", "", "", "")
    answers = [cells[2] for cells in _ranking_cells(ranking, 3, answer=True)]
    assert answers == ["Russian", "Russian", "uncertain"]
