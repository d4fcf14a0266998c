"""Every mistake gets one clear line and a non-zero exit code (2 for usage errors), never a
traceback, and leaves the files on disk as they were. Numbers follow the items of the issue."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result

from namelstm.cli import cli

TINY = ["--epochs", "3", "--batch-size", "16", "--hidden-size", "8", "-q", "--no-plots"]


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under root, with a digest of each file's bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


def fails_cleanly(args: list[str], code: int, message: str, root: Path, input: str | None = None) -> Result:
    """Run the CLI and check the exit code, the one-line message and that nothing changed under root."""
    before = snapshot(root)
    result = CliRunner().invoke(cli, args, input=input)
    assert result.exit_code == code, result.output
    assert message in result.output, result.output
    assert "Traceback" not in result.output
    assert [line for line in result.stderr.splitlines() if line.startswith("Error")] == [
        result.stderr.strip().splitlines()[-1]
    ]
    assert snapshot(root) == before
    return result


# 1. names with no letters (any trained model will do: with no run, predict uses the shipped one)
@pytest.mark.parametrize("name", ["", "   ", "12345", "!!!"])
def test_1_a_name_without_letters(isolated: Path, name: str) -> None:
    fails_cleanly(["predict", name], 2, "has no letters", isolated)


def test_1_other_scripts_are_transliterated_not_dropped(isolated: Path) -> None:
    result = CliRunner().invoke(cli, ["predict", "Достоевский", "Strauß"])
    assert result.exit_code == 0, result.output
    assert "Достоевский  (read as 'Dostoevskiy'; Cyrillic script" in result.stdout
    assert "Strauß  (read as 'Strauss')" in result.stdout


# 2. huge input
def test_2_a_100000_character_name(isolated: Path) -> None:
    fails_cleanly(
        ["predict", "a" * 100_000],
        2,
        "is 100,000 characters long; a name has at most 1,000 letters",
        isolated,
    )


def test_2_a_bad_line_on_stdin_is_named_by_position(isolated: Path) -> None:
    fails_cleanly(["predict", "-"], 2, "line 3: '!!!' has no letters", isolated, input="Ann\nBob\n!!!\n")


@pytest.mark.slow  # several seconds: the fast suite keeps under 45 s on 2 cores
def test_2_100000_names_on_stdin_all_come_out_in_order(trained: Path) -> None:
    names = [f"Mc{'ab' * (i % 7 + 1)}" for i in range(100_000)]
    result = CliRunner().invoke(cli, ["predict", "-", "--json", "-k", "1"], input="\n".join(names) + "\n")
    assert result.exit_code == 0, result.output
    results = json.loads(result.stdout)
    assert [r["name"] for r in results] == names
    assert results[0]["predictions"][0]["language"] == "Gamman"


# 3. nothing trained yet (predict then uses the shipped pretrained model: tests/test_pretrained.py)
def test_3_no_run_yet_says_how_to_train(isolated: Path) -> None:
    fails_cleanly(
        ["plot"], 1, "no trained run under outputs/; train one first: namelstm train --model lstm", isolated
    )


def test_3_evaluate_without_a_run_scores_the_pretrained_model_on_its_own_split(
    isolated: Path, tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NAMELSTM_DATA", str(tiny_data))
    result = fails_cleanly(["evaluate"], 1, "do not give the pretrained model's split", isolated)
    assert "no trained run under outputs/" in result.stderr and "using the pretrained model" in result.stderr


# 4. checkpoints that are missing, broken, foreign or hostile
class _RunsCode:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch PWNED",))


def _bad_checkpoints(trained: Path, where: Path) -> dict[str, tuple[Path, str]]:
    good = trained / "checkpoint.pt"
    raw = torch.load(good, weights_only=True)
    cases: dict[str, tuple[Path, str]] = {}

    def put(name: str, content: bytes, message: str) -> None:
        (where / name).write_bytes(content)
        cases[name] = (where / name, message)

    def saved(payload: dict) -> bytes:
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        return buffer.getvalue()

    put("empty.pt", b"", "unreadable")
    put("text.pt", b"hello\n", "unreadable")
    put("truncated.pt", good.read_bytes()[:300], "unreadable")
    put("other-model.pt", saved({**raw, "model_name": "rnn"}), "do not fit a rnn")
    put(
        "other-alphabet.pt", saved({**raw, "alphabet": "abc"}), "do not fit"
    )  # userdata: any alphabet loads; weights must fit it
    put("other-languages.pt", saved({**raw, "languages": ["A", "B"]}), "do not fit")
    put("code.pt", pickle.dumps({"x": _RunsCode()}), "objects other than tensors and plain data (not loaded)")
    (where / "empty-dir").mkdir()
    cases["empty-dir"] = (where / "empty-dir", "holds no checkpoint.pt")
    cases["missing"] = (where / "missing", "does not exist")
    return cases


def test_4_every_unusable_checkpoint_is_refused(trained: Path, isolated: Path) -> None:
    bad = isolated / "bad"
    bad.mkdir()
    for path, message in _bad_checkpoints(trained, bad).values():
        fails_cleanly(["predict", "--checkpoint", str(path), "Smith"], 1, message, isolated)
    assert not (isolated / "PWNED").exists()


def test_4_a_checkpoint_whose_languages_differ_from_its_split(trained: Path, isolated: Path) -> None:
    split = trained / "split.json"
    split.write_text(split.read_text().replace("Gamman", "Deltan"))
    fails_cleanly(["evaluate"], 1, "knows other languages than the run's split.json", isolated)


# 5. data directories that cannot be used
def _data_dir(isolated: Path, files: dict[str, bytes]) -> Path:
    directory = isolated / "d"
    directory.mkdir(exist_ok=True)
    for name, content in files.items():
        (directory / name).write_bytes(content)
    return directory


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (None, "--data d is not a directory"),
        ({}, "d holds 0 .txt file(s)"),
        ({"notes.md": b"x"}, "d holds 0 .txt file(s)"),
        ({"A.txt": b"Anna\n", "B.txt": b"Bob\nJos\xe9\n"}, "d/B.txt line 2 is not UTF-8 (byte 0xe9)"),
        ({"A.txt": b"Anna\n", "B.txt": b"123\n???\n"}, "d/B.txt holds no usable names"),
    ],
    ids=["missing", "empty", "no-txt", "not-utf8", "no-usable-names"],
)
def test_5_bad_data_directories(isolated: Path, files: dict[str, bytes] | None, message: str) -> None:
    if files is not None:
        _data_dir(isolated, files)
    fails_cleanly(["train", "--data-dir", "d", *TINY], 1, message, isolated)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".txt"])
def test_5_a_table_to_predict_that_is_not_utf8(isolated: Path, suffix: str) -> None:
    # The bad byte on line 3001: text-mode reading decodes in blocks and said "near line 2569".
    rows = [b"name"] + [b"Ann"] * 2999 + [b"Jos\xe9"]
    (isolated / f"in{suffix}").write_bytes(b"\n".join(rows) + b"\n")
    args = ["predict", "--checkpoint", "pretrained", "--input", f"in{suffix}", "--output", "out.csv", "-q"]
    fails_cleanly(
        args, 1, f"in{suffix} line 3001 is not UTF-8 (byte 0xe9); convert it first, e.g. iconv", isolated
    )


def test_5_stdin_that_is_not_utf8_stops_as_a_file_does(isolated: Path) -> None:
    result = CliRunner().invoke(
        cli, ["predict", "--checkpoint", "pretrained", "-"], input=b"Smith\nM\xfcller\n"
    )
    assert result.exit_code == 1 and "standard input line 2 is not UTF-8 (byte 0xfc)" in result.output
    assert "Mller" not in result.output and "\ufffd" not in result.output


def test_5_a_header_cell_with_spaces_is_found_by_its_name(isolated: Path) -> None:
    (isolated / "in.csv").write_text("id, name ,city\n1,Rossi,Roma\n", encoding="utf-8")
    args = [
        "predict",
        "--checkpoint",
        "pretrained",
        "--input",
        "in.csv",
        "--column",
        "name",
        "--output",
        "o.csv",
    ]
    result = CliRunner().invoke(cli, [*args, "-q"])
    assert result.exit_code == 0, result.output
    assert (isolated / "o.csv").read_text(encoding="utf-8").splitlines()[0].startswith("id,name,city,seen_as")


def test_5_a_download_that_fails_its_checksum(
    isolated: Path, tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = isolated.parent / f"{isolated.name}-data.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in tiny_data.glob("*.txt"):
            zf.write(path, f"data/names/{path.name}")
    monkeypatch.setattr("namelstm.data.names.DATA_URL", archive.as_uri())
    monkeypatch.setattr("namelstm.data.names.NAMES_SHA256", {"Alphan.txt": "0" * 64})
    fails_cleanly(["train", *TINY], 1, "Alphan.txt fails its SHA-256 check", isolated)


# 6. unknown model and numbers out of range
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--model", "gru"], "unknown model 'gru'; choose one of rnn, lstm"),
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--batch-size", "0"], "--batch-size"),
        (["train", "--lr", "-1"], "--lr"),
        (["train", "--hidden-size", "0"], "--hidden-size"),
        (["predict", "--top-k", "0", "Smith"], "--top-k"),
    ],
)
def test_6_usage_errors_exit_2(isolated: Path, args: list[str], message: str) -> None:
    before = snapshot(isolated)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert snapshot(isolated) == before


def test_6_top_k_above_the_number_of_languages(trained: Path, isolated: Path) -> None:
    fails_cleanly(["predict", "--top-k", "4", "Smith"], 2, "at most 3", isolated)


# 7. output that cannot be written
def test_7_a_file_where_the_run_directory_should_be(isolated: Path, tiny_data: Path) -> None:
    (isolated / "taken").write_text("mine\n")
    fails_cleanly(
        ["train", "--data-dir", str(tiny_data), "--out", "taken", *TINY],
        1,
        "cannot use taken as a run directory: a file is in the way",
        isolated,
    )
    fails_cleanly(
        ["train", "--data-dir", str(tiny_data), "--out", "taken/run", *TINY],
        1,
        "not a writable directory",
        isolated,
    )


def test_7_a_read_only_directory(isolated: Path, tiny_data: Path) -> None:
    # /proc takes no new directory even from root, as CI runs; a 0o555 directory stops anyone else.
    fails_cleanly(
        ["train", "--data", str(tiny_data), "--out", "/proc/namelstm-run", *TINY],
        1,
        "cannot create run directory /proc/namelstm-run",
        isolated,
    )
    if os.geteuid() != 0:
        (isolated / "ro").mkdir()
        (isolated / "ro").chmod(0o555)
        fails_cleanly(
            ["train", "--data", str(tiny_data), "--out", "ro/run", *TINY], 1, "not a writable", isolated
        )


def test_7_an_existing_run_is_not_replaced(trained: Path, isolated: Path, tiny_data: Path) -> None:
    fails_cleanly(["train", "--data-dir", str(tiny_data), *TINY], 1, "already holds a trained run", isolated)


# 8. a diverging loss
def test_8_nan_loss_stops_naming_the_epoch_and_keeps_the_last_good_checkpoint(
    trained: Path, isolated: Path, tiny_data: Path
) -> None:
    good = (trained / "checkpoint.pt").read_bytes()
    result = CliRunner().invoke(
        cli, ["train", "--data-dir", str(tiny_data), "--model", "rnn", "--lr", "1e12", "--overwrite", *TINY]
    )
    assert result.exit_code == 1
    assert "the loss became nan in epoch 1; lower --lr" in result.output
    assert (trained / "checkpoint.pt").read_bytes() == good


def test_7_an_output_under_a_file_names_the_output_not_its_temporary_file(isolated: Path) -> None:
    (isolated / "in.csv").write_text("name\nRossi\n", encoding="utf-8")
    (isolated / "afile").write_text("mine\n")
    args = ["predict", "--checkpoint", "pretrained", "--input", "in.csv", "--output", "afile/out.csv", "-q"]
    result = fails_cleanly(args, 1, "cannot write afile/out.csv: Not a directory", isolated)
    assert ".tmp" not in result.output
