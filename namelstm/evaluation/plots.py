"""Figures: loss curves, a confusion matrix, and validation curves of several runs overlaid.

Each figure is drawn on its own `Figure` (no pyplot global state) and written atomically.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from namelstm.config import TrainConfig, split_label
from namelstm.runs import atomic_write_bytes


def _wrap(title: str, width: int = 100) -> str:
    """Long 'made from' titles broken into lines, so a figure is never widened by its title."""
    return "\n".join(textwrap.fill(line, width) for line in title.splitlines())


def _title(*lines: Sequence[str], width: int = 90) -> str:
    """A title of one or more lines, each given as phrases; a long line breaks only between its
    phrases (joined by ', '), never inside one, so 'batch 64' or 'seed 0' stays whole."""
    out: list[str] = []
    for phrases in lines:
        current = ""
        for phrase in phrases:
            joined = f"{current}, {phrase}" if current else phrase
            if current and len(joined) > width:
                out.append(current + ",")
                current = phrase
            else:
                current = joined
        out.append(current)
    return "\n".join(out)


def _save(fig: Figure, path: Path, dpi: int = 120) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
    return path


def training_loss_name(config: dict[str, Any]) -> str:
    """What a run's train_loss measures: the loss it minimised, which is the validation's NLL only
    when it trained on the labels alone."""
    if config.get("teachers"):
        return f"soft cross-entropy x T² (distillation, T {config.get('distill_temperature', 2.0):g})"
    if config.get("label_smoothing"):
        return f"cross-entropy with label smoothing {config['label_smoothing']:g}"
    return "NLL"


def plot_history(
    history: Sequence[dict[str, Any]], path: Path, title: str, average_last: int = 0, train_loss: str = "NLL"
) -> Path:
    """`history_figure`, written to `path`."""
    return _save(history_figure(history, title, average_last, train_loss), path)


def history_figure(
    history: Sequence[dict[str, Any]], title: str, average_last: int = 0, train_loss: str = "NLL"
) -> Figure:
    """Train and validation loss (left) and accuracy (right) per epoch, with the weights that were
    kept marked: the best epoch, or the span of epochs whose weights were averaged. A train loss that
    is not the validation's NLL (`train_loss` names it: distillation, label smoothing) is drawn on an
    axis of its own, on the right, never on one "NLL" axis with the other."""
    epochs = [r["epoch"] for r in history]
    best = min(history, key=lambda r: r["val_loss"])["epoch"]
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, key, label in zip(axes, ("loss", "accuracy"), ("NLL loss", "accuracy"), strict=True):
        own_axis = key == "loss" and train_loss != "NLL"
        train_ax = ax.twinx() if own_axis else ax
        train_ax.plot(epochs, [r[f"train_{key}"] for r in history], marker="o", ms=3, label="train")
        ax.plot(epochs, [r[f"val_{key}"] for r in history], marker="o", ms=3, label="validation", color="C1")
        if own_axis:
            train_ax.set_ylabel(f"train loss: {train_loss}", color="C0")
            label = "validation NLL loss"
        if average_last:
            first = max(epochs) - average_last + 1
            ax.axvspan(
                first - 0.5,
                max(epochs) + 0.5,
                color="grey",
                alpha=0.15,
                label=f"kept: mean of epochs {first}–{max(epochs)}",
            )
        else:
            ax.axvline(best, color="grey", ls=":", label=f"kept: best (epoch {best})")
        ax.set(xlabel="epoch", ylabel=label)
        _integer_epochs(ax, epochs)
        if key == "accuracy":
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(alpha=0.3)
    # Both panels share the legend: once is enough, with the train line wherever its axis is.
    handles = [h for a in fig.axes[:1] + fig.axes[2:] for h in a.get_legend_handles_labels()[0]]
    axes[0].legend(handles=handles)
    fig.suptitle(title)
    return fig


def _integer_epochs(ax: Any, epochs: Sequence[int]) -> None:
    """Epoch axis ticks on whole epochs only, also when there is one epoch (no 0.96, 0.98, ...)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if len(set(epochs)) == 1:
        ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
        ax.set_xticks([epochs[0]])


def _row_rates(confusion: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    counts = np.asarray(confusion, dtype=float)
    return counts, counts / np.maximum(counts.sum(1, keepdims=True), 1)


def _draw_confusion(
    ax: Any, confusion: Sequence[Sequence[int]], languages: Sequence[str], fontsize: int = 7
) -> Any:
    """Row-normalised matrix on `ax`, every language labelled, shares of 1% or more written in
    as percentages."""
    counts, rates = _row_rates(confusion)
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(len(languages))
    ax.set_xticks(ticks, languages, rotation=60, ha="right", rotation_mode="anchor")
    ax.set_yticks(ticks, [f"{lang} ({int(counts[i].sum())})" for i, lang in enumerate(languages)])
    ax.set(xlabel="predicted language", ylabel="true language (test names)")
    for i in range(len(languages)):
        for j in range(len(languages)):
            if rates[i, j] >= 0.005:
                ax.text(
                    j,
                    i,
                    f"{rates[i, j]:.0%}",
                    ha="center",
                    va="center",
                    fontsize=fontsize,
                    color="white" if rates[i, j] > 0.5 else "black",
                )
    return image


def plot_confusion(
    confusion: Sequence[Sequence[int]], languages: Sequence[str], path: Path, title: str
) -> Path:
    """Row-normalised confusion matrix: row = true language, so the diagonal is each recall."""
    n = len(languages)
    fig = Figure(figsize=(0.55 * n + 3, 0.5 * n + 2.5), layout="constrained")
    ax = fig.subplots()
    image = _draw_confusion(ax, confusion, languages)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02, label="share of the true language's names")
    bar.formatter = PercentFormatter(1.0)
    ax.set_title(title)
    return _save(fig, path)


def plot_confusions(runs: Sequence[tuple[str, dict[str, Any]]], path: Path, title: str) -> Path:
    """Several runs' confusion matrices on one colour scale (0 to 100%), two per row, so each
    stays large enough to read its cells at normal size."""
    n = len(runs[0][1]["languages"])
    cols = min(2, len(runs))
    rows = -(-len(runs) // cols)
    side = 0.42 * n + 2.5
    fig = Figure(figsize=(cols * side + 1, rows * side + 0.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, (label, metrics) in zip(axes, runs, strict=False):
        image = _draw_confusion(ax, metrics["confusion"], metrics["languages"], fontsize=7)
        ax.set_title(label)
    for ax in axes[len(runs) :]:
        ax.set_visible(False)
    bar = fig.colorbar(
        image, ax=list(axes), fraction=0.02, pad=0.01, label="share of the true language's names"
    )
    bar.ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    fig.suptitle(_wrap(title, 110))
    return _save(fig, path, dpi=90)


def plot_loss_overlay(runs: Sequence[tuple[str, Sequence[dict[str, Any]]]], path: Path, title: str) -> Path:
    """Training (solid) and validation (dashed) loss of several runs, one colour per run; the
    legend names each run once and each line style once."""
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(9, 5))
    ax = fig.subplots()
    for k, (label, history) in enumerate(runs):
        epochs = [r["epoch"] for r in history]
        ax.plot(epochs, [r["train_loss"] for r in history], color=f"C{k}", label=label)
        ax.plot(epochs, [r["val_loss"] for r in history], color=f"C{k}", ls="--")
    ax.set(xlabel="epoch", ylabel="NLL loss", title=_wrap(title))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    styles = [
        Line2D([], [], color="grey", label="train"),
        Line2D([], [], color="grey", ls="--", label="validation"),
    ]
    ax.legend(handles=[*ax.get_lines()[::2], *styles])
    return _save(fig, path)


def plot_validation_overlay(
    runs: Sequence[tuple[str, Sequence[dict[str, Any]]]], path: Path, title: str
) -> Path:
    """Validation loss per epoch of several runs on one axis, one line per run."""
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    for label, history in runs:
        ax.plot(
            [r["epoch"] for r in history], [r["val_loss"] for r in history], marker="o", ms=3, label=label
        )
    ax.set(xlabel="epoch", ylabel="validation NLL loss", title=title)
    _integer_epochs(ax, [r["epoch"] for _, history in runs for r in history])
    ax.grid(alpha=0.3)
    # Below the axes, each label wrapped: a run's label (its folder and settings) can be wider than the
    # axes, and inside them it ran off the figure's left edge and hid the curves.
    for line in ax.get_lines():
        line.set_label(textwrap.fill(line.get_label(), 70))
    fig.legend(loc="outside lower center", fontsize=8)
    return _save(fig, path)


def plot_runs_overlay(run_dirs: Sequence[Path], path: Path) -> Path:
    """The validation curves of several runs in one figure at `path`. Each run is labelled by its
    directory, plus what in its settings sets it apart from the others; the title says the rest."""
    from namelstm.runs import HISTORY, read_json

    histories = [read_json(Path(r) / HISTORY) for r in run_dirs]
    described = [run_phrases(h["config"], len(h["epochs"])) for h in histories]
    shared = [p for p in described[0] if all(p in d for d in described)]
    curves = []
    for run_dir, phrases, history in zip(run_dirs, described, histories, strict=True):
        own = [p for p in phrases if p not in shared]
        curves.append((f"{run_dir} ({', '.join(own)})" if own else str(run_dir), history["epochs"]))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return plot_validation_overlay(curves, Path(path), _title(["validation loss per epoch", *shared]))


def describe_split(config: dict[str, Any]) -> str:
    return split_label(config["fractions"], config["seed"])


def run_phrases(config: dict[str, Any], epochs: int) -> list[str]:
    """What a run was made from, as short phrases, from its saved settings (`TrainConfig.describe`,
    with the epochs it actually ran) and its split."""
    settings = TrainConfig.from_dict({**config, "epochs": epochs}).describe().split(", ")
    return [*settings, describe_split(config)]


def describe_run(history_file: dict[str, Any]) -> str:
    """One line naming what a run was made from: model, size, epochs, split and seed."""
    return ", ".join(run_phrases(history_file["config"], len(history_file["epochs"])))


def plot_run(run_dir: Path) -> list[Path]:
    """Write a run's loss curves, test confusion matrix, reliability diagram and validation trade-off
    of accuracy against balanced accuracy next to its checkpoint."""
    from namelstm.runs import (
        CONFUSION_FIGURE,
        HISTORY,
        LOSS_FIGURE,
        METRICS,
        RELIABILITY_FIGURE,
        RISK_COVERAGE_FIGURE,
        TRADEOFF_FIGURE,
        read_json,
    )

    run_dir = Path(run_dir)
    history_file = read_json(run_dir / HISTORY)
    if (run_dir / METRICS).is_file():
        metrics = read_json(run_dir / METRICS)
    else:
        from namelstm.evaluation.evaluate import evaluate_run

        metrics = evaluate_run(run_dir, write=False)  # an interrupted run stays one to resume
    about = run_phrases(history_file["config"], len(history_file["epochs"]))
    ran = TrainConfig.from_dict({**history_file["config"], "epochs": len(history_file["epochs"])})
    kept = metrics.get("weights") or ran.kept_weights(metrics["epoch"])  # runs from before "weights"
    scores = [
        f"test accuracy {metrics['accuracy']:.1%} on {metrics['n']} held-out names ({kept})",
        f"balanced accuracy {metrics['balanced_accuracy']:.1%}",
    ]
    written = [
        plot_history(
            history_file["epochs"],
            run_dir / LOSS_FIGURE,
            _title(about),
            min(history_file["config"].get("average_last") or 0, len(history_file["epochs"])),
            training_loss_name(history_file["config"]),
        ),
        plot_confusion(
            metrics["confusion"],
            metrics["languages"],
            run_dir / CONFUSION_FIGURE,
            _title(about, scores, width=max(50, 5 * len(metrics["languages"]))),
        ),
    ]
    if "reliability" in metrics:  # runs scored before calibration existed have none
        written.append(plot_reliability(metrics, run_dir / RELIABILITY_FIGURE, _title(about)))
    if metrics.get("validation", {}).get("tradeoff"):  # nor, before this figure, a trade-off
        written.append(plot_tradeoff(metrics, run_dir / TRADEOFF_FIGURE, _title(about)))
    if "risk_coverage" in metrics:  # nor, before --min-confidence, a risk-coverage curve
        written.append(plot_risk_coverage(metrics, run_dir / RISK_COVERAGE_FIGURE, _title(about)))
    return written


def plot_runs(run_dirs: Sequence[Path], overlay: Path) -> list[Path]:
    """`plot_run` for each run; with several, also their validation curves overlaid at `overlay`."""
    written = [path for run_dir in run_dirs for path in plot_run(run_dir)]
    if len(run_dirs) > 1:
        written.append(plot_runs_overlay(run_dirs, overlay))
    return written


def plot_gradient_norms(report: dict[str, dict[str, Any]], path: Path, title: str) -> Path:
    """Mean gradient norm per time step counted back from the last letter, at initialisation (left)
    and after training (right) on one log scale, so vanishing and exploding can be told apart."""
    fig = Figure(figsize=(14, 5.5), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    stages = (("initial", "At initialisation"), ("trained", "After training"))
    for ax, (stage, name) in zip(axes, stages, strict=True):
        for k, (model, values) in enumerate(report.items()):
            for kind, style in (("random_strings", "-"), ("test_names", "--")):
                norms = values[stage][kind]
                label = model if kind == "random_strings" else None
                ax.semilogy(
                    np.arange(1, len(norms) + 1), norms, style, color=f"C{k}", marker="o", ms=2.5, label=label
                )
        ax.set(xlabel="letters back from the last one (1 = last letter)", title=name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("mean |d loss / d input letter| (log scale)")
    axes[0].legend(title="solid: random strings, dashed: test names", fontsize=9)
    fig.suptitle(_wrap(title, 150))
    return _save(fig, path)


def _arm_label(row: dict[str, Any]) -> str:
    return row["model"] if row["init"] == "default" else f"{row['model']}, {row['init']}"


def plot_memory(
    results: Sequence[dict[str, Any]],
    untrained: Sequence[dict[str, Any]],
    chance: float,
    path: Path,
    title: str,
    max_steps: int | None = None,
) -> Path:
    """The memory experiment in three panels, one colour per arm, N on evenly spaced ticks: held-out
    accuracy (a dot per seed, the median as a line, 'k/n' solved on top, '-' where not trained), steps
    to solve, and the gradient of the loss w.r.t. the first symbol at initialisation (log scale), for
    every arm at every N, trained or not."""
    everything = [*results, *untrained]
    arms = list(dict.fromkeys(_arm_label(r) for r in everything))
    distances = sorted({r["distance"] for r in everything})
    fig = Figure(figsize=(15, 10), layout="constrained")
    grid = fig.add_gridspec(2, 2)
    top, steps_ax, grad_ax = (
        fig.add_subplot(grid[0, :]),
        fig.add_subplot(grid[1, 0]),
        fig.add_subplot(grid[1, 1]),
    )
    # The arms side by side within +-0.2 of their N's tick (the ticks are 1 apart), so no dot strays
    # towards a neighbouring N.
    width = 0.4 / max(len(arms) - 1, 1)
    for k, arm in enumerate(arms):
        colour, shift = f"C{k}", (k - (len(arms) - 1) / 2) * width
        xs = np.arange(len(distances)) + shift
        trained = _by_distance(results, arm, distances)
        accuracy = [[r["accuracy"] for r in runs] for runs in trained]
        # A gradient of exactly 0 has no place on a log scale: left out.
        gradient = [
            [r["initial_gradient"] if r["initial_gradient"] > 0 else np.nan for r in runs]
            for runs in _by_distance(everything, arm, distances)
        ]
        steps = [[r["steps"] for r in runs if r["steps"] is not None] for runs in trained]
        _seeds_and_median(top, xs, accuracy, colour, arm)
        _seeds_and_median(grad_ax, xs, gradient, colour, arm)
        _solved_counts(top, xs, trained, colour)
        _seeds_and_median(steps_ax, xs, steps, colour, arm)
    _label_memory_axes(top, steps_ax, grad_ax, chance, max_steps, distances)
    fig.suptitle(_wrap(title, 150))
    return _save(fig, path, dpi=100)


def _by_distance(
    rows: Sequence[dict[str, Any]], arm: str, distances: list[int]
) -> list[list[dict[str, Any]]]:
    """The rows of one arm, as one list per N in `distances`."""
    return [[r for r in rows if _arm_label(r) == arm and r["distance"] == d] for d in distances]


def _seeds_and_median(ax: Any, xs: np.ndarray, values: list[list[float]], colour: str, label: str) -> None:
    """A dot per seed at each x, and the medians joined by a line (NaN, so no point, where none)."""
    for x, column in zip(xs, values, strict=False):
        ax.scatter([x] * len(column), column, s=12, color=colour, alpha=0.6)
    medians = [np.median(column) if column else np.nan for column in values]
    ax.plot(xs, medians, color=colour, marker="_", ms=8, label=label)


def _solved_counts(ax: Any, xs: np.ndarray, cells: list[list[dict[str, Any]]], colour: str) -> None:
    """'k/n' above each N: seeds that solved it of those trained, or '–' where none was trained."""
    for x, runs in zip(xs, cells, strict=False):
        solved = sum(r["steps"] is not None for r in runs)
        label, turn = (f"{solved}/{len(runs)}", 90) if runs else ("–", 0)
        ax.text(x, 1.03, label, ha="center", va="bottom", fontsize=7, color=colour, rotation=turn)


def _label_memory_axes(
    top: Any, steps_ax: Any, grad_ax: Any, chance: float, max_steps: int | None, distances: list[int]
) -> None:
    """The chance line, the step cap, titles, scales and the N ticks of the three panels."""
    top.axhline(chance, color="grey", ls=":", label=f"chance ({chance:.0%})")
    top.set(
        ylabel="held-out accuracy",
        ylim=(0, 1.16),
        title="Held-out accuracy at the end (dots: seeds, line: median; k/n: seeds solved, –: not trained)",
    )
    top.yaxis.set_major_formatter(PercentFormatter(1.0))
    top.legend(loc="lower left", ncols=5)
    if max_steps:
        cap = steps_ax.axhline(max_steps, color="grey", ls=":", label=f"cap ({max_steps} steps)")
        steps_ax.set_ylim(0, max_steps * 1.08)
        steps_ax.legend(handles=[cap], fontsize=8)
    steps_ax.set(ylabel="training steps", title="Steps to solve (solved seeds only)")
    grad_ax.set_yscale("log")
    grad_ax.set(
        ylabel="mean |d loss / d first symbol| (log scale)",
        title="Gradient reaching the first symbol at initialisation, every arm (float64)",
    )
    for ax in (top, steps_ax, grad_ax):
        ax.set_xticks(np.arange(len(distances)), [str(d) for d in distances])
        ax.set_xlim(-0.5, len(distances) - 0.5)
        ax.set_xlabel("N: distractors between the class symbol and the end")
        ax.grid(alpha=0.3, which="both", axis="y")


def plot_stability(
    runs: Sequence[dict[str, Any]], means: Sequence[dict[str, Any]], path: Path, title: str
) -> Path:
    """Final validation loss against learning rate (log-log), a line per model (`means`: the mean
    over seeds); diverged runs are crosses on the top edge."""
    fig = Figure(figsize=(9, 5))
    ax = fig.subplots()
    finite = [r["val_loss"] for r in runs if r["val_loss"] is not None]
    top = max(finite) * 1.5 if finite else 10.0
    for k, model in enumerate(dict.fromkeys(r["model"] for r in runs)):
        mine = [c for c in means if c["model"] == model]
        ax.loglog(
            [c["lr"] for c in mine],
            [np.nan if c["val_loss"] is None else c["val_loss"] for c in mine],
            marker="o",
            color=f"C{k}",
            label=model,
        )
        diverged = [r["lr"] for r in runs if r["model"] == model and r["diverged"]]
        if diverged:
            ax.scatter(
                diverged,
                [top] * len(diverged),
                marker="x",
                s=80,
                color=f"C{k}",
                label=f"{model} diverged (NaN)",
            )
    ax.set(xlabel="learning rate", ylabel="final validation NLL loss", title=_wrap(title))
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return _save(fig, path)


def plot_reliability(metrics: dict[str, Any], path: Path, title: str) -> Path:
    """Reliability diagram of the test names before and after temperature scaling: accuracy of
    the top language per confidence bin against the diagonal, with how many names each bin holds."""
    fig = Figure(figsize=(11, 5.6), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    calibration = metrics.get("calibration", {})
    labels = {
        "before": f"before temperature scaling: ECE {metrics['ece_uncalibrated']:.3f}",
        "after": f"after (T = {calibration.get('temperature', 1):.2f}): ECE {metrics['ece']:.3f}",
    }
    for ax, key in zip(axes, ("before", "after"), strict=True):
        rows = [r for r in metrics["reliability"][key] if r["count"]]
        centres = [(r["low"] + r["high"]) / 2 for r in rows]
        width = rows[0]["high"] - rows[0]["low"] if rows else 1 / 15
        ax.bar(
            centres,
            [r["accuracy"] for r in rows],
            width=width * 0.9,
            color="C0",
            alpha=0.8,
            edgecolor="C0",  # a bin whose accuracy is 0 still shows, as a line on the axis
            linewidth=1.5,
            label="accuracy in the bin",
        )
        ax.plot(
            centres,
            [r["confidence"] for r in rows],
            "D",
            color="C1",
            ms=4,
            label="mean confidence in the bin",
        )
        ax.plot([0, 1], [0, 1], color="grey", ls=":", label="perfectly calibrated")
        for x, r in zip(centres, rows, strict=True):  # above the bar, dark: readable at any accuracy
            ax.text(x, min(r["accuracy"], 0.9) + 0.02, f"{r['count']}", ha="center", va="bottom", fontsize=7)
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="confidence of the top language", title=labels[key])
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (test names; bar labels: names per bin)")
    axes[0].legend(loc="upper left", fontsize=8)
    tau = calibration.get("tau", 0)
    fig.suptitle(
        title
        + "\n"
        + _title(
            [
                f"reliability on {metrics['n']} test names",
                f"logit adjustment tau = {tau:g} in both panels",
                "tau and T fitted on the validation split",
            ],
            width=110,
        )
    )
    return _save(fig, path)


def plot_tradeoff(metrics: dict[str, Any], path: Path, title: str) -> Path:
    """What the logit adjustment trades, on the validation names: accuracy and balanced accuracy
    at every tau (left), and the same as one curve of accuracy against balanced accuracy (right),
    marking the model as trained (tau 0), the fitted tau, and where the test names landed."""
    rows = metrics["validation"]["tradeoff"]
    fitted = metrics.get("calibration", {}).get("tau", 0.0)
    taus = [r["tau"] for r in rows]
    accuracy = [r["accuracy"] for r in rows]
    balanced = [r["balanced_accuracy"] for r in rows]
    at = {r["tau"]: r for r in rows}
    fig = Figure(figsize=(12, 5.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.plot(taus, accuracy, color="C0", label="accuracy")
    left.plot(taus, balanced, color="C1", label="balanced accuracy")
    left.plot(taus, [r["score"] for r in rows], color="grey", ls="--", label="their mean, the score")
    on_grid = "" if fitted in at else " (not on the grid)"
    # Which rule read the score: the best one, or the tau nearest 0 within one standard error of it.
    rule = {"one-se": ", one-SE rule", "best": ", best score"}.get(
        metrics.get("calibration", {}).get("tau_rule", ""), ""
    )
    left.axvline(fitted, color="C3", ls=":", label=f"fitted tau = {fitted:g}{rule}{on_grid}")
    left.set(xlabel="logit adjustment tau (0: the model as trained)", title="validation names, by tau")
    left.legend(loc="lower right", fontsize=8)
    right.plot(
        balanced,
        accuracy,
        "-",
        color="C2",
        lw=1.2,
        label=f"validation names, tau from {taus[0]:g} to {taus[-1]:g}",
    )
    marks = {  # a fitted tau of 0 replaces the tau-0 mark: one marker, one legend entry
        0.0: ("o", "tau 0, the model as trained (validation)"),
        fitted: ("s", f"fitted tau {fitted:g} (validation)"),
    }
    for tau, (marker, label) in marks.items():
        if tau in at:
            right.plot(
                at[tau]["balanced_accuracy"], at[tau]["accuracy"], marker, color="C3", ms=7, label=label
            )
    right.plot(
        metrics["balanced_accuracy"],
        metrics["accuracy"],
        "*",
        color="k",
        ms=11,
        label=f"test names, fitted tau ({metrics['n']} names)",
    )
    right.set(xlabel="balanced accuracy", ylabel="accuracy", title="the trade-off as one curve")
    right.legend(loc="center left", fontsize=8)
    for ax in (left, right):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(alpha=0.3)
    right.xaxis.set_major_formatter(PercentFormatter(1.0))
    fig.suptitle(title + "\ntau is fitted on the validation names; the test names only show where it lands")
    return _save(fig, path)


def plot_risk_coverage(metrics: dict[str, Any], path: Path, title: str) -> Path:
    """What `--min-confidence` trades on the test names: the accuracy of the names answered against the
    share answered, marking the thresholds chosen on the validation names for 90% and 95% precision."""
    rows = [r for r in metrics["risk_coverage"] if r["accuracy"] is not None]
    at = {r["min_confidence"]: r for r in rows}
    fig = Figure(figsize=(7.5, 5.4), layout="constrained")
    ax = fig.subplots()
    ax.plot([r["coverage"] for r in rows], [r["accuracy"] for r in rows], "-", color="C0", lw=1.5)
    ax.plot(1.0, metrics["accuracy"], "o", color="k", ms=7, label="always answer")
    chosen = metrics.get("validation", {}).get("min_confidence", {})
    for (target, row), marker in zip(chosen.items(), ("s", "D"), strict=False):
        if row is not None and row["min_confidence"] in at:
            test = at[row["min_confidence"]]
            ax.plot(
                test["coverage"],
                test["accuracy"],
                marker,
                color="C3",
                ms=7,
                label=f"--min-confidence {row['min_confidence']:.2f} ({float(target):.0%} precision on "
                f"validation): test {test['accuracy']:.1%} of {test['coverage']:.0%}",
            )
    ax.set(
        xlabel="share of names answered (coverage)",
        ylabel="accuracy of the names answered",
        title=f"{metrics['n']} test names; the threshold rises from right to left",
    )
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)
