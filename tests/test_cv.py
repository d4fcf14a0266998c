"""Cross-validation by name: folds that never share a name, choices made without the test fold, and
pooled figures with intervals."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import TINY_CONFIG

from namelstm.cli import cli
from namelstm.data.names import load_names
from namelstm.experiments.cv import (
    POOLED_FILE,
    Recipe,
    assign_parts,
    cross_validate,
    fold_outputs,
    fold_splits,
)
from namelstm.experiments.stats import draw_intervals
from namelstm.metrics import bootstrap_draws


def _check_folds(pairs: list[tuple[str, str]], parts: list[int], k: int) -> None:
    fold_of_name: dict[str, set[int]] = defaultdict(set)
    for (name, _), part in zip(pairs, parts, strict=True):
        fold_of_name[name.lower()].add(part)
    assert all(len(f) == 1 for f in fold_of_name.values()), "a name in two folds"
    assert set(parts) == set(range(k))
    per_language: dict[str, Counter[int]] = defaultdict(Counter)
    for (_, language), part in zip(pairs, parts, strict=True):
        per_language[language][part] += 1
    for counts in per_language.values():
        sizes = [counts[p] for p in range(k)]
        # Stratified: each language spread evenly (names shared with another language bend it a little).
        assert max(sizes) - min(sizes) <= max(2, sum(sizes) // 20)


def test_folds_keep_every_name_in_one_fold_and_spread_each_language(real_data: Path) -> None:
    pairs = list(load_names(real_data, progress=False).pairs)
    parts = assign_parts(pairs, 5, seed=0)
    _check_folds(pairs, parts, 5)
    assert assign_parts(pairs, 5, seed=0) == parts and assign_parts(pairs, 5, seed=1) != parts


def test_a_name_in_several_languages_and_cases_stays_in_one_fold() -> None:
    pairs = [(f"Name{i}", lang) for i in range(40) for lang in ("A", "B") if (i + (lang == "B")) % 2]
    pairs += [("Schmidt", "A"), ("Schmidt", "B"), ("schmidt", "C"), ("Lee", "C"), ("LEE", "A")]
    parts = assign_parts(pairs, 3, seed=0)
    _check_folds(pairs, parts, 3)


def test_each_fold_tests_its_names_once_and_validates_on_other_names(tiny_data: Path) -> None:
    dataset = load_names(tiny_data, progress=False)
    splits = fold_splits(dataset, 3, seed=0)
    tested = [pair for s in splits for pair in s.test]
    assert sorted(tested) == sorted(dataset.pairs)
    for s in splits:
        names = {part: {n.lower() for n, _ in getattr(s, part)} for part in ("train", "val", "test")}
        assert not names["test"] & (names["train"] | names["val"]) and not names["train"] & names["val"]
        assert len(s.val) > 0 and len(s.train) > len(s.val)


@pytest.fixture(scope="module")
def cross_validated(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("cv")
    dataset = load_names(tiny_data, progress=False)
    report = cross_validate(Recipe.single(TINY_CONFIG), dataset, out, folds=3, seed=0, progress=False)
    return out, report


def test_cv_json_pools_every_name_once_with_intervals(
    cross_validated: tuple[Path, dict], tiny_data: Path
) -> None:
    out, report = cross_validated
    saved = json.loads((out / "cv.json").read_text())
    assert saved["folds_count"] == 3 and [f["fold"] for f in saved["folds"]] == [0, 1, 2]
    assert all(isinstance(v, (int, float, str)) for f in saved["folds"] for v in f.values())  # flat rows
    n = len(load_names(tiny_data, progress=False).pairs)
    assert saved["pooled"]["n"] == n == sum(f["test"] for f in saved["folds"])
    for point in ("pooled", "as_trained", "best_rule"):
        for key in ("accuracy", "balanced_accuracy", "macro_f1", "ece"):
            low, high = saved[point]["intervals"][key]
            assert low <= saved[point][key] <= high
    assert set(saved["pooled"]["recall"]) == {"Alphan", "Betan", "Gamman"}
    # The pooled figures are under the family's own tau rule (lstm: the best score), and say so.
    assert saved["tau_rule"] == "best" and saved["pooled"] == saved["best_rule"]
    assert [f["tau"] for f in saved["folds"]] == [f["tau_best_rule"] for f in saved["folds"]]
    # The pooled names' calibrated outputs are kept, so families can be paired name by name.
    with np.load(out / POOLED_FILE, allow_pickle=False) as pooled:
        right = pooled["log_probs"].argmax(1) == pooled["targets"]
    assert len(right) == n and abs(right.mean() - saved["pooled"]["accuracy"]) < 1e-6


def test_each_folds_tau_is_fitted_without_its_test_fold(
    cross_validated: tuple[Path, dict], tiny_data: Path
) -> None:
    out, report = cross_validated
    splits = fold_splits(load_names(tiny_data, progress=False), 3, seed=0)
    for k, split in enumerate(splits):
        (run,) = (out / f"fold-{k}").glob("*/checkpoint.pt")
        fitted = fold_outputs(run, split)
        # Every test name relabelled with one language: a tau fitted on them would move; this one must not.
        relabelled = dataclasses.replace(split, test=tuple((n, split.languages[0]) for n, _ in split.test))
        again = fold_outputs(run, relabelled)
        assert fitted["calibrations"]["one-se"] == again["calibrations"]["one-se"]
        assert not torch.equal(fitted["test"].targets, again["test"].targets)
        assert report["folds"][k]["tau"] == fitted["calibrations"]["one-se"].tau


def test_bootstrap_intervals_narrow_with_more_names() -> None:
    generator = torch.Generator().manual_seed(0)

    def width(n: int) -> float:
        targets = torch.randint(0, 4, (n,), generator=generator)
        logits = torch.randn(n, 4, generator=generator) + 1.5 * torch.nn.functional.one_hot(targets, 4)
        low, high = draw_intervals(bootstrap_draws(logits.log_softmax(1), targets, 4))["accuracy"]
        return high - low

    assert width(4000) < width(250) / 2


def test_cv_command_prints_pooled_figures_with_intervals(tiny_data: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "cv",
            "--model",
            "lstm",
            "--folds",
            "2",
            "--epochs",
            "2",
            "--data",
            str(tiny_data),
            "--out",
            str(tmp_path / "cv"),
            "--jobs",
            "1",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "2-fold cross-validation by name" in result.output
    assert "as trained (τ 0)" in result.output and "[" in result.output.splitlines()[1]
    assert (tmp_path / "cv" / "cv.json").is_file()
    bad = CliRunner().invoke(cli, ["cv", "--folds", "1", "--data", str(tiny_data)])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
