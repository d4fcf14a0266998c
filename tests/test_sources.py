"""Your own data: CSV/TSV files with reported bad rows, the `auto` alphabet, custom labels end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from namelstm.cli import cli
from namelstm.data.alphabet import REPORT, Alphabet, alphabet_of, fold_keeping_all
from namelstm.data.names import Batches, Encoded, encode, load_names, split_by_name
from namelstm.data.sources import Columns
from namelstm.errors import NamelstmError

TINY_TRAIN = ["--epochs", "6", "--batch-size", "16", "--hidden-size", "16", "--lr", "0.3", "-q", "--no-plots"]


def _csv_from(tiny_data: Path, path: Path, delimiter: str = ",") -> Path:
    """The tiny dataset as one table with a country column, plus bad rows of every kind."""
    rows = [f"id{delimiter}name{delimiter}country"]
    for i, txt in enumerate(sorted(tiny_data.glob("*.txt"))):
        rows += [f"{i}{delimiter}{name}{delimiter}{txt.stem}" for name in txt.read_text().split()]
    rows += [f"x{delimiter}12345{delimiter}Betan", f"y{delimiter}Kovak", f"z{delimiter}Kovak{delimiter} ", ""]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("suffix", "delimiter"), [(".csv", ","), (".tsv", "\t")])
def test_a_table_loads_with_every_bad_row_counted_and_located(
    tiny_data: Path, tmp_path: Path, suffix: str, delimiter: str
) -> None:
    path = _csv_from(tiny_data, tmp_path / f"names{suffix}", delimiter)
    table = load_names(path, columns=Columns("name", "country"))
    directory = load_names(tiny_data)
    assert table.languages == directory.languages and set(table.pairs) == set(directory.pairs)
    lines = len(path.read_text().splitlines())  # the last is blank: not a row
    assert [(b.file, b.line) for b in table.skipped] == [
        (path.name, 83),
        (path.name, lines - 3),
        (path.name, lines - 2),
        (path.name, lines - 1),
    ]  # the tiny data's own '12345', then ours: no letters, too few fields, no label
    assert "no letters" in table.skipped[1].reason and "2 field(s)" in table.skipped[2].reason
    assert "no 'country'" in table.skipped[3].reason and table.n_skipped == 4
    assert not table.official and table.data_label == f"custom data ({path})"


def test_a_row_with_more_fields_than_the_header_is_bad_not_relabelled(
    tiny_data: Path, tmp_path: Path
) -> None:
    path = _csv_from(tiny_data, tmp_path / "names.csv")
    with open(path, "a", encoding="utf-8") as f:
        f.write("w,Smith, Jr,Betan\n")  # unquoted: 'Smith' would train under the label ' Jr'
    table = load_names(path, columns=Columns("name", "country"))
    assert "Jr" not in table.languages and not any(name == "Smith" for name, _ in table.pairs)
    last = table.skipped[-1]
    assert last.line == len(path.read_text().splitlines()) and "4 fields, the header has 3" in last.reason


def test_a_table_needs_its_columns_and_two_labels(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("name,country\nAnna,X\nBob,X\n", encoding="utf-8")
    with pytest.raises(NamelstmError, match="no column 'language' .*--label-column"):
        load_names(path)
    with pytest.raises(NamelstmError, match="at least 2 labels; it has only 'X'"):
        load_names(path, columns=Columns(label="country"))
    (tmp_path / "b.json").write_text("{}")
    with pytest.raises(NamelstmError, match="neither a directory"):
        load_names(tmp_path / "b.json")


def test_auto_alphabet_keeps_other_scripts_and_encodes_them(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("name,language\nДостоевский,ru\nТолстой,ru\n中村,ja\nyamada\u200b,ja\n", encoding="utf-8")
    # The report's letters read other scripts transliterated, as predict reads them.
    assert load_names(path).pairs == (
        ("Yamada", "ja"),
        ("ZhongCun", "ja"),
        ("Dostoevskiy", "ru"),
        ("Tolstoy", "ru"),
    )
    auto = load_names(path, alphabet=None)
    assert auto.n_skipped == 0 and "Д" in auto.alphabet.letters and "中" in auto.alphabet.letters
    assert "\u200b" not in auto.alphabet.letters  # a zero-width space is no letter
    split = split_by_name(auto, (0.5, 0.25, 0.25))
    assert _round_trips(split) and split.alphabet == auto.alphabet
    letters, lengths = encode(["Толстой", "中村"], auto.alphabet)
    assert lengths.tolist() == [7, 2] and letters[1, 0] == auto.alphabet.index["中"]


def _round_trips(split: object) -> bool:
    from namelstm.data.names import Split

    return Split.from_dict(json.loads(json.dumps(split.to_dict()))) == split  # type: ignore[attr-defined]


def test_folding_to_any_alphabet() -> None:
    accented = Alphabet("abcdeéiklnorsStuz ")
    assert accented.fold("Éléonore") == "léonore"  # 'É' is not a letter here: its 'E' is not either
    assert accented.fold("Ślusàrski") == "Slusarski"
    assert REPORT.fold("Ślusàrski") == "Slusarski" and REPORT.fold("Strauß", transliterate=True) == "Strauss"
    assert fold_keeping_all(" Ma\tria\n") == "Ma ria" and alphabet_of(["ba", "ab"]).letters == "ab"
    with pytest.raises(NamelstmError, match="not in the model's alphabet"):
        REPORT.encode_flat(["Kim", "Пётр"])


def test_compact_encoding_pads_like_the_old_one() -> None:
    names = ["Kim'", "Li", "Nakamura"]
    encoded = Encoded(names)
    assert encoded.flat.dtype == torch.uint8 and encoded.flat.numel() == sum(map(len, names))
    letters, lengths = encoded.padded(torch.tensor([2, 1]))
    assert letters.dtype == torch.long and letters.shape == (2, 8) and letters[1, 2:].eq(0).all()
    assert letters[1, :2].tolist() == [REPORT.index[c] for c in "Li"] and lengths.tolist() == [8, 2]


def test_a_three_label_csv_trains_predicts_evaluates_and_plots(tiny_data: Path, isolated: Path) -> None:
    path = _csv_from(tiny_data, isolated / "people.csv")
    runner = CliRunner()
    trained = runner.invoke(
        cli,
        [
            "train",
            "--data",
            str(path),
            "--name-column",
            "name",
            "--label-column",
            "country",
            "--alphabet",
            "auto",
            "--out",
            "run",
            *TINY_TRAIN,
        ],
    )
    assert trained.exit_code == 0, trained.output
    split = json.loads((isolated / "run" / "split.json").read_text())
    assert split["data"]["official"] is False and split["data"]["bad_rows"] == 4
    assert (
        split["alphabet"]
        == load_names(path, columns=Columns("name", "country"), alphabet=None).alphabet.letters
    )
    predicted = runner.invoke(cli, ["predict", "--checkpoint", "run", "McDurin", "-k", "1"])
    assert predicted.exit_code == 0 and predicted.stdout.splitlines()[1].split()[0] == "Gamman"
    assert runner.invoke(cli, ["evaluate", "--checkpoint", "run"]).exit_code == 0
    plotted = runner.invoke(cli, ["plot", "run"])
    assert plotted.exit_code == 0 and (isolated / "run" / "confusion.png").is_file()


def test_batches_hold_no_python_object_per_name(tiny_data: Path) -> None:
    dataset = load_names(tiny_data)
    batches = Batches(dataset.pairs, dataset.languages, 16)
    tensors = [v for v in vars(batches).values() if isinstance(v, torch.Tensor)]
    assert all(not isinstance(v, list | tuple) for v in vars(batches).values())
    assert tensors and batches.encoded.flat.numel() == sum(len(n) for n, _ in dataset.pairs)


def test_scripts_file_gives_custom_labels_a_script_table(tiny_data: Path, isolated: Path) -> None:
    table = isolated / "scripts.json"
    table.write_text(json.dumps({"Gamman": ["Latin", "Cyrillic"], "Alphan": ["Latin"]}), encoding="utf-8")
    runner = CliRunner()
    trained = runner.invoke(
        cli, ["train", "--data", str(tiny_data), "--scripts", str(table), "--out", "run", *TINY_TRAIN]
    )
    assert trained.exit_code == 0, trained.output
    answer = json.loads(runner.invoke(cli, ["predict", "--checkpoint", "run", "--json", "Макдурин"]).stdout)[
        0
    ]
    assert answer["script"] == "Cyrillic script"
    assert [p["language"] for p in answer["predictions"]] == ["Gamman"]


def test_a_bad_scripts_file_is_one_line_and_writes_nothing(tiny_data: Path, isolated: Path) -> None:
    table = isolated / "scripts.json"
    table.write_text(json.dumps({"Klingon": ["Latin"]}), encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["train", "--data", str(tiny_data), "--scripts", str(table), "--out", "run", *TINY_TRAIN]
    )
    assert result.exit_code == 1 and "Klingon" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (isolated / "run").exists()


def test_a_label_whose_every_row_is_bad_is_named_not_dropped(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("name,language\nSmith,en\nJones,en\n123,xx\n😀,xx\nRossi,it\n", encoding="utf-8")
    with pytest.raises(
        NamelstmError, match=r"every row of 'xx' is bad \(first: a\.csv line 4: '123' has no letters\)"
    ):
        load_names(path)
