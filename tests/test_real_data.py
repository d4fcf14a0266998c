"""End to end on the real 18-language data (skipped where it is not present)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from namelstm.cli import cli
from namelstm.config import TrainConfig
from namelstm.inference.predict import Predictor
from namelstm.training.launch import train_from_data

pytestmark = [pytest.mark.realdata, pytest.mark.slow]
QUIET = {"progress": False, "log": lambda _: None}


@pytest.fixture(scope="module")
def lstm_run(real_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default `namelstm train --model lstm`, as a user runs it."""
    run_dir = tmp_path_factory.mktemp("real") / "lstm"
    result = CliRunner().invoke(cli, ["train", "--data-dir", str(real_data), "--out", str(run_dir), "-q"])
    assert result.exit_code == 0, result.output
    return run_dir


def test_default_lstm_is_balanced_and_calibrated_on_held_out_names(lstm_run: Path) -> None:
    # The default recipe trades some plain accuracy for balance (chosen on validation, issue 9).
    # Over seeds 0-4 it scored 76.0-79.2% accuracy and 49.4-54.7% balanced accuracy (docs/trust.md), so a
    # single seed is held to the low end of that spread, not to one seed's value.
    checkpoint = Predictor.load(lstm_run).checkpoint
    assert checkpoint is not None
    test = checkpoint.metrics["test"]
    assert test["accuracy"] >= 0.70 and test["balanced_accuracy"] >= 0.45 and test["ece"] <= 0.04
    assert "split by name 0.8/0.1/0.1 seed 0" in checkpoint.metrics["test"]["split"]
    # The balance is the logit adjustment's doing: at tau 0 the same weights are less balanced.
    validation = json.loads((lstm_run / "metrics.json").read_text())["validation"]
    tau_zero = next(row for row in validation["tradeoff"] if row["tau"] == 0)
    assert validation["balanced_accuracy"] > tau_zero["balanced_accuracy"]


def test_dostoevsky_has_russian_in_its_top_3_in_latin_and_first_in_cyrillic(lstm_run: Path) -> None:
    # One 64-unit LSTM is not sure of every name: seed 0 answers Czech for Dostoevsky (69%), seeds
    # 1-4 Russian (README). Russian stays among its first three; the Cyrillic spelling, whose script
    # only Russian is written in, answers Russian first; the capitals are read as the name.
    predictor = Predictor.load(lstm_run)
    dostoevsky, nakamura, cyrillic, capitals = predictor.predict(
        ["Dostoevsky", "Nakamura", "Достоевский", "NAKAMURA"], top_k=3
    )
    assert "Russian" in [language for language, _ in dostoevsky.predictions]
    assert cyrillic.predictions[0][0] == "Russian" and cyrillic.seen_as == "Dostoevskiy"
    assert nakamura.predictions[0][0] == capitals.predictions[0][0] == "Japanese"
    assert cyrillic.predictions[0][0] == "Russian"


def test_plot_draws_all_18_languages(lstm_run: Path) -> None:
    result = CliRunner().invoke(cli, ["plot", str(lstm_run)])
    assert result.exit_code == 0, result.output
    assert (lstm_run / "confusion.png").stat().st_size > 20_000


@pytest.mark.parametrize("model", ["rnn", "mylstm"])
def test_rnn_and_mylstm_train_without_diverging(real_data: Path, tmp_path: Path, model: str) -> None:
    config = dataclasses.replace(TrainConfig(model=model), epochs=5)
    result = train_from_data(config, real_data, tmp_path / model, **QUIET)
    losses = [r["train_loss"] for r in result.history]
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]
    assert result.test_metrics["accuracy"] >= 0.60  # after 5 epochs; measured 0.640 (mylstm, seed 0)
