"""Class balance, logit adjustment, temperature scaling, ECE, and the name's own script."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from namelstm.calibration import Calibration
from namelstm.config import TAU_GRID
from namelstm.data.script import TUTORIAL_SCRIPTS, default_scripts, evidence, scripts_of
from namelstm.errors import NamelstmError
from namelstm.evaluation.evaluate import Outputs, compute_metrics, tradeoff
from namelstm.metrics import accuracies, bootstrap_draws, expected_calibration_error, selection_score
from namelstm.training.calibrate import class_weights, fit_calibration, fit_tau, fit_temperature

LANGUAGES = tuple(TUTORIAL_SCRIPTS)


def test_class_weights_follow_the_power_of_the_balance() -> None:
    targets = torch.tensor([0] * 90 + [1] * 10)
    assert torch.equal(class_weights(targets, 2, "none"), torch.ones(2))
    inverse = class_weights(targets, 2, "inverse")
    # Each class then carries the same total weight in the loss.
    assert math.isclose(float(inverse[0] * 90), float(inverse[1] * 10), rel_tol=1e-6)
    sqrt = class_weights(targets, 2, "sqrt")
    assert torch.allclose(sqrt, inverse.sqrt())
    assert torch.allclose(class_weights(targets, 2, "quarter"), inverse.pow(0.25))


def test_identity_calibration_changes_nothing() -> None:
    log_probs = F.log_softmax(torch.randn(20, 5, generator=torch.Generator().manual_seed(0)), dim=1)
    assert torch.allclose(Calibration().apply(log_probs), log_probs, atol=1e-6)


def test_temperature_fit_recovers_a_known_temperature() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(8000, 6, generator=generator)
    targets = torch.multinomial(F.softmax(logits / 2.0, dim=1), 1, generator=generator).squeeze(1)
    assert fit_temperature(F.log_softmax(logits, dim=1), targets) == pytest.approx(2.0, rel=0.08)


def test_logit_adjustment_fitted_on_imbalanced_data_raises_the_selection_score() -> None:
    generator = torch.Generator().manual_seed(1)
    prior = (0.9, 0.1)
    targets = torch.cat([torch.zeros(900, dtype=torch.long), torch.ones(100, dtype=torch.long)])
    # A model that leans towards the common class: the rare class's evidence is weak.
    evidence_for_rare = torch.randn(1000, generator=generator) + targets.float() * 1.5 - 2.0
    log_probs = F.log_softmax(torch.stack([torch.zeros(1000), evidence_for_rare], dim=1), dim=1)
    fitted = fit_calibration(log_probs, targets, prior, "test data")
    assert fitted.tau > 0
    assert selection_score(fitted.apply(log_probs), targets) > selection_score(log_probs, targets)
    # The temperature never moves the argmax.
    adjusted = fitted.apply(log_probs, temperature=False)
    assert torch.equal(adjusted.argmax(1), fitted.apply(log_probs).argmax(1))


def test_tradeoff_lists_every_tau_and_fit_tau_keeps_its_best_mean() -> None:
    generator = torch.Generator().manual_seed(2)
    prior = (0.8, 0.15, 0.05)
    targets = torch.multinomial(torch.tensor(prior), 2000, replacement=True, generator=generator)
    logits = (
        torch.randn(2000, 3, generator=generator) + 1.2 * F.one_hot(targets, 3) + torch.tensor(prior).log()
    )
    log_probs = F.log_softmax(logits, dim=1)
    rows = tradeoff(log_probs, targets, prior)
    assert [r["tau"] for r in rows] == list(TAU_GRID)
    at = {r["tau"]: r for r in rows}
    # tau 0 is the model as trained; a strong adjustment buys balance with accuracy.
    assert at[0.0]["accuracy"] == pytest.approx(float((log_probs.argmax(1) == targets).double().mean()))
    assert at[1.0]["balanced_accuracy"] > at[0.0]["balanced_accuracy"]
    assert at[1.0]["accuracy"] < at[0.0]["accuracy"]
    assert 0.0 < fit_tau(log_probs, targets, prior) <= 2.0


def test_fit_tau_leaves_the_model_alone_when_no_tau_does_better() -> None:
    # With a uniform prior every tau gives the same predictions: the tie goes to tau 0.
    log_probs = F.log_softmax(torch.randn(300, 3, generator=torch.Generator().manual_seed(3)), dim=1)
    targets = torch.randint(0, 3, (300,), generator=torch.Generator().manual_seed(4))
    assert fit_tau(log_probs, targets, (1 / 3, 1 / 3, 1 / 3)) == 0.0


def test_ece_known_answers() -> None:
    targets = torch.tensor([0, 1] * 50)
    certain = torch.log(torch.tensor([[1.0 - 1e-7, 1e-7]]).repeat(100, 1))  # always 100% sure of class 0
    assert expected_calibration_error(certain, targets) == pytest.approx(0.5, abs=1e-3)
    coin = torch.log(torch.full((100, 2), 0.5))
    assert expected_calibration_error(coin, targets) == pytest.approx(0.0, abs=1e-6)


def test_a_language_never_predicted_has_no_precision() -> None:
    log_probs = torch.log(torch.tensor([[0.9, 0.1], [0.8, 0.2]]))
    metrics = compute_metrics(Outputs(log_probs, torch.tensor([0, 1])), ["A", "B"])
    assert metrics["per_language"]["B"]["precision"] is None
    assert metrics["per_language"]["A"]["precision"] == pytest.approx(0.5)
    assert {"nll", "ece"} <= set(metrics)


def test_macro_averages_run_over_true_and_predicted_labels_as_scikit_learn_does() -> None:
    # True A, A, B; predicted A, C, B: C is predicted but has no name here. scikit-learn's
    # precision_recall_fscore_support(average="macro", zero_division=0) gives P 2/3, R 1/2, F1 5/9.
    log_probs = torch.log(torch.tensor([[0.8, 0.1, 0.1], [0.1, 0.1, 0.8], [0.1, 0.8, 0.1]]))
    metrics = compute_metrics(Outputs(log_probs, torch.tensor([0, 0, 1])), ["A", "B", "C"])
    assert metrics["macro_precision"] == pytest.approx(2 / 3)
    assert metrics["macro_recall"] == pytest.approx(1 / 2)
    assert metrics["macro_f1"] == pytest.approx(5 / 9)
    assert metrics["balanced_accuracy"] == pytest.approx(3 / 4)  # recall of the languages in the split


def test_scripts_come_from_unicode_data() -> None:
    assert scripts_of("Кузнецова") == {"Cyrillic": 9}
    assert scripts_of("Δημητρίου") == {"Greek": 9}
    assert scripts_of("O'Neill-Smith") == {"Latin": 11}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Кузнецова", {"Russian"}),
        ("Δημητρίου", {"Greek"}),
        ("김민준", {"Korean"}),
        ("なかむら", {"Japanese"}),
        ("中村", {"Chinese", "Japanese", "Korean"}),
        ("山田はな", {"Japanese"}),
        ("عبد الله", {"Arabic"}),
    ],
)
def test_a_script_allows_only_the_languages_written_in_it(name: str, expected: set[str]) -> None:
    found = evidence(name, default_scripts(LANGUAGES), LANGUAGES)
    assert found.allowed is not None
    assert {LANGUAGES[i] for i in found.allowed} == expected


def test_latin_or_unknown_scripts_leave_the_model_alone() -> None:
    table = default_scripts(LANGUAGES)
    assert evidence("Nakamura", table, LANGUAGES).allowed is None
    hindi = evidence("शर्मा", table, LANGUAGES)
    assert hindi.allowed is None and hindi.unknown and "Devanagari" in hindi.describe()
    assert "no table" in evidence("Кузнецова", {}, ["A", "B"]).describe()
    assert default_scripts(["A", "B"]) == {}


def _skewed(seed: int, n: int, signal: float) -> tuple[torch.Tensor, torch.Tensor, tuple[float, ...]]:
    generator = torch.Generator().manual_seed(seed)
    prior = (0.8, 0.15, 0.05)
    targets = torch.multinomial(torch.tensor(prior), n, replacement=True, generator=generator)
    noise = torch.randn(n, 3, generator=generator)
    logits = noise + signal * F.one_hot(targets, 3) + torch.tensor(prior).log()
    return F.log_softmax(logits, dim=1), targets, prior


@pytest.mark.parametrize(("seed", "n", "signal"), [(2, 2000, 1.2), (5, 300, 3.0), (6, 150, 2.0)])
def test_one_standard_error_rule_takes_the_smallest_tau_within_one_error_of_the_best(
    seed: int, n: int, signal: float
) -> None:
    log_probs, targets, prior = _skewed(seed, n, signal)
    rows = {r["tau"]: r["score"] for r in tradeoff(log_probs, targets, prior)}
    best_tau = fit_tau(log_probs, targets, prior, "best")
    error = float(bootstrap_draws(Calibration(prior, best_tau).apply(log_probs), targets, 3)["score"].std())
    chosen = fit_tau(log_probs, targets, prior, "one-se")
    assert rows[chosen] >= rows[best_tau] - error
    assert all(rows[t] < rows[best_tau] - error for t in rows if abs(t) < abs(chosen))
    assert abs(chosen) <= abs(best_tau)


def test_one_standard_error_rule_keeps_the_model_unless_balancing_clearly_pays() -> None:
    # Strong signal, few names: tau moves a name or two, well inside the noise.
    flat = _skewed(11, 300, 5.0)
    assert fit_tau(*flat, "best") != 0.0 and fit_tau(*flat, "one-se") == 0.0
    # Weak signal, many names: dividing by the prior clearly pays, and the rule still takes it.
    assert fit_tau(*_skewed(2, 2000, 1.2), "one-se") > 0.3


def test_bootstrap_scores_are_reproducible_and_spread_around_the_score() -> None:
    log_probs, targets, _ = _skewed(2, 2000, 1.2)
    first, again = (bootstrap_draws(log_probs, targets, 3)["score"] for _ in range(2))
    assert torch.equal(first, again) and len(first) == 1000
    exact = accuracies(log_probs.argmax(1), targets, 3)["score"]
    assert abs(float(first.mean()) - exact) < 0.01 and 0.002 < float(first.std()) < 0.05
    with pytest.raises(NamelstmError, match="unknown tau rule"):
        fit_tau(log_probs, targets, (0.8, 0.15, 0.05), "worst")


def test_each_family_has_a_tau_rule_and_an_unknown_one_is_refused() -> None:
    from namelstm.config import TrainConfig
    from namelstm.training.settings import resolve_config

    # The families where 5-fold cross-validation showed the one-SE rule losing score keep the best-score rule.
    rules = {m: resolve_config(TrainConfig(model=m)).tau_rule for m in ("rnn", "lstm", "mylstm", "bilstm")}
    assert rules == {"rnn": "one-se", "lstm": "best", "mylstm": "best", "bilstm": "best"}
    assert resolve_config(TrainConfig(model="lstm", tau_rule="one-se")).tau_rule == "one-se"
    with pytest.raises(NamelstmError, match="unknown tau rule"):
        resolve_config(TrainConfig(tau_rule="median"))
