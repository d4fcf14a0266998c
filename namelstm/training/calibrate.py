"""Fitting class balance and calibration: loss weights, the logit adjustment's tau and the temperature.

The weights and the prior come from the training split, tau and the temperature from the validation
split; all are stored in the checkpoint, so a prediction is made the way it was scored. Applying a
calibration is `namelstm.calibration`'s job, which the torch-free predictor shares.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from namelstm.calibration import Calibration
from namelstm.config import BALANCE_POWERS, TAU_RULES
from namelstm.errors import NamelstmError
from namelstm.evaluation.evaluate import tradeoff
from namelstm.metrics import bootstrap_draws


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
