"""Cross-validation by name: every name is a test name exactly once, with intervals on the pooled figures.

A single split scores a model on 1,799 names, and a language with 7 of them moves 14 points per name.
Here the names are cut into k folds (grouped by name, stratified by language); each fold in turn is the
test part, and a validation part carved out of the other folds' names chooses the epoch, tau and the
temperature, so no choice sees the fold it is scored on. The k test folds' outputs are pooled and
bootstrapped for 95% intervals.
"""

from __future__ import annotations

import functools
import io
import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from namelstm.calibration import Calibration
from namelstm.checkpoint import load_averaged
from namelstm.config import INFERENCE_BATCH_SIZE, TAU_RULES, TrainConfig
from namelstm.data.names import Batches, NamesDataset, Pair, Split, load_dataset
from namelstm.data.sources import Columns
from namelstm.errors import NamelstmError
from namelstm.evaluation.evaluate import Outputs, compute_metrics, infer
from namelstm.experiments.parallel import Plan, run_plans
from namelstm.experiments.recipe import Recipe, build_steps
from namelstm.experiments.stats import draw_intervals, percentile_interval
from namelstm.metrics import accuracies, bootstrap_draws
from namelstm.runs import atomic_write_bytes, write_json
from namelstm.training.calibrate import fit_calibration

VALIDATION_PARTS = 8  # a fold's validation names: 1/8 of its training names (10% of all with 5 folds)
CV_FILE = "cv.json"
POOLED_FILE = "pooled.npz"  # the pooled test names' calibrated log-probabilities, for pairing families


def assign_parts(pairs: Sequence[Pair], parts: int, seed: int) -> list[int]:
    """The part (0..parts-1) of every pair: all pairs of a name (case-insensitive) in one part, and
    each language's names spread evenly over the parts (rarest languages first, as `split_by_name`)."""
    rng = random.Random(seed)
    names_of: dict[str, set[str]] = defaultdict(set)
    for name, language in pairs:
        names_of[language].add(name.lower())
    part_of: dict[str, int] = {}
    sizes = [0] * parts
    for language in sorted(names_of, key=lambda lang: (len(names_of[lang]), lang)):
        keys = sorted(names_of[language])
        have = [0] * parts
        for key in keys:
            if key in part_of:
                have[part_of[key]] += 1
        free = [k for k in keys if k not in part_of]
        rng.shuffle(free)
        for key in free:
            # The part with fewest of this language's names, then fewest names; ties at random.
            part = min(range(parts), key=lambda p: (have[p], sizes[p], rng.random()))
            part_of[key] = part
            have[part] += 1
            sizes[part] += 1
    return [part_of[name.lower()] for name, _ in pairs]


def fold_splits(dataset: NamesDataset, folds: int, seed: int) -> list[Split]:
    """One split per fold: the fold's names are its test part; 1/VALIDATION_PARTS of the rest, also
    grouped by name and stratified, is its validation part; the remainder trains."""
    if folds < 2:
        raise NamelstmError(f"cross-validation needs at least 2 folds, not {folds}")
    pairs = list(dataset.pairs)
    fold_of = assign_parts(pairs, folds, seed)
    splits = []
    for k in range(folds):
        rest = [p for p, f in zip(pairs, fold_of, strict=True) if f != k]
        inner = assign_parts(rest, VALIDATION_PARTS, seed + 1 + k)
        test_share = 1 / folds
        val_share = (1 - test_share) / VALIDATION_PARTS
        splits.append(
            Split(
                train=tuple(p for p, part in zip(rest, inner, strict=True) if part != 0),
                val=tuple(p for p, part in zip(rest, inner, strict=True) if part == 0),
                test=tuple(p for p, f in zip(pairs, fold_of, strict=True) if f == k),
                languages=dataset.languages,
                seed=seed,
                fractions=(round(1 - test_share - val_share, 4), round(val_share, 4), round(test_share, 4)),
                alphabet=dataset.alphabet,
                data={"label": dataset.data_label, "fingerprint": dataset.fingerprint, "fold": k},
            )
        )
    return splits


def fold_outputs(checkpoint: Path, split: Split) -> dict[str, Any]:
    """The fold's model (its recipe's scored checkpoint) on its validation part (which fits tau and the
    temperature, under each rule of TAU_RULES) and on its test part: raw test log-probabilities and the
    calibrations, for pooling."""
    model, checkpoints = load_averaged([checkpoint])

    def outputs(pairs: Sequence[Pair]) -> Outputs:
        return infer(model, Batches(pairs, split.languages, INFERENCE_BATCH_SIZE, split.alphabet))

    val, test = outputs(split.val), outputs(split.test)
    prior = Calibration.from_dict(checkpoints[0].calibration).prior  # the fold's training shares
    calibrations = {
        rule: fit_calibration(val.log_probs, val.targets, prior, "the fold's validation part", rule)
        for rule in TAU_RULES
    }
    return {"test": test, "calibrations": calibrations}


def _fold_plan(recipe: Recipe, split: Split, fold_dir: Path, done: dict[int, Any]) -> Plan:
    """Build the recipe on the fold as the shipped model is built (recipe.build_steps), then score it."""
    scored = yield from build_steps(recipe, split, fold_dir)
    (result,) = yield [functools.partial(fold_outputs, scored, split)]
    done[split.data["fold"]] = {**result, "split": split}


def cross_validate(
    recipe: Recipe,
    dataset: NamesDataset,
    out_dir: Path,
    folds: int = 5,
    seed: int = 0,
    jobs: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Train `recipe` on every fold (`jobs` trainings at once), pool the test folds, write cv.json."""
    splits = fold_splits(dataset, folds, seed)
    done: dict[int, Any] = {}
    plans = [_fold_plan(recipe, s, Path(out_dir) / f"fold-{k}", done) for k, s in enumerate(splits)]
    run_plans(plans, jobs, desc=f"cv {recipe.name}", progress=progress)
    pooled = [done[k] for k in range(folds)]
    report = pooled_report(recipe, pooled, dataset, seed)
    outputs = _pooled(pooled, report["tau_rule"])
    buffer = io.BytesIO()
    np.savez(buffer, log_probs=outputs.log_probs.numpy(), targets=outputs.targets.numpy())
    atomic_write_bytes(Path(out_dir) / POOLED_FILE, buffer.getvalue())
    write_json(Path(out_dir) / CV_FILE, report)
    return report


def _fold_row(k: int, fold: dict[str, Any], rule: str) -> dict[str, Any]:
    split, test = fold["split"], fold["test"]
    n = len(split.languages)
    chosen = fold["calibrations"][rule]
    row: dict[str, Any] = {
        "fold": k,
        **{part: len(getattr(split, part)) for part in ("train", "val", "test")},
        "tau": chosen.tau,
        "tau_one_se": fold["calibrations"]["one-se"].tau,
        "tau_best_rule": fold["calibrations"]["best"].tau,
        "temperature": chosen.temperature,
    }
    for label, calibration in (("", chosen), ("as_trained_", chosen.as_trained())):
        for key, value in accuracies(calibration.apply(test.log_probs).argmax(1), test.targets, n).items():
            row[label + key] = value
    return row


def _pooled(folds: Sequence[dict[str, Any]], rule: str | None) -> Outputs:
    """Every fold's test outputs calibrated by its own fit (`rule`; None: tau 0, the temperature
    fitted with the one-standard-error tau)."""
    log_probs = []
    for fold in folds:
        calibration: Calibration = fold["calibrations"]["one-se" if rule is None else rule]
        if rule is None:
            calibration = calibration.as_trained()
        log_probs.append(calibration.apply(fold["test"].log_probs))
    return Outputs(torch.cat(log_probs), torch.cat([f["test"].targets for f in folds]))


def pooled_report(
    recipe: Recipe, folds: Sequence[dict[str, Any]], dataset: NamesDataset, seed: int
) -> dict[str, Any]:
    """cv.json: the recipe, a flat `folds` list, and the pooled out-of-fold figures with 95%
    bootstrap intervals under the recipe's tau rule (`pooled`), under each rule, and at tau 0."""
    languages = dataset.languages
    rule = recipe.resolved().tau_rule
    points, score_draws = {}, {}
    for label, which in (("one_se", "one-se"), ("best_rule", "best"), ("as_trained", None)):
        pooled = _pooled(folds, which)
        metrics = compute_metrics(pooled, languages)
        draws = bootstrap_draws(pooled.log_probs, pooled.targets, len(languages), seed=seed)
        score_draws[label] = draws["score"]  # the same resamples for every point: paired
        intervals = draw_intervals(draws)
        points[label] = {
            **{k: metrics[k] for k in ("n", "accuracy", "balanced_accuracy", "macro_f1", "ece")},
            "score": (metrics["accuracy"] + metrics["balanced_accuracy"]) / 2,
            "intervals": {k: v for k, v in intervals.items() if k != "recall"},
            "recall": {
                lang: {
                    "recall": metrics["per_language"][lang]["recall"],
                    "interval": intervals["recall"][i],
                    "names": metrics["per_language"][lang]["support"],
                }
                for i, lang in enumerate(languages)
            },
        }
    low, high = percentile_interval(score_draws["one_se"] - score_draws["best_rule"])
    difference = {
        "difference": points["one_se"]["score"] - points["best_rule"]["score"],
        "interval": [low, high],
        "exceeds_noise": low > 0 or high < 0,
    }
    return {
        "recipe": recipe.name,
        "describe": recipe.describe(),
        "settings": recipe.to_dict(),
        "folds_count": len(folds),
        "seed": seed,
        "data": dataset.data_label,
        "fingerprint": dataset.fingerprint,
        "tau_rule": rule,
        "folds": [_fold_row(k, fold, rule) for k, fold in enumerate(folds)],
        "pooled": points["one_se" if rule == "one-se" else "best_rule"],
        "one_se": points["one_se"],
        "best_rule": points["best_rule"],
        "as_trained": points["as_trained"],
        "rule_difference": difference,
    }


def summary_lines(report: dict[str, Any]) -> list[str]:
    """What `namelstm cv` prints: the pooled figures with intervals at both ends of the trade-off,
    the tau rules compared, and the per-language recall."""
    p, plain, one_se, best = (report[k] for k in ("pooled", "as_trained", "one_se", "best_rule"))

    def with_interval(point: dict[str, Any], key: str, percent: bool = True) -> str:
        low, high = point["intervals"][key]
        if percent:
            return f"{point[key]:.1%} [{low:.1%}, {high:.1%}]"
        return f"{point[key]:.3f} [{low:.3f}, {high:.3f}]"

    taus = ", ".join(f"{f['tau']:g}" for f in report["folds"])
    diff = report["rule_difference"]
    lines = [
        f"{report['recipe']}: {report['folds_count']}-fold cross-validation by name (seed {report['seed']}), "
        f"{p['n']} out-of-fold names; {report['describe']}",
        f"  accuracy           {with_interval(p, 'accuracy')}   "
        f"(τ rule {report['tau_rule']}; τ per fold: {taus})",
        f"  balanced accuracy  {with_interval(p, 'balanced_accuracy')}",
        f"  macro-F1           {with_interval(p, 'macro_f1')}",
        f"  ECE                {with_interval(p, 'ece', percent=False)}",
        f"  as trained (τ 0)   accuracy {with_interval(plain, 'accuracy')}, "
        f"balanced {with_interval(plain, 'balanced_accuracy')}",
        f"  one-SE τ rule      accuracy {with_interval(one_se, 'accuracy')}, "
        f"balanced {with_interval(one_se, 'balanced_accuracy')}",
        f"  best-score τ rule  accuracy {with_interval(best, 'accuracy')}, "
        f"balanced {with_interval(best, 'balanced_accuracy')}",
        f"  score, one-SE rule − best-score rule: {diff['difference'] * 100:+.1f} points "
        f"[{diff['interval'][0] * 100:+.1f}, {diff['interval'][1] * 100:+.1f}]"
        + ("" if diff["exceeds_noise"] else " (within noise)"),
        "",
        f"  {'language':<12} {'recall':>7}  {'95% interval':<16} {'names':>6}",
    ]
    for language, row in p["recall"].items():
        low, high = row["interval"]
        lines.append(f"  {language:<12} {row['recall']:7.1%}  [{low:5.1%}, {high:5.1%}]  {row['names']:6d}")
    return lines


def cross_validate_data(
    config: TrainConfig,
    data_dir: Path | None,
    out_dir: Path,
    folds: int = 5,
    jobs: int = 1,
    progress: bool = True,
    columns: Columns | None = None,
) -> dict[str, Any]:
    """`namelstm cv`: find (or download) the data, then `cross_validate` one training config; the
    folds are drawn with `config.seed`, and each fold's run is initialised with it too."""
    from namelstm.training.settings import resolve_config

    config = resolve_config(config)
    dataset = load_dataset(data_dir, config, columns, progress)
    recipe = Recipe.single(config)
    return cross_validate(recipe, dataset, out_dir, folds, config.seed, jobs, progress)
