"""The classification metrics, each computed in one place: accuracy, balanced accuracy, macro
precision/recall/F1 from a confusion matrix, NLL, and the expected calibration error from binned
confidences. Both take a leading batch dimension, so the bootstrap's resamples are scored by the same
code as one split.

"score" means one thing in namelstm: the mean of accuracy and balanced accuracy, which every choice
made on validation (tau, ensemble weights, recipe) maximises.
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch
from torch.nn import functional as F

ECE_BINS = 15
BOOTSTRAP_DRAWS = 1000
BOOTSTRAP_CHUNK = 100  # draws per matrix product: bounds memory at ~100 x names x 8 bytes


def confusion_matrix(predicted: torch.Tensor, targets: torch.Tensor, n_classes: int) -> torch.Tensor:
    """`[K, K]` counts, rows the true class, columns the predicted one."""
    cells = torch.bincount(targets * n_classes + predicted, minlength=n_classes * n_classes)
    return cells.reshape(n_classes, n_classes)


def from_confusion(confusion: torch.Tensor) -> dict[str, torch.Tensor]:
    """The figures of confusion matrices `[..., K, K]`. A class absent from the names has no recall to
    average in balanced accuracy; macro P/R/F1 average over the classes present or predicted, a class
    never predicted counting with precision 0 (scikit-learn's `zero_division=0`)."""
    confusion = confusion.double()
    right = confusion.diagonal(dim1=-2, dim2=-1)
    support, answered = confusion.sum(-1), confusion.sum(-2)
    recall = right / support.clamp(min=1)
    precision = right / answered.clamp(min=1)
    f1 = torch.where(
        precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-12), 0
    )
    present, seen = support > 0, (support > 0) | (answered > 0)
    accuracy = right.sum(-1) / confusion.sum((-2, -1)).clamp(min=1)
    balanced = (recall * present).sum(-1) / present.sum(-1).clamp(min=1)
    return {
        "accuracy": accuracy,
        "balanced_accuracy": balanced,
        "score": (accuracy + balanced) / 2,
        "macro_precision": (precision * seen).sum(-1) / seen.sum(-1).clamp(min=1),
        "macro_recall": (recall * seen).sum(-1) / seen.sum(-1).clamp(min=1),
        "macro_f1": (f1 * seen).sum(-1) / seen.sum(-1).clamp(min=1),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support,
        "answered": answered,
    }


def accuracies(predicted: torch.Tensor, targets: torch.Tensor, n_classes: int) -> dict[str, float]:
    """Accuracy, balanced accuracy and their mean, the `score`."""
    figures = from_confusion(confusion_matrix(predicted, targets, n_classes))
    return {key: float(figures[key]) for key in ("accuracy", "balanced_accuracy", "score")}


def balanced_accuracy(predicted: torch.Tensor, targets: torch.Tensor, n_classes: int) -> float:
    """Mean recall over the classes present in `targets`."""
    return accuracies(predicted, targets, n_classes)["balanced_accuracy"]


def selection_score(log_probs: torch.Tensor, targets: torch.Tensor) -> float:
    """The score of the top answers of `log_probs` `[N, K]`."""
    return accuracies(log_probs.argmax(1), targets, log_probs.shape[1])["score"]


def nll(log_probs: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None) -> float:
    """Mean negative log-likelihood; with `weight`, weighted per class as the training loss is."""
    return F.nll_loss(log_probs, targets, weight=weight).item()


def confidence_columns(log_probs: torch.Tensor, targets: torch.Tensor, bins: int = ECE_BINS) -> torch.Tensor:
    """`[N, 3 * bins]` per name: its equal-width confidence bin (one-hot), its top confidence and
    whether the top answer is right, each in its bin's column. Summed over names (or, weighted, over a
    resample) they give `expected_calibration_error` and the reliability diagram."""
    confidence, predicted = log_probs.exp().max(1)
    confidence = confidence.double()
    one_hot = F.one_hot((confidence * bins).long().clamp(max=bins - 1), bins).double()
    correct = (predicted == targets).double()
    return torch.cat([one_hot, one_hot * confidence[:, None], one_hot * correct[:, None]], dim=1)


def ece_of(binned: torch.Tensor) -> torch.Tensor:
    """ECE from `confidence_columns` summed over names (`[..., 3 * bins]`): the count-weighted mean gap
    between confidence and accuracy over the bins."""
    count, confidence, correct = binned.split(binned.shape[-1] // 3, dim=-1)
    return (confidence - correct).abs().sum(-1) / count.sum(-1).clamp(min=1)


def expected_calibration_error(log_probs: torch.Tensor, targets: torch.Tensor, bins: int = ECE_BINS) -> float:
    return float(ece_of(confidence_columns(log_probs, targets, bins).sum(0)))


def reliability(
    log_probs: torch.Tensor, targets: torch.Tensor, bins: int = ECE_BINS
) -> list[dict[str, float]]:
    """Per equal-width confidence bin: mean confidence of the top answer, its accuracy, the count."""
    count, confidence, correct = confidence_columns(log_probs, targets, bins).sum(0).split(bins)
    return [
        {
            "low": b / bins,
            "high": (b + 1) / bins,
            "count": int(count[b]),
            "confidence": float(confidence[b] / count[b]) if count[b] else None,
            "accuracy": float(correct[b] / count[b]) if count[b] else None,
        }
        for b in range(bins)
    ]


def bootstrap_draws(
    log_probs: torch.Tensor,
    targets: torch.Tensor,
    n_classes: int,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Accuracy, balanced accuracy, score, macro-F1, ECE (`[draws]` each) and per-class recall
    (`[draws, K]`, NaN where a resample lacks the class) of `draws` resamples of the names with
    replacement. The same `seed` and number of names give the same resamples, so two models' draws on
    the same names are paired."""
    generator = torch.Generator().manual_seed(seed)
    n = len(targets)
    cells = F.one_hot(targets * n_classes + log_probs.argmax(1), n_classes * n_classes).double()
    columns = torch.cat([cells, confidence_columns(log_probs, targets)], dim=1)
    out: dict[str, list[torch.Tensor]] = defaultdict(list)
    for start in range(0, draws, BOOTSTRAP_CHUNK):
        size = min(BOOTSTRAP_CHUNK, draws - start)
        picks = torch.randint(n, (size, n), generator=generator)
        counts = torch.zeros(size, n, dtype=torch.float64).scatter_add_(
            1, picks, torch.ones(size, n, dtype=torch.float64)
        )
        summed = counts @ columns
        figures = from_confusion(summed[:, : n_classes**2].reshape(size, n_classes, n_classes))
        for key in ("accuracy", "balanced_accuracy", "score", "macro_f1"):
            out[key].append(figures[key])
        out["recall"].append(torch.where(figures["support"] > 0, figures["recall"], math.nan))
        out["ece"].append(ece_of(summed[:, n_classes**2 :]))
    return {key: torch.cat(values) for key, values in out.items()}
