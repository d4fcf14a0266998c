"""Distillation: the teacher's softened probabilities replace the labels, in the library's one loop."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from conftest import TINY_CONFIG
from torch.nn import functional as F

from namelstm.config import TrainConfig
from namelstm.data.names import Split
from namelstm.errors import NamelstmError
from namelstm.runs import SPLIT, read_json
from namelstm.training.distill import distillation_loss, teacher_probabilities
from namelstm.training.launch import train


def test_with_one_hot_targets_at_t1_the_loss_is_the_weighted_nll() -> None:
    generator = torch.Generator().manual_seed(0)
    log_probs = torch.randn(12, 4, generator=generator).log_softmax(1)
    targets = torch.randint(0, 4, (12,), generator=generator)
    weights = torch.tensor([1.0, 2.0, 0.5, 3.0])
    soft = F.one_hot(targets, 4).float()
    expected = F.nll_loss(log_probs, targets, weight=weights, reduction="sum")
    assert torch.allclose(distillation_loss(log_probs, soft, targets, weights, 1.0), expected)
    # Softer targets: the gradient pulls toward the teacher's other languages too.
    blurred = 0.7 * soft + 0.3 / 4
    assert not torch.allclose(distillation_loss(log_probs, blurred, targets, weights, 1.0), expected)


def test_a_student_learns_from_a_teacher_run(tiny_run: Path, tmp_path: Path) -> None:
    split = Split.from_dict(read_json(tiny_run / SPLIT))
    soft = teacher_probabilities((str(tiny_run),), split, 2.0)
    assert soft.shape == (len(split.train), len(split.languages))
    assert torch.allclose(soft.sum(1), torch.ones(len(split.train)))
    sharper = teacher_probabilities((str(tiny_run),), split, 1.0)
    assert float(sharper.max(1).values.mean()) > float(soft.max(1).values.mean())  # T softens
    config = dataclasses.replace(TINY_CONFIG, teachers=(str(tiny_run),), distill_temperature=2.0, epochs=3)
    result = train(config, split, tmp_path / "student", progress=False, log=lambda _: None)
    assert "distilled from 1 teacher at T 2" in config.describe()
    assert result.test_metrics["accuracy"] > 0.5  # three languages: chance is a third
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_a_teacher_of_other_languages_or_a_bad_temperature_is_refused(tiny_run: Path) -> None:
    split = Split.from_dict(read_json(tiny_run / SPLIT))
    other = dataclasses.replace(split, languages=("Alphan", "Betan", "Deltan"))
    with pytest.raises(NamelstmError, match="other languages"):
        teacher_probabilities((str(tiny_run),), other, 2.0)
    with pytest.raises(NamelstmError, match="must be positive"):
        teacher_probabilities((str(tiny_run),), split, 0.0)
