"""Knowing when it doesn't know: answering only names whose first language is likely enough.

`risk_coverage` is the curve a `--min-confidence` choice moves along: the accuracy of the names
answered against the share of names answered. `min_confidence_for` reads off it, on the validation
names, the smallest threshold whose answers reach a precision.
"""

from __future__ import annotations

from typing import Any

import torch

THRESHOLDS = tuple(round(0.01 * i, 2) for i in range(100))  # 0.00 (always answer) .. 0.99
PRECISIONS = (0.90, 0.95)  # the targets docs/trust.md and `evaluate` report a threshold for


def risk_coverage(log_probs: torch.Tensor, targets: torch.Tensor) -> list[dict[str, Any]]:
    """For each threshold P of THRESHOLDS: the share of names whose first probability is >= P
    (`coverage`), and the accuracy among those (`accuracy`, None when none is answered)."""
    confidence, predicted = log_probs.exp().max(dim=1)
    correct = predicted == targets
    rows = []
    for p in THRESHOLDS:
        answered = confidence >= p
        n = int(answered.sum())
        rows.append(
            {
                "min_confidence": p,
                "coverage": n / max(len(targets), 1),
                "accuracy": float(correct[answered].double().mean()) if n else None,
            }
        )
    return rows


def min_confidence_for(curve: list[dict[str, Any]], precision: float) -> dict[str, Any] | None:
    """The first row of `curve` whose answers are at least `precision` accurate, or None."""
    return next((row for row in curve if row["accuracy"] is not None and row["accuracy"] >= precision), None)


def thresholds_for_precisions(log_probs: torch.Tensor, targets: torch.Tensor) -> dict[str, Any]:
    """For each of PRECISIONS, the smallest threshold reaching it and the share it answers:
    {"0.90": {"min_confidence": P, "coverage": c, "accuracy": a} or None, ...}."""
    curve = risk_coverage(log_probs, targets)
    return {f"{target:.2f}": min_confidence_for(curve, target) for target in PRECISIONS}
