"""The training recipe's options: the cosine learning-rate schedule and averaging the last epochs' weights."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from conftest import TINY_CONFIG

from namelstm.config import TrainConfig
from namelstm.errors import NamelstmError
from namelstm.train import _epoch_lr, resolve_config, train_from_data

QUIET = {"progress": False, "log": lambda _: None}


def test_cosine_schedule_falls_from_lr_towards_zero() -> None:
    config = dataclasses.replace(TINY_CONFIG, lr=0.4, epochs=4, lr_schedule="cosine")
    rates = [_epoch_lr(config, epoch) for epoch in range(1, 5)]
    assert rates[0] == pytest.approx(0.4) and rates[2] == pytest.approx(0.2)
    assert rates == sorted(rates, reverse=True) and rates[-1] > 0
    assert _epoch_lr(dataclasses.replace(config, lr_schedule="constant"), 3) == 0.4


def test_bad_schedule_or_average_is_one_clear_error() -> None:
    with pytest.raises(NamelstmError, match="unknown lr schedule 'step'"):
        resolve_config(dataclasses.replace(TINY_CONFIG, lr_schedule="step"))
    with pytest.raises(NamelstmError, match="average_last must be 0 .keep the best epoch. or more, not -1"):
        resolve_config(dataclasses.replace(TINY_CONFIG, average_last=-1))
    assert resolve_config(dataclasses.replace(TINY_CONFIG, average_last=9)).average_last == TINY_CONFIG.epochs


@pytest.mark.parametrize("average_last", [1, 2])
def test_averaged_weights_are_the_ones_kept(tiny_data: Path, tmp_path: Path, average_last: int) -> None:
    config = dataclasses.replace(TINY_CONFIG, epochs=3, average_last=average_last, lr_schedule="cosine")
    result = train_from_data(config, tiny_data, tmp_path / "run", **QUIET)
    kept = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    last = torch.load(tmp_path / "run" / "resume.pt", weights_only=True)["model"]
    assert result.best_epoch == kept["epoch"] == 3 and result.test_metrics["accuracy"] > 0.5  # chance is 1/3
    same = all(torch.equal(kept["state_dict"][k], last[k]) for k in last)
    assert same == (average_last == 1)  # the mean of one epoch is that epoch; of two, something new


def test_lstm_defaults_are_the_recipe_chosen_on_validation() -> None:
    config = resolve_config(TrainConfig(model="lstm"))
    assert (config.lr, config.lr_schedule, config.average_last, config.balance) == (0.8, "cosine", 10, "none")
    assert config.optimizer == "sgd" and "cosine schedule" in config.describe()
    assert resolve_config(TrainConfig(model="rnn")).lr_schedule == "constant"
