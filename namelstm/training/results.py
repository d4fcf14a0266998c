"""What a run reports: its result and the one line `namelstm train` ends with, the warning when it
learned nothing, the message of an interrupted run, and the mark of each epoch's line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from namelstm.config import TrainConfig
from namelstm.errors import NamelstmError
from namelstm.evaluation.evaluate import both_ends

# The test figures a checkpoint carries with it (its `metrics['test']`), which the model card quotes.
HEADLINE = ("accuracy", "top3_accuracy", "balanced_accuracy", "macro_f1", "ece", "split", "as_trained")


@dataclass(frozen=True)
class TrainResult:
    """What a finished run reports: where it is, its history and its calibrated test scores."""

    config: TrainConfig
    run_dir: Path
    history: list[dict[str, Any]]
    best_epoch: int
    test_metrics: dict[str, Any]
    seconds: float
    majority_accuracy: float  # validation accuracy of always answering the most common language

    @property
    def model(self) -> str:
        return self.config.model

    @property
    def learned_nothing(self) -> bool:
        """No epoch beat always answering the most common language on validation."""
        return max(r["val_accuracy"] for r in self.history) <= self.majority_accuracy + 1e-9

    def summary(self) -> str:
        """The one line `namelstm train` prints at the end."""
        m = self.test_metrics
        return (
            f"{self.model}: test {both_ends(m)}; top-3 {m['top3_accuracy']:.1%}, "
            f"macro-F1 {m['macro_f1']:.1%}, ECE {m['ece']:.3f} on {m['n']} held-out names, {m['split']}; "
            f"{self.config.kept_weights(self.best_epoch)}, {self.seconds:.1f}s; run in {self.run_dir}"
        )

    def warning(self) -> str | None:
        """What to tell the user when the run learned nothing, else None."""
        if not self.learned_nothing:
            return None
        return (
            f"warning: this run learned nothing: no epoch beat always answering the most common language "
            f"({self.majority_accuracy:.1%} of validation names); try a lower --lr (now {self.config.lr:g})"
        )


class TrainingInterrupted(NamelstmError):
    """Ctrl-C stopped training; the run can continue from its last completed epoch, if there is one."""

    def __init__(self, run_dir: Path | None, epoch: int, replacing: Path | None = None) -> None:
        if replacing is not None and epoch == 0:
            super().__init__(
                f"interrupted before the first epoch finished; nothing was kept and {replacing} is as it was"
            )
        elif run_dir is None or epoch == 0:
            super().__init__("interrupted before the first epoch finished; nothing was kept")
        else:
            super().__init__(
                f"interrupted; {run_dir} holds the run as it was after epoch {epoch}. "
                f"Continue it with: namelstm train --resume {run_dir}"
            )
        self.run_dir, self.epoch = run_dir, epoch


@dataclass(frozen=True)
class Kept:
    """Which weights a run keeps and their validation scores: the best epoch's, or the mean of the last
    epochs (named by the last)."""

    val_loss: float
    val_accuracy: float
    epoch: int


def epoch_line(record: dict[str, Any], epochs: int, averaging: bool, in_mean: bool, improved: bool) -> str:
    """The line printed after each epoch. Its mark: '*best' after an epoch of lowest validation loss so
    far, when that epoch's weights are the ones kept; when the run averages, '+mean' after each epoch in
    the mean, since no epoch is kept alone."""
    if averaging:
        mark = "  +mean" if in_mean else ""
    else:
        mark = "  *best" if improved else ""
    return (
        f"epoch {record['epoch']:3d}/{epochs}  train loss {record['train_loss']:.3f} "
        f"acc {record['train_accuracy']:6.1%}  val loss {record['val_loss']:.3f} "
        f"acc {record['val_accuracy']:6.1%} balanced {record['val_balanced_accuracy']:6.1%}  "
        f"{record['seconds']:.1f}s{mark}"
    )
