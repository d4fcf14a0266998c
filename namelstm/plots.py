"""Figures: loss curves, a confusion matrix, and validation curves of several runs overlaid.

Each figure is drawn on its own `Figure` (no pyplot global state) and written atomically.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from namelstm.runs import atomic_write_bytes


def _save(fig: Figure, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
    return path


def plot_history(history: Sequence[dict[str, Any]], path: Path, title: str) -> Path:
    """Train and validation loss (left) and accuracy (right) per epoch; the best epoch marked."""
    epochs = [r["epoch"] for r in history]
    best = min(history, key=lambda r: r["val_loss"])["epoch"]
    fig = Figure(figsize=(11, 4.2))
    for ax, key, label in zip(fig.subplots(1, 2), ("loss", "accuracy"), ("NLL loss", "accuracy")):
        ax.plot(epochs, [r[f"train_{key}"] for r in history], marker="o", ms=3, label="train")
        ax.plot(epochs, [r[f"val_{key}"] for r in history], marker="o", ms=3, label="validation")
        ax.axvline(best, color="grey", ls=":", label=f"best (epoch {best})")
        ax.set(xlabel="epoch", ylabel=label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if key == "accuracy":
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return _save(fig, path)


def plot_confusion(confusion: Sequence[Sequence[int]], languages: Sequence[str], path: Path, title: str) -> Path:
    """Row-normalised confusion matrix: row = true language, so the diagonal is each recall."""
    counts = np.asarray(confusion, dtype=float)
    rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    n = len(languages)
    fig = Figure(figsize=(0.5 * n + 3, 0.5 * n + 2))
    ax = fig.subplots()
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true language")
    ticks = np.arange(n)
    ax.set_xticks(ticks, languages, rotation=60, ha="right", rotation_mode="anchor")
    ax.set_yticks(ticks, [f"{lang} ({int(counts[i].sum())})" for i, lang in enumerate(languages)])
    ax.set(xlabel="predicted language", ylabel="true language (test names)")
    for i in range(n):
        for j in range(n):
            if rates[i, j] >= 0.005:
                ax.text(j, i, f"{rates[i, j] * 100:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if rates[i, j] > 0.5 else "black")
    ax.set_title(title)
    return _save(fig, path)


def plot_validation_overlay(runs: Sequence[tuple[str, Sequence[dict[str, Any]]]], path: Path, title: str) -> Path:
    """Validation loss per epoch of several runs on one axis, one line per run."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    for label, history in runs:
        ax.plot([r["epoch"] for r in history], [r["val_loss"] for r in history], marker="o", ms=3, label=label)
    ax.set(xlabel="epoch", ylabel="validation NLL loss", title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def describe_split(config: dict[str, Any]) -> str:
    return f"split by name {'/'.join(f'{f:g}' for f in config['fractions'])} seed {config['seed']}"


def describe_run(history_file: dict[str, Any]) -> str:
    """One line naming what a run was made from: model, size, epochs, split and seed."""
    c = history_file["config"]
    return (f"{c['model']} (hidden {c['hidden_size']}, batch {c['batch_size']}, lr {c['lr']:g}), "
            f"{len(history_file['epochs'])} epochs, {describe_split(c)}")


def plot_run(run_dir: Path) -> list[Path]:
    """Write a run's loss curves and test confusion matrix next to its checkpoint."""
    from namelstm.runs import CONFUSION_FIGURE, HISTORY, LOSS_FIGURE, METRICS, read_json

    run_dir = Path(run_dir)
    history_file = read_json(run_dir / HISTORY)
    if (run_dir / METRICS).is_file():
        metrics = read_json(run_dir / METRICS)
    else:
        from namelstm.evaluate import evaluate_run

        metrics = evaluate_run(run_dir)
    about = describe_run(history_file)
    return [
        plot_history(history_file["epochs"], run_dir / LOSS_FIGURE, about),
        plot_confusion(
            metrics["confusion"],
            metrics["languages"],
            run_dir / CONFUSION_FIGURE,
            f"{about}\ntest accuracy {metrics['accuracy']:.1%} on {metrics['n']} held-out names "
            f"(epoch {metrics['epoch']}), balanced accuracy {metrics['balanced_accuracy']:.1%}",
        ),
    ]
