"""The report's comparison as one command: each model trained on several seeds (each seed its own
split and initialisation), mean +- sd per model, paired differences with 95% intervals, and for the
first seed overlaid loss curves, confusion matrices, confused pairs and misclassified names."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from namelstm.config import TrainConfig
from namelstm.data.names import Split, load_names, load_split, resolve_data_dir
from namelstm.data.sources import Columns
from namelstm.experiments.parallel import run_all
from namelstm.experiments.stats import mean_sd, paired_difference
from namelstm.inference.predict import Predictor
from namelstm.runs import (
    CHECKPOINT,
    HISTORY,
    METRICS,
    RESUME,
    SPLIT,
    atomic_write_bytes,
    read_json,
    write_json,
)
from namelstm.training.launch import resume_training, train
from namelstm.training.settings import resolve_config

METRICS_COMPARED = (
    ("accuracy", "test accuracy"),
    ("balanced_accuracy", "balanced accuracy"),
    ("macro_f1", "macro-F1"),
    ("as_trained_accuracy", "τ 0 accuracy"),
    ("as_trained_balanced_accuracy", "τ 0 balanced"),
)
RUN_KEYS = (
    "model",
    "seed",
    "tau",
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "as_trained_accuracy",
    "as_trained_balanced_accuracy",
    "seconds",
)
# Differences the report argues about first, then any other pair of families present.
PAIRS = (("lstm", "rnn"), ("mylstm", "lstm"), ("tanhrnn", "rnn"), ("lstm", "tanhrnn"), ("bilstm", "lstm"))


def run_name(config: TrainConfig) -> str:
    return f"{config.model}-e{config.epochs}-s{config.seed}"


def find_runs(out_dir: Path) -> list[Path]:
    """The finished runs `compare` left in `out_dir`, or a clear error saying how to make them."""
    from namelstm.errors import NamelstmError

    found = sorted(p.parent for p in Path(out_dir).glob(f"*/{CHECKPOINT}"))
    if not found:
        raise NamelstmError(f"no runs in {out_dir}/; make them with: namelstm compare")
    return found


def _settings_match(run_dir: Path, config: TrainConfig, fingerprint: str) -> bool:
    """The run was made with these settings from this data (runs from before the fingerprint never
    match). Threads change the speed, not the run, so a run made with other threads is reused."""
    if not (run_dir / HISTORY).is_file() or not (run_dir / SPLIT).is_file():
        return False
    saved = TrainConfig.from_dict(read_json(run_dir / HISTORY)["config"])
    if dataclasses.replace(saved, threads=None) != dataclasses.replace(config, threads=None):
        return False
    return read_json(run_dir / SPLIT).get("data", {}).get("fingerprint") == fingerprint


def _finished_run_matches(run_dir: Path, config: TrainConfig, fingerprint: str) -> bool:
    return (
        (run_dir / METRICS).is_file()
        and _settings_match(run_dir, config, fingerprint)
        and len(read_json(run_dir / HISTORY)["epochs"]) == config.epochs
        and "as_trained" in read_json(run_dir / METRICS)  # runs scored before both ends were kept
    )


@dataclass(frozen=True)
class CompareTask:
    """One run of the comparison: its resolved settings, where it lives, and where the data is.

    Picklable, so a worker process can train it."""

    config: TrainConfig
    run_dir: Path
    data_dir: Path
    columns: Columns
    resume: bool = False


def _quiet(_: str) -> None:
    """Workers print nothing: the parent's bar counts finished runs."""


def _train_task(task: CompareTask) -> Path:
    if task.resume:
        resume_training(task.run_dir, progress=False, log=_quiet)
    else:
        split = load_split(task.data_dir, task.config, task.columns)
        train(task.config, split, task.run_dir, progress=False, log=_quiet, overwrite=True)
    return task.run_dir


def train_or_reuse(
    models: Sequence[str],
    seeds: Sequence[int],
    epochs: int,
    out_dir: Path,
    data_dir: Path | None = None,
    jobs: int = 1,
    progress: bool = True,
    log: Callable[[str], None] = tqdm.write,
    columns: Columns | None = None,
) -> list[Path]:
    """One run per model and seed under `out_dir`, each seed its own split and initialisation. A
    finished run with the same settings and data is reused; an interrupted one is resumed; the rest
    are trained, `jobs` at a time. The run directories come back in (model, seed) order."""
    columns = columns or Columns()
    resolved = resolve_data_dir(data_dir, progress=progress)  # download once, before the workers start
    fingerprint = load_names(resolved, columns=columns).fingerprint
    tasks = []
    for model in models:
        for seed in seeds:
            config = resolve_config(TrainConfig(model=model, epochs=epochs, seed=seed))
            run_dir = Path(out_dir) / run_name(config)
            if _finished_run_matches(run_dir, config, fingerprint):
                log(f"{model} seed {seed}: reusing {run_dir}")
            else:  # an interrupted run with these settings continues; anything else there is replaced
                resume = (
                    (run_dir / RESUME).is_file()
                    and not (run_dir / METRICS).is_file()
                    and _settings_match(run_dir, config, fingerprint)
                )
                tasks.append(CompareTask(config, run_dir, resolved, columns, resume))
    if tasks:
        for task in tasks:
            verb = "resuming" if task.resume else "training into"
            log(f"{task.config.model} seed {task.config.seed}: {verb} {task.run_dir}")
        run_all(_train_task, tasks, jobs, "compare: runs", progress)
    return [
        Path(out_dir) / run_name(resolve_config(TrainConfig(model=m, epochs=epochs, seed=s)))
        for m in models
        for s in seeds
    ]


def confused_pairs(metrics: dict[str, Any], top: int = 5, min_support: int = 5) -> list[dict[str, Any]]:
    """The largest off-diagonal shares of the confusion matrix: 'Korean -> Chinese 67% (6 of 9)'."""
    counts = np.asarray(metrics["confusion"], dtype=float)
    support = counts.sum(1, keepdims=True)
    rates = np.divide(counts, support, out=np.zeros_like(counts), where=support > 0)
    np.fill_diagonal(rates, 0)
    rates[support[:, 0] < min_support] = 0
    languages = metrics["languages"]
    pairs = []
    for flat in np.argsort(rates, axis=None)[::-1][:top]:
        i, j = np.unravel_index(flat, rates.shape)
        if rates[i, j] > 0:
            pairs.append(
                {
                    "true": languages[i],
                    "predicted": languages[j],
                    "rate": float(rates[i, j]),
                    "count": int(counts[i, j]),
                    "support": int(support[i, 0]),
                }
            )
    return pairs


def misclassified(run_dir: Path, top: int = 5) -> list[dict[str, Any]]:
    """The test names the model got wrong with the most confidence. A name listed under several
    languages counts as right when the prediction is any of them."""
    split = Split.from_dict(read_json(run_dir / "split.json"))
    labels: dict[str, set[str]] = {}
    for name, language in split.test:
        labels.setdefault(name, set()).add(language)
    names = list(labels)
    predictions = Predictor.load(run_dir / CHECKPOINT).predict(names, top_k=1)
    wrong = [
        {
            "name": name,
            "true": " / ".join(sorted(labels[name])),
            "predicted": p.predictions[0][0],
            "probability": p.predictions[0][1],
        }
        for name, p in zip(names, predictions, strict=False)
        if p.predictions[0][0] not in labels[name]
    ]
    return sorted(wrong, key=lambda w: -w["probability"])[:top]


def summarize(run_dir: Path, details: bool = True) -> dict[str, Any]:
    """One run's numbers; with `details`, also its confused pairs and misclassified names."""
    history_file = read_json(run_dir / HISTORY)
    history, config = history_file["epochs"], history_file["config"]
    metrics = read_json(run_dir / METRICS)
    predictor = Predictor.load(run_dir / CHECKPOINT, backend="torch")  # it counts the parameters
    row = {
        "model": config["model"],
        "seed": config["seed"],
        "run": str(run_dir),
        "config": config,
        "parameters": sum(p.numel() for p in predictor.model.parameters()),
        "epochs": len(history),
        "best_epoch": metrics["epoch"],
        "weights": metrics.get("weights"),  # "mean of epochs 11–20" when best_epoch is only the last
        "seconds": sum(r["seconds"] for r in history),
        **{k: metrics[k] for k in ("accuracy", "top3_accuracy", "balanced_accuracy", "macro_f1", "split")},
        "tau": metrics["calibration"]["tau"],
        "as_trained_accuracy": metrics["as_trained"]["accuracy"],
        "as_trained_balanced_accuracy": metrics["as_trained"]["balanced_accuracy"],
    }
    if details:
        row.update(confused_pairs=confused_pairs(metrics), misclassified=misclassified(run_dir))
    return row


def per_model(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and sd over seeds of each metric and of the seconds, one row per model."""
    rows = []
    for model in dict.fromkeys(r["model"] for r in runs):
        mine = [r for r in runs if r["model"] == model]
        row: dict[str, Any] = {"model": model, "runs": len(mine), "parameters": mine[0]["parameters"]}
        for key in (*(k for k, _ in METRICS_COMPARED), "seconds"):
            row[key], row[f"{key}_sd"] = mean_sd([r[key] for r in mine])
        rows.append(row)
    return rows


def differences(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Paired differences a - b per metric over the seeds both models ran, for each pair in `PAIRS`."""
    by = {(r["model"], r["seed"]): r for r in runs}
    models = {r["model"] for r in runs}
    rows = []
    for a, b in PAIRS:
        if a not in models or b not in models:
            continue
        seeds = sorted(s for m, s in by if m == a and (b, s) in by)
        row: dict[str, Any] = {"a": a, "b": b, "seeds": seeds}
        for key, _ in METRICS_COMPARED:
            row[key] = paired_difference(
                [by[a, s][key] for s in seeds], [by[b, s][key] for s in seeds]
            ).to_dict()
        rows.append(row)
    return rows


def _pm(mean: float, sd: float | None, percent: bool) -> str:
    if percent:
        return f"{mean:.1%}" + (f" ± {sd * 100:.1f}" if sd is not None else "")
    return f"{mean:.1f}" + (f" ± {sd:.1f}" if sd is not None else "")


def _difference_cell(d: dict[str, Any]) -> str:
    cell = f"{d['mean'] * 100:+.1f}"
    if d["low"] is None:
        return cell + " (one seed: no interval)"
    cell += f" [{d['low'] * 100:+.1f}, {d['high'] * 100:+.1f}]"
    return f"**{cell}**" if d["exceeds_noise"] else cell


def markdown(report: dict[str, Any]) -> str:
    """The comparison as Markdown: mean ± sd per model, paired differences, and the first seed's details."""
    metric_heads = " | ".join(h for _, h in METRICS_COMPARED)
    lines = [
        f"Made from: {report['about']}.",
        "",
        f"| model | seeds | parameters | {metric_heads} | training time (s) |",
        "| --- |" + " ---: |" * (len(METRICS_COMPARED) + 3),
    ]
    for row in report["models"]:
        cells = [_pm(row[k], row[f"{k}_sd"], True) for k, _ in METRICS_COMPARED]
        lines.append(
            f"| `{row['model']}` | {row['runs']} | {row['parameters']:,} | "
            + " | ".join(cells)
            + f" | {_pm(row['seconds'], row['seconds_sd'], False)} |"
        )
    if report["differences"]:
        n = max(len(d["seeds"]) for d in report["differences"])
        intro = (
            f"Paired differences in percentage points (same seed, so the same split), mean and 95% "
            f"t-interval over {n} seeds; **bold**: the interval excludes 0, so the difference exceeds "
            "seed noise."
        )
        lines += [
            "",
            intro,
            "",
            f"| difference | {metric_heads} |",
            "| --- |" + " ---: |" * len(METRICS_COMPARED),
        ]
        for d in report["differences"]:
            lines.append(
                f"| `{d['a']}` − `{d['b']}` | "
                + " | ".join(_difference_cell(d[k]) for k, _ in METRICS_COMPARED)
                + " |"
            )
        lines += ["", *_verdicts(report["differences"])]
    first = report["details"]
    seed = first[0]["seed"]
    lines += ["", f"Most confused language pairs, seed {seed} (share of the true language's test names):", ""]
    for row in first:
        pairs = ", ".join(
            f"{p['true']} → {p['predicted']} {p['rate']:.0%} ({p['count']} of {p['support']})"
            for p in row["confused_pairs"]
        )
        lines.append(f"- `{row['model']}`: {pairs}")
    lines += ["", f"Misclassified test names, seed {seed}, most confident first:", ""]
    for row in first:
        names = ", ".join(
            f"{w['name']} ({w['true']} → {w['predicted']} {w['probability']:.0%})"
            for w in row["misclassified"]
        )
        lines.append(f"- `{row['model']}`: {names}")
    return "\n".join(lines) + "\n"


def _verdicts(diffs: Sequence[dict[str, Any]]) -> list[str]:
    exceed, within = [], []
    for d in diffs:
        for key, head in METRICS_COMPARED:
            if d[key]["low"] is not None:
                (exceed if d[key]["exceeds_noise"] else within).append(f"`{d['a']}` − `{d['b']}` {head}")
    return [
        f"Exceed seed noise: {', '.join(exceed) or 'none'}.",
        f"Within seed noise: {', '.join(within) or 'none'}.",
    ]


def describe(runs: Sequence[dict[str, Any]]) -> str:
    """What the comparison was made from, built from the runs' own settings."""
    seeds = sorted({r["seed"] for r in runs})
    fractions = "/".join(f"{f:g}" for f in runs[0]["config"]["fractions"])
    recipes = "; ".join(
        TrainConfig.from_dict(c).describe() for c in {r["model"]: r["config"] for r in runs}.values()
    )
    seeds_text = ",".join(map(str, seeds))
    return f"seeds {seeds_text}, each its own split by name {fractions} and initialisation; {recipes}"


def figure_caption(details: Sequence[dict[str, Any]]) -> str:
    """The line under a comparison figure's title: the split, and where the settings are. Each model's
    recipe in full made 5-6 lines of title; compare.md's first line holds them."""
    return f"{details[0]['split']}; each model's settings: compare.md"


def write_comparison(run_dirs: Sequence[Path], out_dir: Path) -> dict[str, Path]:
    """The tables (Markdown and JSON) and, for the first seed's runs, the two figures, into `out_dir`."""
    from namelstm.evaluation.plots import plot_confusions, plot_loss_overlay

    runs = [summarize(r, details=False) for r in run_dirs]
    first_seed = min(r["seed"] for r in runs)
    first_dirs = [d for d, r in zip(run_dirs, runs, strict=False) if r["seed"] == first_seed]
    details = [summarize(d) for d in first_dirs]
    report = {
        "about": describe(runs),
        "runs": [{k: r[k] for k in RUN_KEYS} for r in runs],
        "models": per_model(runs),
        "differences": differences(runs),
        "details": details,
    }
    out_dir = Path(out_dir)
    files = {"markdown": out_dir / "compare.md", "json": out_dir / "compare.json"}
    atomic_write_bytes(files["markdown"], markdown(report).encode())
    write_json(files["json"], report)
    about = figure_caption(details)
    histories = [
        (row["model"], read_json(d / HISTORY)["epochs"]) for row, d in zip(details, first_dirs, strict=True)
    ]
    files["loss"] = plot_loss_overlay(histories, out_dir / "loss-curves.png", f"Loss per epoch\n{about}")
    matrices = [
        (f"{row['model']}: test accuracy {row['accuracy']:.1%}", read_json(d / METRICS))
        for row, d in zip(details, first_dirs, strict=False)
    ]
    files["confusion"] = plot_confusions(
        matrices, out_dir / "confusion-matrices.png", f"Test confusion matrices (row-normalised)\n{about}"
    )
    return files


def compare_models(
    models: Sequence[str],
    seeds: Sequence[int],
    epochs: int,
    out_dir: Path,
    data_dir: Path | None = None,
    jobs: int = 1,
    progress: bool = True,
    log: Callable[[str], None] = tqdm.write,
    columns: Columns | None = None,
) -> list[str]:
    """Train or reuse every (model, seed) run, write the comparison; the lines to print."""
    out_dir = Path(out_dir)
    run_dirs = train_or_reuse(models, seeds, epochs, out_dir, data_dir, jobs, progress, log, columns)
    files = write_comparison(run_dirs, out_dir)
    return [files["markdown"].read_text(encoding="utf-8"), *(f"wrote {path}" for path in files.values())]
