"""Families paired on the same cross-validation folds: differences, their intervals and the name groups."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner

from namelstm.cli import cli
from namelstm.data.names import NamesDataset, load_names
from namelstm.errors import NamelstmError
from namelstm.experiments.families import (
    FAMILIES_FILE,
    families_markdown,
    name_groups,
    pair_families,
    paired_accuracy,
)
from namelstm.runs import read_json

POINTS = ("accuracy", "balanced_accuracy", "macro_f1")
DRAWS = 200  # enough to tell 0.35 points apart on 600 names, and fast


def _pooled(n: int = 600, k: int = 3, right: float = 0.9, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets and log-probabilities that pick the target for a share `right` of the names."""
    generator = torch.Generator().manual_seed(seed)
    targets = torch.arange(n) % k
    wrong = (targets + 1) % k
    picked = torch.where(torch.rand(n, generator=generator) < right, targets, wrong)
    return torch.nn.functional.one_hot(picked, k).float().mul(5).log_softmax(1), targets


def _points(pooled: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, dict[str, float]]:
    out = {}
    for model, (log_probs, targets) in pooled.items():
        accuracy = float((log_probs.argmax(1) == targets).float().mean())
        out[model] = {"accuracy": accuracy, "balanced_accuracy": accuracy, "macro_f1": accuracy}
    return out


@pytest.fixture(scope="module")
def dataset(tiny_data: Path) -> NamesDataset:
    return load_names(tiny_data, progress=False)


def _names(dataset: NamesDataset, n: int) -> list[str]:
    return [dataset.pairs[i % len(dataset.pairs)][0] for i in range(n)]


def test_a_better_family_beats_the_baseline_beyond_noise_and_a_copy_does_not(dataset: NamesDataset) -> None:
    n = 600
    pooled = {"lstm": _pooled(n, right=0.6), "ngram": _pooled(n, right=0.6), "cnn": _pooled(n, right=0.95)}
    result = pair_families(pooled, _points(pooled), _names(dataset, n), dataset, seed=0, draws=DRAWS)
    better = result["differences"]["cnn - lstm"]["accuracy"]
    assert better["exceeds_noise"] and better["interval"][0] > 0.2
    assert better["interval"][0] <= better["difference"] <= better["interval"][1]
    same = result["differences"]["ngram - lstm"]
    assert all(same[m]["difference"] == 0 and not same[m]["exceeds_noise"] for m in POINTS)
    assert set(result["differences"]) == {"ngram - lstm", "cnn - lstm", "lstm - ngram", "cnn - ngram"}
    assert result["by_group"]["cnn - ngram"]["length:7+"]["difference"] > 0


def test_families_scored_on_other_names_are_refused(dataset: NamesDataset) -> None:
    a, b = _pooled(100), _pooled(100)
    shuffled = (b[0], b[1].roll(1))
    with pytest.raises(NamelstmError, match="same names"):
        pair_families(
            {"lstm": a, "ngram": shuffled}, _points({"lstm": a, "ngram": b}), _names(dataset, 100), dataset, 0
        )


def test_paired_accuracy_is_exact_for_identical_answers_and_nan_without_names() -> None:
    correct = torch.tensor([True, False, True, True])
    same = paired_accuracy(correct, correct)
    assert same["difference"] == 0 and same["interval"] == [0.0, 0.0] and not same["exceeds_noise"]
    empty = paired_accuracy(correct[:0], correct[:0])
    assert math.isnan(empty["difference"]) and not empty["exceeds_noise"]


def test_name_groups_split_by_length_and_by_languages_listed() -> None:
    # name_groups reads only the data's pairs and languages.
    pairs = (("Kazakov", "Alphan"), ("Rossi", "Betan"), ("ABAKI", "Gamman"), ("Abaki", "Alphan"))
    data = SimpleNamespace(pairs=pairs, languages=("Alphan", "Betan", "Gamman"))
    names = [name for name, _ in pairs]
    groups = name_groups(names, torch.tensor([0, 1, 2, 0]), data)  # type: ignore[arg-type]
    assert groups["length:1-6"].tolist() == [False, True, True, True]
    assert groups["length:7+"].tolist() == [True, False, False, False]
    assert groups["listed:several languages"].tolist() == [False, False, True, True]  # case-insensitive
    assert (groups["listed:one language"] ^ groups["listed:several languages"]).all()
    assert groups["language:Alphan"].tolist() == [True, False, False, True]


def test_markdown_bolds_only_differences_beyond_noise(dataset: NamesDataset) -> None:
    n = 600
    pooled = {
        "lstm": _pooled(n, right=0.6),
        "ngram": _pooled(n, right=0.6, seed=1),
        "bilstm": _pooled(n, right=0.95),
    }
    result = pair_families(pooled, _points(pooled), _names(dataset, n), dataset, seed=0, draws=DRAWS)
    result.update(
        families={
            m: {
                **p,
                "ece": 0.01,
                "intervals": {k: [p[k] - 0.01, p[k] + 0.01] for k in POINTS} | {"ece": [0.0, 0.02]},
                "parameters": 10,
                "train_seconds": [1.0, 2.0],
                "names_per_second": 1000.0,
            }
            for m, p in _points(pooled).items()
        },
        folds=2,
        seed=0,
        names=n,
    )
    text = families_markdown(result)
    row = next(line for line in text.splitlines() if line.startswith("| `bilstm` − `lstm`"))
    assert row.count("**") == 6  # all three differences beyond noise
    assert "| `bilstm` | 10 |" in text and "1.5 ± 0.7" in text
    assert "lstm − ngram" in text and "bilstm − ngram" in text


@pytest.mark.slow
def test_cv_of_several_families_pairs_them_and_reuses_finished_folds(tiny_data: Path, tmp_path: Path) -> None:
    args = ["cv", "--model", "rnn,lstm", "--folds", "2", "--epochs", "1", "--data", str(tiny_data)]
    args += ["--out", str(tmp_path), "--jobs", "1", "-q"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "rnn − lstm" in first.output
    result = read_json(tmp_path / FAMILIES_FILE)
    assert set(result["families"]) == {"rnn", "lstm"} and result["names"] == len(load_names(tiny_data).pairs)
    assert (tmp_path / "families.md").read_text().startswith("2-fold cross-validation by name")
    stamp = (tmp_path / "rnn" / "cv.json").stat().st_mtime_ns
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and (tmp_path / "rnn" / "cv.json").stat().st_mtime_ns == stamp
