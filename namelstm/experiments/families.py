"""Families compared on the same cross-validation folds: does recurrence help on names?

Every family is cross-validated (`cv.cross_validate`) on the same folds, so every name is a test name
once for every family and two families' answers on a name can be paired. The differences (against
the `lstm` and against the n-gram bag, which reads no order beyond its n-grams) come with 95%
percentile intervals from the same bootstrap resamples of the names; the same comparison is made
within groups of names (per language, short against long names, names listed under one language
against names listed under several), where the question of what recurrence buys has its answer.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from namelstm.checkpoint import load_averaged
from namelstm.config import INFERENCE_BATCH_SIZE, TrainConfig
from namelstm.data.names import Batches, NamesDataset, load_dataset
from namelstm.data.sources import Columns
from namelstm.errors import NamelstmError
from namelstm.experiments.cv import CV_FILE, POOLED_FILE, cross_validate, fold_splits
from namelstm.experiments.recipe import Recipe, run_name
from namelstm.experiments.stats import percentile_interval
from namelstm.metrics import BOOTSTRAP_DRAWS, bootstrap_draws
from namelstm.runs import CHECKPOINT, HISTORY, read_json, write_json

FAMILIES_FILE = "families.json"
FAMILIES_MARKDOWN = "families.md"
BASELINES = ("lstm", "ngram")  # what every family is paired against: the report's LSTM, the n-gram bag
SHORT = 6  # names of at most this many letters are "short"
METRICS = ("accuracy", "balanced_accuracy", "macro_f1")


def compare_families(
    configs: Sequence[TrainConfig],
    dataset: NamesDataset,
    out_dir: Path,
    folds: int = 5,
    seed: int = 0,
    jobs: int = 1,
    progress: bool = True,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Cross-validate each resolved config on the same folds (a family's finished cv in `out_dir`
    with the same settings and data is reused), then pair them; writes families.json and families.md."""
    pooled: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    summaries: dict[str, dict[str, Any]] = {}
    for config in configs:
        family_dir = Path(out_dir) / config.model
        report = _reuse(family_dir, config, dataset, folds, seed)
        if report is None:
            log(f"cross-validating {config.model} ({folds} folds)")
            report = cross_validate(Recipe.single(config), dataset, family_dir, folds, seed, jobs, progress)
        else:
            log(f"reusing {family_dir / CV_FILE}")
        pooled[config.model] = _load_pooled(family_dir)
        runs = [family_dir / f"fold-{k}" / run_name(config) for k in range(folds)]
        summaries[config.model] = _summary(report, runs, dataset)
    names = [name for split in fold_splits(dataset, folds, seed) for name, _ in split.test]
    result = pair_families(pooled, summaries, names, dataset, seed)
    result.update(
        families=summaries,
        folds=folds,
        seed=seed,
        data=dataset.data_label,
        fingerprint=dataset.fingerprint,
        names=len(names),
    )
    write_json(Path(out_dir) / FAMILIES_FILE, result)
    (Path(out_dir) / FAMILIES_MARKDOWN).write_text(families_markdown(result), encoding="utf-8")
    return result


def _reuse(
    family_dir: Path, config: TrainConfig, dataset: NamesDataset, folds: int, seed: int
) -> dict[str, Any] | None:
    """The family's cv.json when it was made with exactly this config, data, folds and seed."""
    path = family_dir / CV_FILE
    if not (path.exists() and (family_dir / POOLED_FILE).exists()):
        return None
    report = read_json(path)
    same = (
        report.get("settings") == Recipe.single(config).to_dict()
        and report.get("folds_count") == folds
        and report.get("seed") == seed
        and report.get("fingerprint") == dataset.fingerprint
    )
    return report if same else None


def _load_pooled(family_dir: Path) -> tuple[torch.Tensor, torch.Tensor]:
    with np.load(family_dir / POOLED_FILE, allow_pickle=False) as saved:
        return torch.from_numpy(saved["log_probs"]), torch.from_numpy(saved["targets"])


def _summary(report: dict[str, Any], run_dirs: Sequence[Path], dataset: NamesDataset) -> dict[str, Any]:
    """A family's pooled figures, its size, its training time per fold (`run_dirs`: one per fold) and
    its scoring speed."""
    seconds = [sum(r["seconds"] for r in read_json(d / HISTORY)["epochs"]) for d in run_dirs]
    model, _ = load_averaged([run_dirs[0] / CHECKPOINT])
    point = report["pooled"]
    return {
        "describe": report["describe"],
        "tau_rule": report["tau_rule"],
        **{key: point[key] for key in (*METRICS, "ece", "score")},
        "intervals": {key: point["intervals"][key] for key in (*METRICS, "ece")},
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": [round(s, 2) for s in seconds],
        "names_per_second": _names_per_second(model, dataset),
    }


def _names_per_second(model: torch.nn.Module, dataset: NamesDataset) -> float:
    """Names scored per second by `infer` on one thread, every name of the data in batches of
    INFERENCE_BATCH_SIZE; the median of torch.utils.benchmark's blocked runs."""
    from torch.utils import benchmark

    from namelstm.evaluation.evaluate import infer

    batches = Batches(dataset.pairs, dataset.languages, INFERENCE_BATCH_SIZE, dataset.alphabet)
    timer = benchmark.Timer(
        stmt="infer(model, batches)",
        globals={"infer": infer, "model": model, "batches": batches},
        num_threads=1,
    )
    return len(dataset.pairs) / timer.blocked_autorange(min_run_time=1.0).median


def name_groups(
    names: Sequence[str], targets: torch.Tensor, dataset: NamesDataset
) -> dict[str, torch.Tensor]:
    """Boolean masks over the pooled names: each language, short and long names, and names listed
    under one language against names listed under several (case-insensitive, as the split groups them)."""
    listed = Counter(name.lower() for name, _ in dataset.pairs)
    lengths = torch.tensor([len(name) for name in names])
    several = torch.tensor([listed[name.lower()] > 1 for name in names])
    groups = {f"language:{lang}": targets == i for i, lang in enumerate(dataset.languages)}
    groups[f"length:1-{SHORT}"] = lengths <= SHORT
    groups[f"length:{SHORT + 1}+"] = lengths > SHORT
    groups["listed:one language"] = ~several
    groups["listed:several languages"] = several
    return groups


def paired_accuracy(
    correct_a: torch.Tensor, correct_b: torch.Tensor, draws: int = BOOTSTRAP_DRAWS, seed: int = 0
) -> dict[str, Any]:
    """a's accuracy minus b's on the same names, with a 95% percentile interval over resamples of the
    names (each resample scores both, so the names' luck cancels out)."""
    diff = (correct_a.double() - correct_b.double()).flatten()
    n = len(diff)
    if n == 0:
        return {"difference": math.nan, "interval": [math.nan, math.nan], "exceeds_noise": False}
    generator = torch.Generator().manual_seed(seed)
    means = torch.cat(
        [
            diff[torch.randint(n, (min(100, draws - s), n), generator=generator)].mean(1)
            for s in range(0, draws, 100)
        ]
    )
    low, high = percentile_interval(means)
    return {"difference": float(diff.mean()), "interval": [low, high], "exceeds_noise": low > 0 or high < 0}


def pair_families(
    pooled: dict[str, tuple[torch.Tensor, torch.Tensor]],
    points: dict[str, dict[str, Any]],
    names: Sequence[str],
    dataset: NamesDataset,
    seed: int,
    draws: int = BOOTSTRAP_DRAWS,
) -> dict[str, Any]:
    """Paired differences of every family against each baseline present: on the pooled figures
    (`points[model][metric]`, with intervals from the same bootstrap resamples for both) and within
    every group of names."""
    n_languages = len(dataset.languages)
    targets = next(iter(pooled.values()))[1]
    if any(not torch.equal(t, targets) for _, t in pooled.values()):
        raise NamelstmError("the families were not scored on the same names in the same order")
    resampled = {m: bootstrap_draws(lp, targets, n_languages, draws, seed) for m, (lp, _) in pooled.items()}
    correct = {m: lp.argmax(1) == targets for m, (lp, _) in pooled.items()}
    groups = name_groups(names, targets, dataset)
    differences: dict[str, Any] = {}
    by_group: dict[str, Any] = {}
    for base in (b for b in BASELINES if b in pooled):
        for model in (m for m in pooled if m != base):
            key = f"{model} - {base}"
            differences[key] = {}
            for metric in METRICS:
                low, high = percentile_interval(resampled[model][metric] - resampled[base][metric])
                differences[key][metric] = {
                    "difference": points[model][metric] - points[base][metric],
                    "interval": [low, high],
                    "exceeds_noise": low > 0 or high < 0,
                }
            by_group[key] = {
                group: paired_accuracy(correct[model][mask], correct[base][mask], draws, seed)
                for group, mask in groups.items()
            }
    accuracy = {
        m: {
            group: float(correct[m][mask].double().mean()) if mask.any() else math.nan
            for group, mask in groups.items()
        }
        for m in pooled
    }
    sizes = {group: int(mask.sum()) for group, mask in groups.items()}
    return {
        "differences": differences,
        "by_group": by_group,
        "group_accuracy": accuracy,
        "group_sizes": sizes,
    }


# The differences the group tables show: what the report's LSTM and the best recurrent family add to
# the n-gram bag. Every other pair is in families.json.
GROUP_CONTRASTS = ("lstm - ngram", "bilstm - ngram")


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1%}"


def _points(value: dict[str, Any]) -> str:
    """A paired difference in percentage points, bold when its interval excludes 0."""
    low, high = value["interval"]
    if math.isnan(value["difference"]):
        return "n/a"
    text = f"{value['difference'] * 100:+.1f} [{low * 100:+.1f}, {high * 100:+.1f}]"
    return f"**{text}**" if value["exceeds_noise"] else text


def _with_interval(family: dict[str, Any], key: str) -> str:
    low, high = family["intervals"][key]
    return f"{family[key]:.1%} [{low:.1%}, {high:.1%}]"


def families_markdown(result: dict[str, Any]) -> str:
    """families.md: the families' pooled figures, their paired differences, and the groups of names."""
    families = result["families"]
    lines = [
        f"{result['folds']}-fold cross-validation by name (seed {result['seed']}), the same folds for every "
        f"family, {result['names']:,} out-of-fold names; 95% bootstrap intervals. Training time: seconds "
        "per fold, mean ± sd, two folds trained at once on 2 cores; names/s: `infer` on one thread.",
        "",
        "| family | parameters | accuracy | balanced accuracy | macro-F1 | ECE | training (s) | names/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for model, f in families.items():
        seconds = np.asarray(f["train_seconds"])
        spread = f" ± {seconds.std(ddof=1):.1f}" if len(seconds) > 1 else ""
        lines.append(
            f"| `{model}` | {f['parameters']:,} | {_with_interval(f, 'accuracy')} | "
            f"{_with_interval(f, 'balanced_accuracy')} | {_with_interval(f, 'macro_f1')} | {f['ece']:.3f} | "
            f"{seconds.mean():.1f}{spread} | {f['names_per_second']:,.0f} |"
        )
    lines += [
        "",
        "Paired differences in percentage points (the same names, the same resamples); **bold**: the 95% "
        "interval excludes 0.",
        "",
        "| difference | accuracy | balanced accuracy | macro-F1 |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, diff in result["differences"].items():
        a, b = key.split(" - ")
        lines.append(f"| `{a}` − `{b}` | " + " | ".join(_points(diff[m]) for m in METRICS) + " |")
    lines += ["", *_group_table(result)]
    return "\n".join(lines) + "\n"


def _group_table(result: dict[str, Any]) -> list[str]:
    # Without the n-gram bag (a comparison of other families), every pair against the lstm.
    contrasts = [c for c in GROUP_CONTRASTS if c in result["by_group"]] or list(result["by_group"])
    models = list(result["families"])
    lines = [
        "Accuracy within groups of names, and "
        + ", ".join(f"`{c.replace(' - ', '` − `')}`" for c in contrasts)
        + " in points with 95% intervals (**bold**: beyond noise).",
        "",
        "| names | n | "
        + " | ".join(f"`{m}`" for m in models)
        + " | "
        + " | ".join(c.replace(" - ", " − ") for c in contrasts)
        + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in models + contrasts) + " |",
    ]
    for group, size in result["group_sizes"].items():
        kind, label = group.split(":", 1)
        shown = {"length": f"{label} letters", "listed": f"listed under {label}"}.get(kind, label)
        cells = [_percent(result["group_accuracy"][m][group]) for m in models]
        cells += [_points(result["by_group"][c][group]) for c in contrasts]
        lines.append(f"| {shown} | {size:,} | " + " | ".join(cells) + " |")
    return lines


def compare_families_data(
    configs: Sequence[TrainConfig],
    data_dir: Path | None,
    out_dir: Path,
    folds: int = 5,
    jobs: int = 1,
    progress: bool = True,
    columns: Columns | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """`namelstm cv --model A,B,...`: find (or download) the data once, then `compare_families`."""
    from namelstm.training.settings import resolve_config

    resolved = [resolve_config(c) for c in configs]
    dataset = load_dataset(data_dir, resolved[0], columns, progress)
    return compare_families(resolved, dataset, out_dir, folds, resolved[0].seed, jobs, progress, log)


def families_lines(result: dict[str, Any]) -> list[str]:
    """What `namelstm cv` prints for several families: one line each, then the paired differences."""
    lines = [f"{result['folds']}-fold cross-validation by name, {result['names']:,} out-of-fold names"]
    for model, f in result["families"].items():
        lines.append(
            f"  {model:<8} accuracy {_with_interval(f, 'accuracy')}, "
            f"balanced {_with_interval(f, 'balanced_accuracy')}, macro-F1 {f['macro_f1']:.1%}, "
            f"{f['parameters']:,} parameters, {f['names_per_second']:,.0f} names/s"
        )
    for key, diff in result["differences"].items():
        cells = ", ".join(f"{m.replace('_', ' ')} {_points(diff[m]).strip('*')}" for m in METRICS)
        noise = "" if any(diff[m]["exceeds_noise"] for m in METRICS) else " (all within noise)"
        lines.append(f"  {key.replace(' - ', ' − '):<18} {cells}{noise}")
    return lines
