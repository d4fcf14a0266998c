"""Sweep training recipes in parallel, scoring VALIDATION only (the test names never reach a run).

Every run is the library's own training (`namelstm.training.launch.train` with a `TrainConfig`), so a recipe
chosen here is what `namelstm train` runs. Each spec's keys are the sweep tables' own names (`hidden`,
`batch`, `schedule`, `wd`, `smoothing`; see `config_of`). Every split is seed 0's: the runs of a spec
differ in their initialisation and batch order only.

One run gives several selection rules at once, scored by an `on_epoch` hook after every epoch: the
epoch of the lowest weighted validation loss, the epoch of the best calibrated selection score, the
last epoch, and weight averages (SWA-style) of the last half / last quarter of the epochs. Each is
scored as `train()` scores its result (tau fitted on validation, then accuracy, balanced accuracy and
their mean), except that tau is the best-scoring one (`fit_tau`'s rule "best"), not train's default
one-standard-error rule: the sweep's tables were made with "best", and stay comparable.

`train()` itself keeps its best epoch and scores it on its split's test part: the sweep gives it the
validation names there, in a temporary run directory that is thrown away.

    python scripts/sweep_recipe.py --data-dir data/names --grid main --jobs 16 --out outputs/sweep.jsonl
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
from torch.nn import functional as F
from torch.optim.swa_utils import AveragedModel

from namelstm.calibration import Calibration
from namelstm.config import INFERENCE_BATCH_SIZE, TrainConfig
from namelstm.data.names import Batches, Split, load_split, resolve_data_dir
from namelstm.evaluation.evaluate import infer, tradeoff
from namelstm.metrics import accuracies
from namelstm.models import NameClassifier
from namelstm.training.calibrate import class_weights, fit_tau, prior_of
from namelstm.training.launch import train

Spec = dict[str, Any]

BASE: Mapping[str, Any] = MappingProxyType(
    {
        "model": "lstm",
        "hidden": 64,
        "optimizer": "sgd",
        "epochs": 20,
        "batch": 64,
        "lr": 0.1,
        "schedule": "constant",
        "wd": 0.0,
        "balance": "none",
        "sampler": "shuffle",  # the library's length-bucketed shuffle, the only one there is
    }
)
SEEDS = (0, 1, 2)
FAMILIES = (  # each family's own recipe: (model, hidden, optimizer, lr, epochs)
    ("mylstm", 64, "sgd", 0.1, 20),
    ("tanhrnn", 146, "sgd", 0.02, 20),
    ("rnn", 128, "sgd", 0.02, 20),
    ("bilstm", 64, "adam", 3e-3, 12),
)


def cross(**axes: Sequence[Any]) -> list[Spec]:
    """BASE with every combination of the axes' values, the last axis varying fastest (as
    itertools.product). An axis of dicts merges each dict in; its name only labels it."""
    specs = []
    for values in itertools.product(*axes.values()):
        spec = dict(BASE)
        for key, value in zip(axes, values, strict=True):
            spec.update(value if isinstance(value, dict) else {key: value})
        specs.append(spec)
    return specs


def families(seeds: Sequence[int] = SEEDS) -> list[Spec]:
    """Every family with its own recipe, without and with sqrt class weights."""
    recipes = [dict(zip(("model", "hidden", "optimizer", "lr", "epochs"), f, strict=True)) for f in FAMILIES]
    return cross(family=recipes, balance=["none", "sqrt"], seed=seeds)


def main_grid() -> list[Spec]:
    """The first sweep: class weights x lr x schedule x weight decay; batch 32; 30 epochs; every family."""
    return [
        *cross(
            balance=["none", "quarter", "sqrt"],
            lr=[0.1, 0.2],
            schedule=["constant", "cosine"],
            wd=[0.0, 1e-4],
            seed=SEEDS,
        ),
        *cross(balance=["none", "sqrt"], batch=[32], schedule=["cosine"], seed=SEEDS),
        *cross(balance=["none", "sqrt"], epochs=[30], schedule=["cosine"], seed=SEEDS),
        *families(),
    ]


def local_grid() -> list[Spec]:
    """main's core on two seeds, in order of priority, then each family once."""
    return [
        *cross(
            seed=[0, 1], balance=["none", "quarter", "sqrt"], schedule=["cosine", "constant"], lr=[0.1, 0.2]
        ),
        *families(seeds=[0]),
    ]


def focus_grid() -> list[Spec]:
    """Cosine schedule, higher lr, longer, smaller batches, forget bias 1."""
    settings = [
        {"balance": "none", "lr": 0.4},
        {"balance": "sqrt", "lr": 0.2},
        {"balance": "sqrt", "lr": 0.4},
        {"balance": "none", "lr": 0.2, "epochs": 30},
        {"balance": "none", "lr": 0.2, "batch": 32},
        {"balance": "quarter", "lr": 0.2},
        {"balance": "none", "lr": 0.2, "forget_bias": 1.0},
    ]
    return [*cross(schedule=["cosine"], seed=[0, 1], setting=settings), *families(seeds=[0])]


def focus2_grid() -> list[Spec]:
    """After focus's first runs (lr 0.4 with the cosine schedule led): more seeds, higher lr."""
    settings = [
        {"balance": "none", "lr": 0.6, "seed": 0},
        {"balance": "none", "lr": 0.8, "seed": 0},
        {"balance": "none", "lr": 0.4, "seed": 1},
        {"balance": "none", "lr": 0.4, "seed": 2},
        {"balance": "quarter", "lr": 0.4, "seed": 0},
        {"balance": "none", "lr": 0.4, "forget_bias": 1.0, "seed": 0},
        {"balance": "sqrt", "lr": 0.4, "seed": 1},
        {"balance": "none", "lr": 0.6, "seed": 1},
    ]
    return [*cross(schedule=["cosine"], setting=settings), *families(seeds=[0])]


def focus3_grid() -> list[Spec]:
    """Longer or smaller-batch cosine runs, and the old recipe's other seeds."""
    settings = [
        {"balance": "none", "lr": 0.4, "epochs": 40, "seed": 0},
        {"balance": "none", "lr": 0.4, "batch": 32, "seed": 0},
        {"balance": "none", "lr": 0.1, "schedule": "constant", "seed": 1},
        {"balance": "none", "lr": 0.1, "schedule": "constant", "seed": 2},
        {"balance": "none", "lr": 0.4, "epochs": 40, "seed": 1},
        {"balance": "none", "lr": 0.4, "batch": 32, "seed": 1},
        {"balance": "none", "lr": 0.8, "seed": 1},
        {"balance": "none", "lr": 0.8, "seed": 2},
    ]
    return cross(schedule=["cosine"], setting=settings)


def bilstm_grid() -> list[Spec]:
    """The planned shipped bilstm recipe: none vs sqrt, a second and third seed."""
    bilstm = {"model": "bilstm", "hidden": 64, "optimizer": "adam", "lr": 3e-3, "epochs": 12}
    return cross(family=[bilstm], seed=[1, 2], balance=["none", "sqrt"])


def mylstm_grid() -> list[Spec]:
    """Does the lstm's chosen recipe carry over to the hand-written MyLSTM?"""
    return cross(model=["mylstm"], lr=[0.8], schedule=["cosine"], seed=[0, 1])


def regular_grid() -> list[Spec]:
    """The lstm default overfits (train 91.6%, val loss rising): regularisers."""
    settings = [{}, {"wd": 1e-4}, {"wd": 3e-4}, {"smoothing": 0.1}, {"wd": 1e-4, "smoothing": 0.1}]
    return cross(lr=[0.8], schedule=["cosine"], seed=SEEDS, setting=settings)


def limits_grid() -> list[Spec]:
    """What the report's structure (hidden 64, SGD) costs: hidden 128, Adam."""
    settings = [{"hidden": 128}, {"optimizer": "adam", "lr": 3e-3, "schedule": "constant"}]
    return cross(lr=[0.8], schedule=["cosine"], seed=SEEDS, setting=settings)


def nonrecurrent_grid() -> list[Spec]:
    """The two families without recurrence: Adam's rate x class weights, 12 epochs."""
    ngram = {"model": "ngram", "hidden": 64, "optimizer": "adam", "epochs": 12}
    cnn = {"model": "cnn", "hidden": 64, "optimizer": "adam", "epochs": 12}
    return [
        *cross(family=[ngram], lr=[3e-3, 1e-2], balance=["none", "sqrt"], seed=[0]),
        *cross(family=[cnn], lr=[1e-3, 3e-3], balance=["none", "sqrt"], seed=[0]),
    ]


def nonrecurrent2_grid() -> list[Spec]:
    """After nonrecurrent (lr 3e-3 led for both): the 20 epochs a default run trains, on two seeds."""
    return [
        *cross(model=["ngram", "cnn"], optimizer=["adam"], lr=[3e-3], balance=["none", "sqrt"], seed=[0, 1])
    ]


def tiny_grid() -> list[Spec]:
    """One 2-epoch run: checks the sweep end to end in seconds."""
    return cross(epochs=[2], schedule=["cosine"], seed=[0], balance=["sqrt"])


GRIDS: Mapping[str, Callable[[], list[Spec]]] = MappingProxyType(
    {
        "main": main_grid,
        "families": families,
        "local": local_grid,
        "focus": focus_grid,
        "focus2": focus2_grid,
        "focus3": focus3_grid,
        "bilstm": bilstm_grid,
        "mylstm": mylstm_grid,
        "regular": regular_grid,
        "limits": limits_grid,
        "nonrecurrent": nonrecurrent_grid,
        "nonrecurrent2": nonrecurrent2_grid,
        "tiny": tiny_grid,
    }
)
# Grids listed in order of priority: the pool takes tasks first come, first served. The others run
# slowest first (bilstm, longer, smaller batches), so the pool ends together.
IN_ORDER = frozenset({"local", "focus", "focus2", "focus3", "bilstm", "mylstm", "regular", "limits"})


def config_of(spec: Spec) -> TrainConfig:
    """The library's settings for a spec."""
    return TrainConfig(
        model=spec["model"],
        hidden_size=spec["hidden"],
        optimizer=spec["optimizer"],
        epochs=spec["epochs"],
        batch_size=spec["batch"],
        lr=spec["lr"],
        lr_schedule=spec["schedule"],
        weight_decay=spec["wd"],
        label_smoothing=spec.get("smoothing", 0.0),
        balance=spec["balance"],
        forget_bias=spec.get("forget_bias"),
        seed=spec["seed"],
        average_last=0,  # train() keeps its best epoch; the means are the hook's
        device="cpu",  # the jobs are processes of one thread each
    )


def calibrated(log_probs: torch.Tensor, targets: torch.Tensor, prior: tuple[float, ...]) -> dict[str, float]:
    tau = fit_tau(log_probs, targets, prior, rule="best")  # the rule of the sweep's tables: see above
    adjusted = Calibration(prior, tau).apply(log_probs, temperature=False)
    figures = accuracies(adjusted.argmax(1), targets, log_probs.shape[1])
    return {
        "acc": figures["accuracy"],
        "bal": figures["balanced_accuracy"],
        "score": figures["score"],
        "tau": tau,
    }


def frontier(log_probs: torch.Tensor, targets: torch.Tensor, prior: tuple[float, ...]) -> list[list[float]]:
    """(tau, accuracy, balanced accuracy) along TAU_GRID: the whole trade-off, not only its best mean."""
    return [[r["tau"], r["accuracy"], r["balanced_accuracy"]] for r in tradeoff(log_probs, targets, prior)]


class Selections:
    """The `on_epoch` hook of one run: scores every epoch's weights on validation and keeps the means
    of the last half and the last quarter of the epochs' weights; `select` gives every rule's pick."""

    def __init__(self, config: TrainConfig, split: Split) -> None:
        n = len(split.languages)
        targets = Batches(split.train, split.languages, config.batch_size, split.alphabet).targets
        self.prior = prior_of(targets, n)
        self.weights = class_weights(targets, n, config.balance or "none")  # train()'s, for its val loss
        self.val = Batches(split.val, split.languages, INFERENCE_BATCH_SIZE, split.alphabet)
        self.starts = {"swa50": config.epochs // 2 + 1, "swa75": (3 * config.epochs) // 4 + 1}
        self.means: dict[str, AveragedModel] = {}
        self.per_epoch: list[dict[str, Any]] = []

    def __call__(self, epoch: int, model: NameClassifier) -> None:
        for name, start in self.starts.items():
            if epoch >= start:
                if name not in self.means:
                    self.means[name] = AveragedModel(model)
                self.means[name].update_parameters(model)
        val = infer(model, self.val)
        wloss = F.nll_loss(val.log_probs, val.targets, weight=self.weights).item()
        self.per_epoch.append(
            {"epoch": epoch, "wloss": wloss, **calibrated(val.log_probs, val.targets, self.prior)}
        )

    def select(self) -> dict[str, dict[str, Any]]:
        """loss, score, last: the epoch each rule picks; swa50, swa75: the means, with their trade-off."""
        picked = {
            "loss": min(self.per_epoch, key=lambda r: r["wloss"]),
            "score": max(self.per_epoch, key=lambda r: r["score"]),
            "last": self.per_epoch[-1],
        }
        for name, mean in self.means.items():
            val = infer(mean.module, self.val)
            picked[name] = {
                **calibrated(val.log_probs, val.targets, self.prior),
                "frontier": frontier(val.log_probs, val.targets, self.prior),
            }
        return picked


def one_run(task: tuple[Spec, str]) -> dict[str, Any]:
    spec, data_dir = task
    torch.set_num_threads(1)
    config = config_of(spec)
    split = load_split(Path(data_dir), replace(config, seed=0))
    split = replace(split, test=split.val)  # what train() scores at its end: never the test names
    hook = Selections(config, split)
    with tempfile.TemporaryDirectory() as tmp:
        result = train(config, split, Path(tmp) / "run", progress=False, log=lambda _: None, on_epoch=hook)
    # seconds: train()'s epochs, with their validation and the hook's scoring
    return {"spec": spec, "seconds": result.seconds, "per_epoch": hook.per_epoch, "select": hook.select()}


def cost(spec: Spec) -> float:
    """A run's time, roughly: epochs x steps per epoch, bilstm's steps three times a unidirectional one's."""
    return spec["epochs"] * 64 / spec["batch"] * (3 if spec["model"] == "bilstm" else 1)


RULES = ("loss", "last", "swa50", "swa75")  # the table's columns; "score" is biased upwards (see the doc)


def table(rows: Sequence[dict[str, Any]]) -> list[str]:
    """docs/recipe-search.md's rows from a sweep's JSONL rows: per spec (seeds pooled), each rule's
    mean acc / balanced / score over the seeds, each seed's score in brackets."""
    specs: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        key = json.dumps({k: v for k, v in row["spec"].items() if k != "seed"}, sort_keys=True)
        specs.setdefault(key, []).append(row)
    lines = []
    for runs in specs.values():
        spec = runs[0]["spec"]
        cells = []
        for rule in RULES:
            picks = [r["select"][rule] for r in runs]
            mean = {k: sum(p[k] for p in picks) / len(picks) for k in ("acc", "bal", "score")}
            each = ", ".join(format(p["score"], ".3f") for p in picks)
            seeds = f" ({each})" if len(picks) > 1 else ""
            cells.append(
                f"{100 * mean['acc']:.1f} / {100 * mean['bal']:.1f} / **{mean['score']:.3f}**{seeds}"
            )
        seeds = ",".join(str(r["spec"]["seed"]) for r in runs)
        lines.append(
            f"| {spec['model']} | {spec['optimizer']} lr {spec['lr']:g} {spec['schedule']} "
            f"| {spec['epochs']} | {spec['balance']} | {seeds} | {' | '.join(cells)} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--grid", default="main", choices=list(GRIDS))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("outputs/sweep.jsonl"))
    parser.add_argument(
        "--table", action="store_true", help="print --out's rows as the doc's table, run nothing"
    )
    args = parser.parse_args()
    if args.table:
        print("\n".join(table([json.loads(line) for line in args.out.open()])))
        return
    data_dir = str(resolve_data_dir(args.data_dir, download=False, progress=False))
    tasks = [(spec, data_dir) for spec in GRIDS[args.grid]()]
    if args.grid not in IN_ORDER:
        tasks.sort(key=lambda task: -cost(task[0]))
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
