from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import ended

from namelstm.cli import cli
from namelstm.config import TAU_GRID, TrainConfig

TINY_TRAIN = ["--epochs", "8", "--batch-size", "16", "--hidden-size", "16", "--lr", "0.3", "-q"]


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


def test_every_train_option_is_a_setting_of_the_run_or_says_where_and_how_to_run_it() -> None:
    # `train` builds its TrainConfig from the options named like its fields: a setting whose option
    # had another name would be dropped without a word.
    where_and_how = {"data_dir", "name_column", "label_column", "out", "overwrite", "resume", "plots"}
    where_and_how |= {"quiet", "nproc"}
    options = {p.name for p in cli.commands["train"].params}
    assert options - where_and_how <= {f.name for f in fields(TrainConfig)}


@pytest.mark.parametrize(
    "command", ["train", "predict", "evaluate", "plot", "compare", "analyze", "serve", "data"]
)
def test_every_command_help_has_an_example(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output and f"namelstm {command}" in result.output


def test_train_prints_a_one_line_summary_with_test_accuracy(trained: Path, tiny_data: Path) -> None:
    result = run("train", "--data-dir", str(tiny_data), *TINY_TRAIN, "--model", "rnn", "--no-plots")
    assert result.exit_code == 0, result.output
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("rnn: test accuracy ") and "held-out names" in last and "seed 0" in last
    assert (trained.parent / "rnn" / "checkpoint.pt").is_file()


def test_predict_text_json_and_stdin(trained: Path) -> None:
    text = run("predict", "Bakiaki", "McDurin")
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0] == "Bakiaki" and lines[1].split()[0] == "Betan" and lines[1].strip().endswith("%")
    assert lines[4] == "McDurin" and lines[5].split()[0] == "Gamman"
    assert "using the latest run" in text.stderr
    as_json = run("predict", "--json", "-k", "2", "-", input="Bakiaki\n\nMcDurin\nZàrov\n")
    assert as_json.exit_code == 0, as_json.output
    results = json.loads(as_json.stdout)
    assert [r["name"] for r in results] == ["Bakiaki", "McDurin", "Zàrov"]
    assert results[2]["seen_as"] == "Zarov"
    assert [len(r["predictions"]) for r in results] == [2, 2, 2]
    assert results[1]["predictions"][0]["language"] == "Gamman"
    assert abs(sum(p["probability"] for p in results[0]["predictions"]) - 1) < 0.2


def test_evaluate_json_has_the_promised_keys_and_writes_metrics(trained: Path) -> None:
    (trained / "metrics.json").unlink()
    result = run("evaluate", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    for key in ("accuracy", "top3_accuracy", "balanced_accuracy", "macro_f1", "per_language", "split"):
        assert key in metrics
    assert set(metrics["per_language"]) == {"Alphan", "Betan", "Gamman"}
    assert json.loads((trained / "metrics.json").read_text())["accuracy"] == metrics["accuracy"]
    table = run("evaluate", "--checkpoint", str(trained))
    assert "balanced accuracy" in table.stdout and "Gamman" in table.stdout


@pytest.mark.slow  # several seconds: the fast suite keeps under 45 s on 2 cores
def test_plot_writes_png_figures_and_an_overlay(trained: Path) -> None:
    result = run("plot")
    assert result.exit_code == 0, result.output
    for name in ("loss.png", "confusion.png", "reliability.png", "tradeoff.png"):
        assert (trained / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A run scored before the trade-off existed (or with no validation names) gets no tradeoff.png.
    metrics = json.loads((trained / "metrics.json").read_text())
    (trained / "metrics.json").write_text(json.dumps({**metrics, "validation": {"tradeoff": []}}))
    (trained / "tradeoff.png").unlink()
    assert run("plot").exit_code == 0 and not (trained / "tradeoff.png").exists()
    shutil.copytree(trained, trained.parent / "copy")
    result = run("plot", str(trained), str(trained.parent / "copy"), "--overlay", "overlay.png")
    assert result.exit_code == 0, result.output
    assert Path("overlay.png").read_bytes()[:4] == b"\x89PNG"


def test_predict_tau_overrides_the_fitted_adjustment_and_evaluate_keeps_the_tradeoff(trained: Path) -> None:
    metrics = json.loads(run("evaluate", "--json").stdout)
    rows = metrics["validation"]["tradeoff"]
    assert [r["tau"] for r in rows] == list(TAU_GRID)
    fitted = metrics["calibration"]["tau"]
    assert (
        max(rows, key=lambda r: r["score"])["score"] == next(r for r in rows if r["tau"] == fitted)["score"]
    )

    def first(*options: str) -> dict:
        result = run("predict", "--json", "-k", "3", "Bakiaki", *options)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)[0]["predictions"]

    assert first("--tau", str(fitted)) == first()
    assert first("--tau", "2") != first("--tau", "-0.5")
    assert run("predict", "Bakiaki", "--tau", "40").exit_code == 2


def test_python_dash_m_runs_the_same_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "namelstm", "--help"], capture_output=True, text=True, check=True
    )
    assert "namelstm train --model lstm" in result.stdout


def test_data_describes_a_directory_and_says_it_is_not_the_official_one(tiny_data: Path) -> None:
    from namelstm.data.names import load_names

    tiny = run("data", "--data-dir", str(tiny_data))
    assert tiny.exit_code == 0 and "custom data (not the official files)" in tiny.stdout
    dataset = load_names(tiny_data)
    assert (
        f"{len(dataset.pairs)} distinct (name, label) pairs from 243 rows; {dataset.duplicates} repeats, "
        "1 bad rows; 57 letters"
    ) in tiny.stdout
    assert "bad row: Alphan.txt line 82: '12345' has no letters" in tiny.stdout


@pytest.mark.realdata
def test_data_recognises_the_official_files(real_data: Path) -> None:
    real = run("data", "--data-dir", str(real_data))
    assert "the official files (SHA-256 checked)" in real.stdout and "Arabic             108" in real.stdout


def test_serve_command_answers_and_stops_on_ctrl_c(isolated: Path) -> None:
    import re
    import signal
    import urllib.request

    process = subprocess.Popen(
        [sys.executable, "-m", "namelstm", "serve", "--port", "0", "--tau", "0", "-q"],
        stderr=subprocess.PIPE,
        text=True,
    )
    with ended(process):  # killed if anything below fails: a failed test leaves no server running
        note, line = process.stderr.readline(), process.stderr.readline()
        assert "using the pretrained model" in note
        port = re.search(r"http://127\.0\.0\.1:(\d+)/", line).group(1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30) as response:
            health = json.loads(response.read())
        assert health["status"] == "ok" and health["checkpoint"] == "pretrained"  # nothing trained here
        assert health["tau"] == 0.0  # --tau replaced the fitted adjustment
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0


def test_lr_and_hidden_size_help_comes_from_the_model_classes() -> None:
    from namelstm.models import MODELS

    result = run("train", "--help")
    text = " ".join(result.output.split())  # click wraps help lines
    for name, cls in MODELS.items():
        assert f"{name} {cls.default_lr:g}" in text and f"{name} {cls.default_hidden_size}" in text
    assert f"Model family: {', '.join(MODELS)}." in text
    for name, cls in MODELS.items():
        assert f"{name} {cls.default_lr_schedule}" in text and f"{name} {cls.default_average_last}" in text


@pytest.mark.parametrize("option", [("--lr-schedule", "cosine"), ("--average-last", "3"), ("--lr", "0.1")])
def test_resume_refuses_a_setting_of_its_own(tmp_path: Path, option: tuple[str, str]) -> None:
    result = run("train", "--resume", str(tmp_path), *option)
    assert result.exit_code == 2
    assert f"--resume continues with the run's own settings; drop {option[0]}" in result.output


def test_lr_schedule_and_average_last_reach_the_saved_config(tiny_data: Path, tmp_path: Path) -> None:
    from namelstm.checkpoint import load_checkpoint

    args = ["--model", "rnn", "--epochs", "2", "--hidden-size", "8", "-q", "--no-plots"]
    out = tmp_path / "run"
    result = run(
        "train",
        "--data-dir",
        str(tiny_data),
        *args,
        "--lr-schedule",
        "cosine",
        "--average-last",
        "2",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    config = load_checkpoint(out / "checkpoint.pt").config
    assert (config["lr_schedule"], config["average_last"]) == ("cosine", 2)


def test_predict_evaluate_and_serve_share_one_default_model(trained: Path) -> None:
    nested = trained.parent / "compare" / "lstm-e2-s0"  # a helper run, written after the user's run
    shutil.copytree(trained, nested)
    (nested / "checkpoint.pt").touch()
    evaluated = run("evaluate", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["run"] == str(Path("outputs") / "lstm")
    assert f"using the latest run, {Path('outputs') / 'lstm'}" in evaluated.stderr


def test_evaluate_scores_the_checkpoint_file_it_is_given_and_keeps_the_runs_metrics(trained: Path) -> None:
    import dataclasses

    import torch

    from namelstm.checkpoint import load_checkpoint, save_checkpoint

    own = load_checkpoint(trained / "checkpoint.pt")
    untrained = {k: torch.zeros_like(v) for k, v in own.state_dict.items()}  # answers one language
    save_checkpoint(trained / "old.pt", dataclasses.replace(own, state_dict=untrained, epoch=1))
    before = (trained / "metrics.json").read_bytes()
    result = run("evaluate", "--json", "--checkpoint", str(trained / "old.pt"))
    assert result.exit_code == 0, result.output
    old = json.loads(result.stdout)
    assert old["run"] == str(trained / "old.pt") and old["epoch"] == 1
    assert old["accuracy"] < json.loads(before)["accuracy"]
    assert (trained / "metrics.json").read_bytes() == before


def test_evaluate_and_analyze_take_data_as_train_does() -> None:
    for command in (cli.commands["evaluate"], cli.commands["analyze"].commands["stability"]):  # type: ignore[attr-defined]
        names = {opt for p in command.params for opt in p.opts}
        assert {"--data", "--data-dir"} <= names, command.name


def test_plot_of_an_unfinished_run_leaves_it_unfinished(trained: Path) -> None:
    # An interrupted run has no metrics.json; compare and --resume read its absence as "not done".
    (trained / "metrics.json").unlink()
    result = run("plot", str(trained))
    assert result.exit_code == 0, result.output
    assert (trained / "loss.png").is_file() and not (trained / "metrics.json").exists()
