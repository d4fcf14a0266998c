"""Class balance and calibration: loss weights, post-hoc logit adjustment and temperature scaling.

All three are fitted on the training split (weights, prior) or the validation split (tau,
temperature) and stored in the checkpoint, so a prediction is made the way it was scored.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from namelstm.calibration import Calibration
from namelstm.config import BALANCE_POWERS
from namelstm.errors import NamelstmError
from namelstm.experiments.stats import ECE_BINS, bootstrap_draws

TAU_GRID = tuple(round(0.05 * i, 2) for i in range(-10, 41))  # -0.5 .. 2.0
# How tau is chosen on validation. "one-se": the tau nearest 0 whose score is within one bootstrap
# standard error of the best (Breiman et al. 1984's rule), so a flat score keeps the model as trained;
# "best": the best score, wherever on a flat stretch it falls (the rule before).
TAU_RULES = ("one-se", "best")


def class_weights(targets: torch.Tensor, n_classes: int, balance: str) -> torch.Tensor:
    """NLLLoss weights (n / (K n_c)) ** p, p = 0 ("none"), 1/4 ("quarter"), 1/2 ("sqrt") or 1
    ("inverse"): with "inverse" every language weighs as much in the loss as any other, whatever its size."""
    if balance not in BALANCE_POWERS:
        raise NamelstmError(f"unknown class balance {balance!r}; choose one of {', '.join(BALANCE_POWERS)}")
    power = BALANCE_POWERS[balance]
    counts = torch.bincount(targets, minlength=n_classes).double().clamp(min=1)
    return (len(targets) / (n_classes * counts)).pow(power).float()


def prior_of(targets: torch.Tensor, n_classes: int) -> tuple[float, ...]:
    counts = torch.bincount(targets, minlength=n_classes).double().clamp(min=1)
    return tuple((counts / counts.sum()).tolist())


def balanced_accuracy(predicted: torch.Tensor, targets: torch.Tensor, n_classes: int) -> float:
    """Mean recall over the languages present in `targets`."""
    correct = torch.bincount(targets[predicted == targets], minlength=n_classes).double()
    support = torch.bincount(targets, minlength=n_classes).double()
    present = support > 0
    return float((correct[present] / support[present]).mean())


def accuracies(predicted: torch.Tensor, targets: torch.Tensor, n_classes: int) -> dict[str, float]:
    """Accuracy, balanced accuracy and their mean, the `score` every choice on validation maximises."""
    accuracy = float((predicted == targets).double().mean())
    balanced = balanced_accuracy(predicted, targets, n_classes)
    return {"accuracy": accuracy, "balanced_accuracy": balanced, "score": (accuracy + balanced) / 2}


def selection_score(log_probs: torch.Tensor, targets: torch.Tensor) -> float:
    """What every choice of recipe maximises on validation: the mean of accuracy and balanced accuracy."""
    return accuracies(log_probs.argmax(1), targets, log_probs.shape[1])["score"]


def tradeoff(
    log_probs: torch.Tensor, targets: torch.Tensor, prior: tuple[float, ...]
) -> list[dict[str, float]]:
    """Accuracy, balanced accuracy and their mean (`selection_score`) at every tau of TAU_GRID: the
    whole trade-off the logit adjustment offers, of which `fit_tau` keeps the best mean."""
    return [
        {
            "tau": tau,
            **accuracies(Calibration(prior, tau).apply(log_probs).argmax(1), targets, log_probs.shape[1]),
        }
        for tau in TAU_GRID
    ]


def fit_tau(
    log_probs: torch.Tensor, targets: torch.Tensor, prior: tuple[float, ...], rule: str = "one-se"
) -> float:
    """The logit-adjustment strength on TAU_GRID that `rule` (see TAU_RULES) picks by `selection_score`;
    among equal candidates, the smallest |tau|, the least change to what the model learned."""
    if rule not in TAU_RULES:
        raise NamelstmError(f"unknown tau rule {rule!r}; choose one of {', '.join(TAU_RULES)}")
    rows = tradeoff(log_probs, targets, prior)
    best = max(rows, key=lambda row: (row["score"], -abs(row["tau"])))
    if rule == "best":
        return float(best["tau"])
    adjusted = Calibration(prior, best["tau"]).apply(log_probs)
    error = float(bootstrap_draws(adjusted, targets, log_probs.shape[1])["score"].std())
    near = [row for row in rows if row["score"] >= best["score"] - error]
    return float(min(near, key=lambda row: (abs(row["tau"]), -row["score"]))["tau"])


def fit_temperature(log_probs: torch.Tensor, targets: torch.Tensor) -> float:
    """The temperature that minimises the negative log-likelihood of `targets` (one scalar, so
    argmax and every accuracy stay exactly as they were)."""
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    logits = log_probs.double()
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), targets)
        loss.backward()
        return loss

    optimizer.step(closure)
    temperature = float(log_t.detach().exp())
    return temperature if math.isfinite(temperature) and temperature > 0 else 1.0


def fit_calibration(
    log_probs: torch.Tensor,
    targets: torch.Tensor,
    prior: tuple[float, ...],
    where: str,
    rule: str = "one-se",
) -> Calibration:
    """tau first (it moves the argmax), then the temperature of the adjusted outputs."""
    tau = fit_tau(log_probs, targets, prior, rule)
    adjusted = Calibration(prior, tau).apply(log_probs, temperature=False)
    return Calibration(prior, tau, fit_temperature(adjusted, targets), where, rule)


def reliability(
    log_probs: torch.Tensor, targets: torch.Tensor, bins: int = ECE_BINS
) -> list[dict[str, float]]:
    """Per equal-width confidence bin: mean confidence of the top language, its accuracy, the count."""
    confidence, predicted = log_probs.exp().max(1)
    correct = (predicted == targets).double()
    index = (confidence.double() * bins).long().clamp(max=bins - 1)
    rows = []
    for b in range(bins):
        inside = index == b
        n = int(inside.sum())
        rows.append(
            {
                "low": b / bins,
                "high": (b + 1) / bins,
                "count": n,
                "confidence": float(confidence[inside].double().mean()) if n else None,
                "accuracy": float(correct[inside].mean()) if n else None,
            }
        )
    return rows


def expected_calibration_error(log_probs: torch.Tensor, targets: torch.Tensor, bins: int = ECE_BINS) -> float:
    """ECE: the count-weighted mean gap between confidence and accuracy over equal-width bins."""
    rows = reliability(log_probs, targets, bins)
    total = sum(r["count"] for r in rows)
    return sum(r["count"] * abs(r["confidence"] - r["accuracy"]) for r in rows if r["count"]) / max(total, 1)
