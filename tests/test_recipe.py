"""The training recipe's options: the cosine learning-rate schedule and averaging the last epochs' weights."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from conftest import TINY_CONFIG
from torch.nn import functional as F

from namelstm.config import TrainConfig
from namelstm.data.names import load_names, split_by_name
from namelstm.errors import NamelstmError
from namelstm.training.distributed import Group, World
from namelstm.training.feed import Step
from namelstm.training.launch import train_from_data
from namelstm.training.settings import resolve_config
from namelstm.training.train import Trainer, _epoch_lr

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


def test_weight_decay_and_label_smoothing_are_used_and_described_only_when_set(
    tiny_data: Path, tmp_path: Path
) -> None:
    plain = dataclasses.replace(TINY_CONFIG, epochs=1)
    assert "weight decay" not in plain.describe() and "smoothing" not in plain.describe()
    regular = dataclasses.replace(plain, weight_decay=1e-3, label_smoothing=0.1)
    assert "weight decay 0.001, label smoothing 0.1" in regular.describe()
    for name, config in (("plain", plain), ("regular", regular)):
        train_from_data(config, tiny_data, tmp_path / name, **QUIET)
    plain_state, regular_state = (
        torch.load(tmp_path / n / "resume.pt", weights_only=True) for n in ("plain", "regular")
    )
    assert regular_state["optimizer"]["param_groups"][0]["weight_decay"] == 1e-3
    assert not torch.equal(plain_state["model"]["out.weight"], regular_state["model"]["out.weight"])
    for bad, message in [
        ({"weight_decay": -1.0}, "weight_decay must be 0 or more"),
        ({"label_smoothing": 1.0}, "label_smoothing must be at least 0 and below 1"),
        ({"label_smoothing": 0.1, "teachers": ("pretrained",)}, "both soften the targets"),
    ]:
        with pytest.raises(NamelstmError, match=message):
            resolve_config(dataclasses.replace(plain, **bad))


@pytest.mark.parametrize("ranks", [1, 2])
def test_a_steps_loss_is_its_part_of_the_global_batchs_weighted_mean_times_the_ranks(
    tiny_data: Path, ranks: int
) -> None:
    """What one process minimises is the class-weighted mean (with label smoothing, cross_entropy's);
    DistributedDataParallel averages the ranks' gradients, so each rank's part is multiplied by their
    number."""
    split = split_by_name(load_names(tiny_data))
    config = dataclasses.replace(TINY_CONFIG, label_smoothing=0.1)
    trainer = Trainer(config, split, Group(World(0, ranks, 0)))
    trainer.weights = torch.tensor([1.0, 2.0, 0.5])
    generator = torch.Generator().manual_seed(0)
    output = torch.log_softmax(torch.randn(4, 3, generator=generator), 1)
    targets = torch.tensor([0, 1, 2, 1])
    whole = float(trainer.weights[targets].sum())
    step = Step(torch.zeros(4, 1, dtype=torch.long), torch.ones(4), targets, whole, names=4, batch=4)
    mean = F.cross_entropy(output, targets, trainer.weights, label_smoothing=0.1)
    assert trainer.step_loss(output, step).item() == pytest.approx(ranks * mean.item())
    plain = Trainer(dataclasses.replace(config, label_smoothing=0.0), split, Group(World(0, ranks, 0)))
    plain.weights = trainer.weights
    weighted = F.nll_loss(output, targets, plain.weights)
    assert plain.step_loss(output, step).item() == pytest.approx(ranks * weighted.item())
    idle = dataclasses.replace(step, names=0)  # a rank left without names in this global batch
    assert plain.step_loss(output, idle).item() == 0.0
