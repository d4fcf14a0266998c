"""The report's comparison as one command: the models trained on one split, seed and budget,
then a table, overlaid loss curves, confusion matrices, confused pairs and misclassified names."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from namelstm.config import TrainConfig
from namelstm.data import Split, load_names, resolve_data_dir, split_by_name
from namelstm.predict import Predictor
from namelstm.runs import CHECKPOINT, HISTORY, METRICS, RESUME, atomic_write_bytes, read_json, write_json
from namelstm.train import resolve_config, resume_training, train

TABLE_COLUMNS = (
    ("model", "model"),
    ("parameters", "parameters"),
    ("epochs", "epochs"),
    ("seconds", "wall time (s)"),
    ("final_train_loss", "final train loss"),
    ("final_val_loss", "final val loss"),
    ("accuracy", "test accuracy"),
    ("top3_accuracy", "top-3"),
    ("balanced_accuracy", "balanced accuracy"),
    ("macro_f1", "macro-F1"),
)


def run_name(config: TrainConfig) -> str:
    return f"{config.model}-e{config.epochs}-s{config.seed}"


def _finished_run_matches(run_dir: Path, config: TrainConfig) -> bool:
    if not (run_dir / METRICS).is_file() or not (run_dir / HISTORY).is_file():
        return False
    saved = read_json(run_dir / HISTORY)
    wanted = dataclasses.asdict(config)
    wanted["fractions"] = list(wanted["fractions"])
    return saved["config"] == wanted and len(saved["epochs"]) == config.epochs


def train_or_reuse(
    models: Sequence[str],
    epochs: int,
    seed: int,
    out_dir: Path,
    data_dir: Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] = tqdm.write,
) -> list[Path]:
    """One run per model on the same split, seed and number of epochs, under `out_dir`. A finished
    run with the same settings is reused; an interrupted one is resumed."""
    split: Split | None = None
    run_dirs = []
    for model in models:
        config = resolve_config(TrainConfig(model=model, epochs=epochs, seed=seed))
        run_dir = Path(out_dir) / run_name(config)
        if _finished_run_matches(run_dir, config):
            log(f"{model}: reusing {run_dir}")
        elif (run_dir / RESUME).is_file() and (run_dir / HISTORY).is_file() and not (run_dir / METRICS).is_file():
            resume_training(run_dir, progress=progress, log=log)
        else:
            if split is None:
                split = split_by_name(load_names(resolve_data_dir(data_dir, progress=progress)), config.fractions, seed)
            log(f"{model}: training into {run_dir}")
            train(config, split, run_dir, progress=progress, log=log, overwrite=True)
        run_dirs.append(run_dir)
    return run_dirs


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
            pairs.append({"true": languages[i], "predicted": languages[j], "rate": float(rates[i, j]),
                          "count": int(counts[i, j]), "support": int(support[i, 0])})
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
        {"name": name, "true": " / ".join(sorted(labels[name])), "predicted": p.predictions[0][0],
         "probability": p.predictions[0][1]}
        for name, p in zip(names, predictions)
        if p.predictions[0][0] not in labels[name]
    ]
    return sorted(wrong, key=lambda w: -w["probability"])[:top]


def summarize(run_dir: Path) -> dict[str, Any]:
    """One row of the comparison table, plus the run's confused pairs and misclassified names."""
    history_file = read_json(run_dir / HISTORY)
    history, config = history_file["epochs"], history_file["config"]
    metrics = read_json(run_dir / METRICS)
    predictor = Predictor.load(run_dir / CHECKPOINT)
    return {
        "model": config["model"],
        "run": str(run_dir),
        "hidden_size": config["hidden_size"],
        "lr": config["lr"],
        "parameters": sum(p.numel() for p in predictor.model.parameters()),
        "epochs": len(history),
        "best_epoch": metrics["epoch"],
        "seconds": sum(r["seconds"] for r in history),
        "final_train_loss": history[-1]["train_loss"],
        "final_val_loss": history[-1]["val_loss"],
        **{k: metrics[k] for k in ("accuracy", "top3_accuracy", "balanced_accuracy", "macro_f1", "split")},
        "confused_pairs": confused_pairs(metrics),
        "misclassified": misclassified(run_dir),
    }


def _cell(key: str, value: Any) -> str:
    if key in ("accuracy", "top3_accuracy", "balanced_accuracy", "macro_f1"):
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:.3f}" if "loss" in key else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return f"`{value}`"


def markdown(rows: Sequence[dict[str, Any]], about: str) -> str:
    lines = [f"Made from: {about}.", "", "| " + " | ".join(h for _, h in TABLE_COLUMNS) + " |",
             "| --- |" + " ---: |" * (len(TABLE_COLUMNS) - 1)]
    lines += ["| " + " | ".join(_cell(k, row[k]) for k, _ in TABLE_COLUMNS) + " |" for row in rows]
    lines += ["", "Most confused language pairs (share of the true language's test names):", ""]
    for row in rows:
        pairs = ", ".join(f"{p['true']} → {p['predicted']} {p['rate']:.0%} ({p['count']} of {p['support']})"
                          for p in row["confused_pairs"])
        lines.append(f"- `{row['model']}`: {pairs}")
    lines += ["", "Misclassified test names, most confident first:", ""]
    for row in rows:
        names = ", ".join(f"{w['name']} ({w['true']} → {w['predicted']} {w['probability']:.0%})"
                          for w in row["misclassified"])
        lines.append(f"- `{row['model']}`: {names}")
    return "\n".join(lines) + "\n"


def describe(rows: Sequence[dict[str, Any]]) -> str:
    sizes = ", ".join(f"{r['model']} hidden {r['hidden_size']} lr {r['lr']:g}" for r in rows)
    return f"{rows[0]['split']}; {rows[0]['epochs']} epochs, batch 64; {sizes}"


def write_comparison(run_dirs: Sequence[Path], out_dir: Path) -> dict[str, Path]:
    """The table (Markdown and JSON) and the two figures, into `out_dir`."""
    from namelstm.plots import plot_confusions, plot_loss_overlay

    rows = [summarize(r) for r in run_dirs]
    about = describe(rows)
    out_dir = Path(out_dir)
    files = {"markdown": out_dir / "compare.md", "json": out_dir / "compare.json"}
    atomic_write_bytes(files["markdown"], markdown(rows, about).encode())
    write_json(files["json"], {"about": about, "models": rows})
    histories = [(row["model"], read_json(r / HISTORY)["epochs"]) for row, r in zip(rows, run_dirs)]
    files["loss"] = plot_loss_overlay(histories, out_dir / "loss-curves.png", f"Loss per epoch\n{about}")
    matrices = [(f"{row['model']}: test accuracy {row['accuracy']:.1%}", read_json(r / METRICS)) for row, r in
                zip(rows, run_dirs)]
    files["confusion"] = plot_confusions(matrices, out_dir / "confusion-matrices.png",
                                         f"Test confusion matrices (row-normalised)\n{about}")
    return files

