"""Sweep training recipes in parallel, scoring VALIDATION only (the test split is never touched).

One run gives several selection rules at once: the epoch of the lowest weighted validation loss,
the epoch of the best calibrated selection score, the last epoch, and weight averages (SWA-style)
of the last half / last quarter of the epochs. Each is scored as `train()` scores its result: tau
fitted on validation, then accuracy, balanced accuracy and their mean.

    python scripts/sweep_recipe.py --data-dir data/names --grid main --jobs 16 --out outputs/sweep.jsonl
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from namelstm.calibrate import Calibration, balanced_accuracy, fit_tau, prior_of, selection_score, tradeoff
from namelstm.config import INFERENCE_BATCH_SIZE
from namelstm.data import Batches, load_names, resolve_data_dir, split_by_name
from namelstm.evaluate import score
from namelstm.models import build_model

POWERS = {"none": 0.0, "quarter": 0.25, "sqrt": 0.5, "inverse": 1.0}


FAMILY_CHECKS = (  # (model, hidden, optimizer, lr, epochs): each family's own recipe, none vs sqrt
    ("mylstm", 64, "sgd", 0.1, 20),
    ("tanhrnn", 146, "sgd", 0.02, 20),
    ("rnn", 128, "sgd", 0.02, 20),
    ("bilstm", 64, "adam", 3e-3, 12),
)


def family_checks(base: dict[str, Any]) -> list[dict[str, Any]]:
    """Every family with its own recipe, without and with sqrt class weights, seed 0."""
    return [
        {**base, "model": m, "hidden": h, "optimizer": o, "lr": lr, "epochs": e, "balance": b, "seed": 0}
        for (m, h, o, lr, e), b in itertools.product(FAMILY_CHECKS, ["none", "sqrt"])
    ]


def grid(name: str) -> list[dict[str, Any]]:
    base = {
        "model": "lstm",
        "hidden": 64,
        "optimizer": "sgd",
        "epochs": 20,
        "batch": 64,
        "lr": 0.1,
        "schedule": "constant",
        "wd": 0.0,
        "balance": "none",
        "sampler": "shuffle",
    }
    runs = []
    if name == "main":
        for balance, lr, schedule, wd, seed in itertools.product(
            ["none", "quarter", "sqrt"], [0.1, 0.2], ["constant", "cosine"], [0.0, 1e-4], [0, 1, 2]
        ):
            runs.append({**base, "balance": balance, "lr": lr, "schedule": schedule, "wd": wd, "seed": seed})
        for balance, batch, seed in itertools.product(["none", "sqrt"], [32], [0, 1, 2]):
            runs.append({**base, "balance": balance, "batch": batch, "schedule": "cosine", "seed": seed})
        for balance, epochs, seed in itertools.product(["none", "sqrt"], [30], [0, 1, 2]):
            runs.append({**base, "balance": balance, "epochs": epochs, "schedule": "cosine", "seed": seed})
    if name in ("main", "families"):
        fam = [
            ("rnn", 128, "sgd", 0.02, 20),
            ("tanhrnn", 146, "sgd", 0.02, 20),
            ("mylstm", 64, "sgd", 0.1, 20),
            ("bilstm", 64, "adam", 3e-3, 12),
        ]
        for (model, hidden, opt, lr, epochs), balance, seed in itertools.product(
            fam, ["none", "sqrt"], [0, 1, 2]
        ):
            runs.append(
                {
                    **base,
                    "model": model,
                    "hidden": hidden,
                    "optimizer": opt,
                    "lr": lr,
                    "epochs": epochs,
                    "balance": balance,
                    "seed": seed,
                }
            )
    if name == "local":  # in order of priority: the pool takes tasks first come, first served
        for seed, balance, schedule, lr in itertools.product(
            [0, 1], ["none", "quarter", "sqrt"], ["cosine", "constant"], [0.1, 0.2]
        ):
            runs.append({**base, "balance": balance, "lr": lr, "schedule": schedule, "seed": seed})
        runs += family_checks(base)
    if name == "focus":  # cosine schedule, higher lr, longer, smaller batches, forget bias 1
        settings = [
            {"balance": "none", "lr": 0.4},
            {"balance": "sqrt", "lr": 0.2},
            {"balance": "sqrt", "lr": 0.4},
            {"balance": "none", "lr": 0.2, "epochs": 30},
            {"balance": "none", "lr": 0.2, "batch": 32},
            {"balance": "quarter", "lr": 0.2},
            {"balance": "none", "lr": 0.2, "forget_bias": 1.0},
        ]
        for seed, setting in itertools.product([0, 1], settings):
            runs.append({**base, "schedule": "cosine", **setting, "seed": seed})
        runs += family_checks(base)
    if (
        name == "focus2"
    ):  # after focus's first runs: lr 0.4 with the cosine schedule led; more seeds, higher lr
        settings = [
            ({"balance": "none", "lr": 0.6}, 0),
            ({"balance": "none", "lr": 0.8}, 0),
            ({"balance": "none", "lr": 0.4}, 1),
            ({"balance": "none", "lr": 0.4}, 2),
            ({"balance": "quarter", "lr": 0.4}, 0),
            ({"balance": "none", "lr": 0.4, "forget_bias": 1.0}, 0),
            ({"balance": "sqrt", "lr": 0.4}, 1),
            ({"balance": "none", "lr": 0.6}, 1),
        ]
        for setting, seed in settings:
            runs.append({**base, "schedule": "cosine", **setting, "seed": seed})
        runs += family_checks(base)
    if name == "focus3":  # longer or smaller-batch cosine runs, and the old recipe's other seeds
        settings = [
            ({"balance": "none", "lr": 0.4, "epochs": 40}, 0),
            ({"balance": "none", "lr": 0.4, "batch": 32}, 0),
            ({"balance": "none", "lr": 0.1, "schedule": "constant"}, 1),
            ({"balance": "none", "lr": 0.1, "schedule": "constant"}, 2),
            ({"balance": "none", "lr": 0.4, "epochs": 40}, 1),
            ({"balance": "none", "lr": 0.4, "batch": 32}, 1),
            ({"balance": "none", "lr": 0.8}, 1),
            ({"balance": "none", "lr": 0.8}, 2),
        ]
        for setting, seed in settings:
            runs.append({**base, "schedule": "cosine", **setting, "seed": seed})
    if name == "bilstm":  # the planned shipped bilstm recipe: none vs sqrt, a second and third seed
        for seed, balance in itertools.product([1, 2], ["none", "sqrt"]):
            runs.append(
                {
                    **base,
                    "model": "bilstm",
                    "hidden": 64,
                    "optimizer": "adam",
                    "lr": 3e-3,
                    "epochs": 12,
                    "balance": balance,
                    "seed": seed,
                }
            )
    if name == "mylstm":  # does the lstm's chosen recipe carry over to the hand-written MyLSTM?
        for seed in (0, 1):
            runs.append({**base, "model": "mylstm", "lr": 0.8, "schedule": "cosine", "seed": seed})
    if name == "regular":  # the lstm default overfits (train 91.6%, val loss rising): regularisers
        settings = [{}, {"wd": 1e-4}, {"wd": 3e-4}, {"smoothing": 0.1}, {"wd": 1e-4, "smoothing": 0.1}]
        for seed, setting in itertools.product([0, 1, 2], settings):
            runs.append({**base, "lr": 0.8, "schedule": "cosine", **setting, "seed": seed})
    if name == "limits":  # what the report's structure (hidden 64, SGD) costs: hidden 128, Adam
        settings = [{"hidden": 128}, {"optimizer": "adam", "lr": 3e-3, "schedule": "constant"}]
        for seed, setting in itertools.product([0, 1, 2], settings):
            runs.append({**base, "lr": 0.8, "schedule": "cosine", **setting, "seed": seed})
    if name == "tiny":
        runs = [{**base, "epochs": 2, "schedule": "cosine", "seed": 0, "balance": "sqrt"}]
    return runs


def calibrated(log_probs: torch.Tensor, targets: torch.Tensor, prior: tuple[float, ...]) -> dict[str, float]:
    tau = fit_tau(log_probs, targets, prior)
    adjusted = Calibration(prior, tau).apply(log_probs, temperature=False)
    predicted = adjusted.argmax(1)
    return {
        "acc": float((predicted == targets).double().mean()),
        "bal": balanced_accuracy(predicted, targets, log_probs.shape[1]),
        "score": selection_score(adjusted, targets),
        "tau": tau,
    }


def frontier(log_probs: torch.Tensor, targets: torch.Tensor, prior: tuple[float, ...]) -> list[list[float]]:
    """(tau, accuracy, balanced accuracy) along TAU_GRID: the whole trade-off, not only its best mean."""
    return [[r["tau"], r["accuracy"], r["balanced_accuracy"]] for r in tradeoff(log_probs, targets, prior)]


def one_run(task: tuple[dict[str, Any], str]) -> dict[str, Any]:
    spec, data_dir = task
    torch.set_num_threads(1)
    torch.manual_seed(spec["seed"])
    split = split_by_name(load_names(Path(data_dir), progress=False), seed=0)
    languages = split.languages
    model = build_model(spec["model"], len(split.alphabet), len(languages), spec["hidden"])
    if spec.get("forget_bias") is not None:
        model.init_forget_bias(spec["forget_bias"])
    if spec["optimizer"] == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=spec["lr"], weight_decay=spec["wd"])
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=spec["lr"], momentum=0.9, weight_decay=spec["wd"])
    train_batches = Batches(split.train, languages, spec["batch"], split.alphabet)
    val_batches = Batches(split.val, languages, INFERENCE_BATCH_SIZE, split.alphabet)
    prior = prior_of(train_batches.targets, len(languages))
    counts = torch.bincount(train_batches.targets, minlength=len(languages)).double().clamp(min=1)
    weights = (len(train_batches.targets) / (len(languages) * counts)).pow(POWERS[spec["balance"]]).float()
    smoothing = spec.get("smoothing", 0.0)

    def criterion(log_probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(log_probs, targets, weight=weights, label_smoothing=smoothing)

    shuffler = torch.Generator().manual_seed(spec["seed"])
    epochs = spec["epochs"]
    starts = {"swa50": epochs // 2 + 1, "swa75": (3 * epochs) // 4 + 1}
    averages = {k: torch.optim.swa_utils.AveragedModel(model) for k in starts}
    per_epoch = []
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        if spec["schedule"] == "cosine":
            for group in optimizer.param_groups:
                group["lr"] = spec["lr"] * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / epochs))
        model.train()
        for batch in train_batches.iterate(shuffler):
            loss = criterion(model.classify(batch.letters, batch.lengths), batch.targets)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        for k, start in starts.items():
            if epoch >= start:
                averages[k].update_parameters(model)
        val = score(model, val_batches)
        wloss = F.nll_loss(val.log_probs, val.targets, weight=weights).item()
        per_epoch.append({"epoch": epoch, "wloss": wloss, **calibrated(val.log_probs, val.targets, prior)})
    seconds = time.perf_counter() - started
    best_loss = min(per_epoch, key=lambda r: r["wloss"])
    best_score = max(per_epoch, key=lambda r: r["score"])
    result = {
        "spec": spec,
        "seconds": seconds,
        "per_epoch": per_epoch,
        "select": {"loss": best_loss, "score": best_score, "last": per_epoch[-1]},
    }
    for k, avg in averages.items():
        val = score(avg.module, val_batches)
        result["select"][k] = calibrated(val.log_probs, val.targets, prior)
        result["select"][k]["frontier"] = frontier(val.log_probs, val.targets, prior)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--grid", default="main")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("outputs/sweep.jsonl"))
    args = parser.parse_args()
    data_dir = str(resolve_data_dir(args.data_dir, download=False, progress=False))
    tasks = [(spec, data_dir) for spec in grid(args.grid)]
    # Slowest (bilstm, longer, smaller batches) first so the pool ends together.
    if args.grid not in ("local", "focus", "focus2", "focus3", "bilstm", "mylstm", "regular", "limits"):
        tasks.sort(
            key=lambda t: -(t[0]["epochs"] * 64 / t[0]["batch"] * (3 if t[0]["model"] == "bilstm" else 1))
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool, args.out.open("a") as out:
        futures = [pool.submit(one_run, t) for t in tasks]
        for i, future in enumerate(as_completed(futures), 1):
            row = future.result()
            out.write(json.dumps(row) + "\n")
            out.flush()
            s = row["select"]
            print(
                i,
                len(tasks),
                json.dumps(row["spec"]),
                f"{row['seconds']:.0f}s",
                " ".join(f"{k}={v['score']:.3f}" for k, v in s.items()),
                flush=True,
            )


if __name__ == "__main__":
    main()
