"""Scoring a model on a split: losses, accuracies, confusion matrix and per-language metrics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from namelstm.calibration import Calibration
from namelstm.checkpoint import Checkpoint, load_checkpoint
from namelstm.config import INFERENCE_BATCH_SIZE, TAU_GRID, TrainConfig
from namelstm.data.names import Batches, Split, load_split, resolve_data_dir
from namelstm.errors import NamelstmError
from namelstm.evaluation.selective import risk_coverage, thresholds_for_precisions
from namelstm.inference.predict import pretrained_card, pretrained_path
from namelstm.metrics import (
    accuracies,
    balanced_accuracy,
    confusion_matrix,
    expected_calibration_error,
    from_confusion,
    nll,
    reliability,
    selection_score,
)
from namelstm.models import NameClassifier
from namelstm.runs import (
    CHECKPOINT,
    METRICS,
    PRETRAINED,
    SPLIT,
    read_json,
    resolve_checkpoint,
    resolve_run,
    write_json,
)


@dataclass(frozen=True)
class Outputs:
    """A model's log-probabilities on every name of a split, in the split's order, with the targets.

    (In namelstm "score" means one thing only: the mean of accuracy and balanced accuracy.)"""

    log_probs: torch.Tensor  # [N, n_languages]
    targets: torch.Tensor  # [N]

    @property
    def loss(self) -> float:
        return nll(self.log_probs, self.targets)

    @property
    def accuracy(self) -> float:
        return accuracies(self.log_probs.argmax(1), self.targets, self.log_probs.shape[1])["accuracy"]

    @property
    def balanced_accuracy(self) -> float:
        return balanced_accuracy(self.log_probs.argmax(1), self.targets, self.log_probs.shape[1])


@torch.no_grad()
def infer(model: NameClassifier, batches: Batches, device: torch.device | str = "cpu") -> Outputs:
    """Run `model` over every name of `batches` (in eval mode, without gradients)."""
    was_training = model.training
    model.eval()
    log_probs = torch.empty(len(batches.targets), model.n_languages)
    for batch in batches.iterate():
        b = batch.to(device)
        log_probs[batch.rows] = model.classify(b.letters, b.lengths).float().cpu()
    model.train(was_training)
    return Outputs(log_probs, batches.targets)


def compute_metrics(scores: Outputs, languages: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Accuracy, top-3 accuracy, balanced accuracy, macro P/R/F1 (see `metrics.from_confusion`), NLL,
    ECE, a per-language table and the confusion matrix (rows: true language, columns: predicted).
    A language the model never predicts has no precision: None in the table (shown "n/a")."""
    n_lang = len(languages)
    predicted = scores.log_probs.argmax(1)
    top3 = scores.log_probs.topk(min(3, n_lang), dim=1).indices
    confusion = confusion_matrix(predicted, scores.targets, n_lang)
    figures = from_confusion(confusion)
    per_language = zip(
        *(figures[k].tolist() for k in ("precision", "recall", "f1", "support", "answered")), strict=True
    )
    return {
        "n": int(len(scores.targets)),
        "accuracy": float(figures["accuracy"]),
        "top3_accuracy": float((top3 == scores.targets[:, None]).any(1).double().mean()),
        **{key: float(figures[key]) for key in MACRO},
        "loss": scores.loss,
        "nll": scores.loss,
        "ece": expected_calibration_error(scores.log_probs, scores.targets),
        "per_language": {
            lang: {"precision": p if answered else None, "recall": r, "f1": f, "support": int(n)}
            for lang, (p, r, f, n, answered) in zip(languages, per_language, strict=True)
        },
        "languages": list(languages),
        "confusion": confusion.tolist(),
    }


MACRO = ("balanced_accuracy", "macro_precision", "macro_recall", "macro_f1")


def tradeoff(
    log_probs: torch.Tensor, targets: torch.Tensor, prior: tuple[float, ...]
) -> list[dict[str, float]]:
    """Accuracy, balanced accuracy and their mean (the score) at every tau of TAU_GRID: the whole
    trade-off the logit adjustment offers, of which `calibrate.fit_tau` picks one point."""
    return [
        {
            "tau": tau,
            **accuracies(Calibration(prior, tau).apply(log_probs).argmax(1), targets, log_probs.shape[1]),
        }
        for tau in TAU_GRID
    ]


def test_metrics(
    model: NameClassifier,
    split: Split,
    languages: tuple[str, ...],
    device: torch.device | str = "cpu",
    calibration: Calibration | None = None,
) -> dict[str, Any]:
    """`compute_metrics` on the test part of `split` for the calibrated outputs, labelled with the
    split it came from; `ece_uncalibrated` and the reliability bins show the temperature's effect."""
    calibration = calibration or Calibration()
    raw = infer(model, Batches(split.test, languages, INFERENCE_BATCH_SIZE, split.alphabet), device)
    before = calibration.apply(raw.log_probs, temperature=False)
    after = Outputs(calibration.apply(raw.log_probs), raw.targets)
    return {
        "split": split.describe(),
        "split_detail": split.detail(),
        "part": "test",
        **compute_metrics(after, languages),
        "ece_uncalibrated": expected_calibration_error(before, raw.targets),
        "calibration": calibration.to_dict(),
        "reliability": {
            "before": reliability(before, raw.targets),
            "after": reliability(after.log_probs, raw.targets),
        },
        "letter_case": letter_case_metrics(model, split, languages, device, calibration, raw),
        "risk_coverage": risk_coverage(after.log_probs, raw.targets),
        # The other end of the trade-off: the same weights without the logit adjustment.
        "as_trained": accuracies(raw.log_probs.argmax(1), raw.targets, len(languages)),
    }


def both_ends(metrics: dict[str, Any]) -> str:
    """'accuracy 76.9%, balanced 49.4% (tau 0.6, fitted on validation); as trained (tau 0): 80.1%, 41.0%':
    the fitted tau's point of the trade-off and the model's own, which every summary shows."""
    tau = metrics.get("calibration", {}).get("tau", 0.0)
    text = f"accuracy {metrics['accuracy']:.1%}, balanced {metrics['balanced_accuracy']:.1%}"
    if not tau or "as_trained" not in metrics:  # tau 0 is already the model as trained
        return text + " (τ 0: as trained)"
    plain = metrics["as_trained"]
    return (
        f"{text} (τ {tau:g}, fitted on validation); as trained (τ 0): "
        f"{plain['accuracy']:.1%}, {plain['balanced_accuracy']:.1%}"
    )


def letter_case_metrics(
    model: NameClassifier,
    split: Split,
    languages: tuple[str, ...],
    device: torch.device | str,
    calibration: Calibration,
    written: Outputs,
) -> dict[str, dict[str, float]]:
    """Accuracy and balanced accuracy on the test names in capitals ('DOSTOEVSKY') and in lower case,
    each read as `predict` reads it (folded, so in canonical case), beside the names as written
    (`written`, the raw scores of the test names). Only names whose folded form differs from the one
    written are scored again: in the tutorial's title-cased files, a few dozen of 1,799."""
    n = len(languages)
    out = {"as_written": accuracies(calibration.apply(written.log_probs).argmax(1), written.targets, n)}
    for label, change in (("upper", str.upper), ("lower", str.lower)):
        log_probs = written.log_probs.clone()
        changed = [
            (row, (folded, language))
            for row, (name, language) in enumerate(split.test)
            if (folded := split.alphabet.fold(change(name)) or name) != name
        ]
        if changed:
            rows = torch.tensor([row for row, _ in changed])
            pairs = [pair for _, pair in changed]
            log_probs[rows] = infer(
                model, Batches(pairs, languages, INFERENCE_BATCH_SIZE, split.alphabet), device
            ).log_probs
        out[label] = accuracies(calibration.apply(log_probs).argmax(1), written.targets, n)
    return out


def validation_metrics(raw: Outputs, calibration: Calibration) -> dict[str, Any]:
    """The calibrated model on the validation names (what chose tau and the recipe), and the whole
    trade-off between accuracy and balanced accuracy that other values of tau would give there."""
    if not len(raw.targets):  # a split with no validation names (hand-made, or tiny languages only)
        return {
            "accuracy": None,
            "balanced_accuracy": None,
            "selection_score": None,
            "tradeoff": [],
            "min_confidence": {},
        }
    calibrated = Outputs(calibration.apply(raw.log_probs), raw.targets)
    return {
        "accuracy": calibrated.accuracy,
        "balanced_accuracy": calibrated.balanced_accuracy,
        "selection_score": selection_score(calibrated.log_probs, raw.targets),
        "as_trained": accuracies(raw.log_probs.argmax(1), raw.targets, raw.log_probs.shape[1]),
        "tradeoff": tradeoff(raw.log_probs, raw.targets, calibration.prior) if calibration.prior else [],
        # The --min-confidence that reaches each precision on these names, and the share it answers.
        "min_confidence": thresholds_for_precisions(calibrated.log_probs, raw.targets),
    }


def _checkpoint_metrics(
    checkpoint: Checkpoint, split: Split, where: str, device: torch.device | str
) -> dict[str, Any]:
    if set(split.languages) != set(checkpoint.languages):
        raise NamelstmError(f"the checkpoint in {where} knows other languages than the run's split.json")
    if checkpoint.alphabet != split.alphabet.letters:
        raise NamelstmError(f"the checkpoint in {where} reads another alphabet than the run's split.json")
    model = checkpoint.build_model(device)
    calibration = Calibration.from_dict(checkpoint.calibration)
    val = infer(model, Batches(split.val, checkpoint.languages, INFERENCE_BATCH_SIZE, split.alphabet), device)
    return {
        "run": where,
        "model": checkpoint.model_name,
        "epoch": checkpoint.epoch,
        "weights": checkpoint.weights(),
        **test_metrics(model, split, checkpoint.languages, device, calibration),
        "validation": validation_metrics(val, calibration),
    }


def evaluate_run(
    run_dir: Path, device: torch.device | str = "cpu", checkpoint: Path | None = None, write: bool = True
) -> dict[str, Any]:
    """Score a run's checkpoint on the test part of the split saved with it; write metrics.json.
    `checkpoint`, another file in the run's folder (an older copy), is scored on that split instead,
    and metrics.json, which describes the run's own checkpoint.pt, is left as it was; so it is
    without `write` (`plot` of an unfinished run: a metrics.json would mark it finished)."""
    own = Path(run_dir) / CHECKPOINT
    path = own if checkpoint is None else Path(checkpoint)
    is_own = path.resolve() == own.resolve()
    split = Split.from_dict(read_json(Path(run_dir) / SPLIT))
    metrics = _checkpoint_metrics(load_checkpoint(path), split, str(run_dir if is_own else path), device)
    if is_own and write:
        write_json(Path(run_dir) / METRICS, metrics)
    return metrics


def evaluate_pretrained(data_dir: Path | None = None, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Score the shipped model on the test part of the split its model card names, remade from
    the data (found or downloaded as for training). Writes nothing: the package is not a run."""
    card = pretrained_card()
    settings = card["settings"]
    directory = resolve_data_dir(data_dir)
    split = load_split(directory, TrainConfig.from_dict(settings))
    # Only the held-out parts must match: the model was trained when 'an' and 'An' (Vietnamese.txt)
    # were two training pairs, and canonical case has made them one since.
    counts = card["test_metrics"]["split_detail"]["counts"]
    held_out = {part: n for part, n in counts.items() if part != "train"}
    if (split.seed, list(split.fractions)) != (settings["seed"], settings["fractions"]) or any(
        len(getattr(split, part)) != n for part, n in held_out.items()
    ):
        raise NamelstmError(
            f"the names in {directory} do not give the pretrained model's split ({card['split']}); "
            "it was scored on the official dataset"
        )
    return _checkpoint_metrics(load_checkpoint(pretrained_path()), split, PRETRAINED, device)


def evaluate_model(
    source: Path | str | None, device: torch.device | str = "cpu", data_dir: Path | None = None
) -> dict[str, Any]:
    """`evaluate_pretrained` for "pretrained", else `evaluate_run` on the run `source` names
    (None: the latest run)."""
    if isinstance(source, str) and source == PRETRAINED:
        return evaluate_pretrained(data_dir, device)
    return evaluate_run(resolve_run(source), device, resolve_checkpoint(source))


def metrics_table(metrics: dict[str, Any]) -> list[str]:
    """The lines `namelstm evaluate` prints: the overall scores, then one row per language."""
    weights = (
        metrics.get("weights") or f"epoch {metrics['epoch']}"
    )  # a metrics.json without "weights" names its epoch
    lines = [
        f"{metrics['model']} in {metrics['run']} ({weights}), {metrics['n']} test names, {metrics['split']}"
    ]
    tau = metrics.get("calibration", {}).get("tau", 0.0)
    lines.append(f"  {'tau':<18} {tau:6g}  (fitted on validation; 0 is the model as trained)")
    for key in (
        "accuracy",
        "balanced_accuracy",
        "top3_accuracy",
        "macro_precision",
        "macro_recall",
        "macro_f1",
    ):
        lines.append(f"  {key.replace('_', ' '):<18} {metrics[key]:6.1%}")
    if tau and "as_trained" in metrics:
        plain = metrics["as_trained"]
        lines.append(
            f"  {'as trained (τ 0)':<18} {plain['accuracy']:6.1%}  balanced {plain['balanced_accuracy']:.1%}"
        )
    lines.append(f"  {'NLL':<18} {metrics['nll']:6.3f}")
    lines.append(
        f"  {'ECE':<18} {metrics['ece']:6.3f}  ({metrics['ece_uncalibrated']:.3f} before temperature scaling)"
    )
    if "letter_case" in metrics:  # a metrics.json may lack it
        case = metrics["letter_case"]
        upper, lower, written = (case[k]["accuracy"] for k in ("upper", "lower", "as_written"))
        lines.append(f"  {'letter case':<18} UPPER {upper:.1%}, lower {lower:.1%} (as written {written:.1%})")
    for target, row in metrics.get("validation", {}).get("min_confidence", {}).items():
        if row is not None:
            lines.append(
                f"  {'precision ' + f'{float(target):.0%}':<18} --min-confidence {row['min_confidence']:.2f} "
                f"answers {row['coverage']:.1%} of the validation names"
            )
    lines.append(f"\n  {'language':<12} {'precision':>9} {'recall':>7} {'F1':>6} {'names':>6}")
    for language, row in metrics["per_language"].items():
        precision = "n/a" if row["precision"] is None else f"{row['precision']:.1%}"
        lines.append(
            f"  {language:<12} {precision:>9} {row['recall']:7.1%} {row['f1']:6.1%} {row['support']:6d}"
        )
    return lines
