"""The memory experiment: can a model carry the first symbol of a sequence across N distractors?

Hochreiter & Schmidhuber (1997, experiment 2) as a sweep over arms, distances and seeds, with a
fresh random batch at every step and a fixed held-out set per distance that is never trained on.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from namelstm.data import ALPHABET
from namelstm.memory_config import Arm, MemoryConfig
from namelstm.models import NameClassifier, build_model, family
from namelstm.parallel import run_all

CLASS_SYMBOLS = "abcd"
DISTRACTORS = "efghijklmnopqrstuvwxyz"  # never a class symbol, so they carry no information
CLASS_INDEX = torch.tensor([ALPHABET.index(c) for c in CLASS_SYMBOLS])
DISTRACTOR_INDEX = torch.tensor([ALPHABET.index(c) for c in DISTRACTORS])

# What a random stream is for: each (purpose, seed, distance) gets its own independent generator.
TRAIN_STREAM, HELDOUT_STREAM, INIT_STREAM, TUNING_STREAM = range(4)


@dataclass(frozen=True)
class RunTask:
    """One training run: an arm at one distance, seed and learning rate (picklable for workers)."""

    arm: Arm
    distance: int
    seed: int
    lr: float
    config: MemoryConfig = field(repr=False)
    heldout_stream: int = HELDOUT_STREAM


def derived_seed(stream: int, seed: int, distance: int) -> int:
    """A seed for one purpose: different streams never share a source of random numbers."""
    return int(np.random.SeedSequence([stream, seed, distance]).generate_state(1, dtype=np.uint64)[0] >> 1)


def generator(stream: int, seed: int, distance: int) -> torch.Generator:
    return torch.Generator().manual_seed(derived_seed(stream, seed, distance))


def make_batch(distance: int, size: int, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`size` sequences: a class symbol (one of 4) and `distance` distractors, as alphabet indices
    `[size, distance + 1]`, and the class `[size]`. Chance is 25%."""
    labels = torch.randint(len(CLASS_SYMBOLS), (size,), generator=rng)
    noise = torch.randint(len(DISTRACTORS), (size, distance), generator=rng)
    letters = torch.cat([CLASS_INDEX[labels].unsqueeze(1), DISTRACTOR_INDEX[noise]], dim=1)
    return letters, labels


def heldout_set(distance: int, size: int, stream: int = HELDOUT_STREAM) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed evaluation sequences for one distance, from a stream no training batch uses."""
    return make_batch(distance, size, generator(stream, 0, distance))


def init_model(arm: Arm, seed: int, device: torch.device) -> NameClassifier:
    """The arm's model, initialised from its seed (the same at every distance, so N is the only
    change along a seed's curve), leaving the global generator's state as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derived_seed(INIT_STREAM, seed, 0))
        model = build_model(arm.model, len(ALPHABET), len(CLASS_SYMBOLS))
    if arm.forget_bias is not None:
        model.init_forget_bias(arm.forget_bias)
    return model.to(device)


def first_input_gradient(model: NameClassifier, letters: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over sequences of |d loss / d x_0|, the gradient with respect to the one-hot first symbol."""
    total = 0.0
    for row, label in zip(letters, labels, strict=False):
        one_hot = F.one_hot(row, len(ALPHABET)).float().unsqueeze(1).requires_grad_()
        loss = F.nll_loss(model.classify_one_hot(one_hot), label.view(1))
        (grad,) = torch.autograd.grad(loss, one_hot)
        total += float(grad[0].norm())
    return total / max(len(letters), 1)


def _score(
    model: NameClassifier, letters: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor
) -> tuple[float, float]:
    """Held-out accuracy and NLL loss (the loss still ranks runs that all sit at chance accuracy)."""
    with torch.no_grad():
        output = model.classify(letters, lengths)
        return float((output.argmax(1) == labels).float().mean()), float(F.nll_loss(output, labels))


def train_run(task: RunTask) -> dict[str, Any]:
    """Train one arm on fresh batches until the held-out set is solved or the cap is reached.

    Returns the flat result row; `steps` is None when the run was not solved by the cap.
    """
    started = time.perf_counter()
    config, device = task.config, torch.device(task.config.device)
    model = init_model(task.arm, task.seed, device)
    heldout = [t.to(device) for t in heldout_set(task.distance, config.heldout_size, task.heldout_stream)]
    probe = [t[: config.gradient_samples].cpu() for t in heldout]
    gradient = first_input_gradient(model.cpu(), *probe)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=task.lr)
    rng = generator(TRAIN_STREAM, task.seed, task.distance)
    lengths = torch.full((config.batch_size,), task.distance + 1, device=device)
    heldout_lengths = torch.full((config.heldout_size,), task.distance + 1, device=device)
    accuracy, heldout_loss, streak, solved_step = 0.0, math.inf, 0, None
    for step in range(1, config.max_steps + 1):
        letters, labels = (t.to(device) for t in make_batch(task.distance, config.batch_size, rng))
        loss = F.nll_loss(model.classify(letters, lengths), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
        if step % config.eval_every == 0:
            accuracy, heldout_loss = _score(model, *heldout, heldout_lengths)
            streak = streak + 1 if accuracy >= config.solved_at else 0
            if streak == 2:
                solved_step = step
                break
    return {
        "model": task.arm.model,
        "init": task.arm.init,
        "distance": task.distance,
        "seed": task.seed,
        "lr": task.lr,
        "accuracy": accuracy,
        "steps": solved_step,
        "loss": heldout_loss,
        "initial_gradient": gradient,
        "seconds": time.perf_counter() - started,
    }


def _tuning_score(row: dict[str, Any]) -> tuple[float, float]:
    # Solved beats unsolved; then fewer steps; then the lower held-out loss (accuracy near chance is noise).
    return (-(row["steps"] or math.inf), -row["loss"])


def tune(
    config: MemoryConfig, jobs: int, progress: bool = True
) -> tuple[dict[Arm, float], list[dict[str, Any]]]:
    """Each arm's learning rate: the best of `config.lrs` at the tuning distance on the tuning seed,
    scored on a tuning set drawn apart from the held-out sets."""
    tasks = [
        RunTask(arm, config.tune_distance, config.tune_seed, lr, config, heldout_stream=TUNING_STREAM)
        for arm in config.arms
        for lr in config.lrs
    ]
    rows = run_all(train_run, tasks, jobs, "memory: tuning lr", progress)
    chosen = {}
    for arm in config.arms:
        mine = [(task.lr, row) for task, row in zip(tasks, rows, strict=False) if task.arm == arm]
        chosen[arm] = max(mine, key=lambda pair: _tuning_score(pair[1]))[0]
    return chosen, rows


def run_memory(config: MemoryConfig, jobs: int, progress: bool = True) -> dict[str, Any]:
    """The whole experiment as plain data: settings, chosen rates, tuning runs and flat results."""
    for arm in config.arms:
        family(arm.model)  # an unknown family fails here, not in a worker
    rates, tuning = tune(config, jobs, progress)
    tasks = [
        RunTask(arm, distance, seed, rates[arm], config)
        for arm in config.arms
        for distance in config.distances
        for seed in config.seeds
    ]
    # Longest first, so no worker is left alone with a long run at the end; reported in arm order.
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i].distance)
    done = run_all(train_run, [tasks[i] for i in order], jobs, "memory: runs", progress)
    results = [row for _, row in sorted(zip(order, done, strict=False))]
    return {
        "about": config.describe(),
        "settings": {**dataclasses.asdict(config), "arms": [dataclasses.asdict(a) for a in config.arms]},
        "chance": 1 / len(CLASS_SYMBOLS),
        "lr": [{"model": a.model, "init": a.init, "lr": lr} for a, lr in rates.items()],
        "tuning": tuning,
        "results": results,
    }


def solved_summary(results: Sequence[dict[str, Any]]) -> list[str]:
    """One line per arm: 'lstm, forget bias 1: N=5 3/3 (median 100 steps), ...'."""
    lines = []
    arms = dict.fromkeys((r["model"], r["init"]) for r in results)
    for model, init in arms:
        cells = []
        for distance in sorted({r["distance"] for r in results}):
            runs = [r for r in results if (r["model"], r["init"], r["distance"]) == (model, init, distance)]
            steps = [r["steps"] for r in runs if r["steps"] is not None]
            median = f", median {statistics.median(steps):g} steps" if steps else ""
            accuracy = statistics.median(r["accuracy"] for r in runs)
            cells.append(f"N={distance} {len(steps)}/{len(runs)} solved (acc {accuracy:.0%}{median})")
        label = model if init == "default" else f"{model}, {init}"
        lines.append(f"{label}: " + "; ".join(cells))
    return lines


def analyze_memory(
    config: MemoryConfig, out_dir: Path, jobs: int, progress: bool = True, log: Callable[[str], None] = print
) -> list[str]:
    """Run the experiment, write `memory.json` and `memory.png` into `out_dir`; the lines to print."""
    from namelstm.plots import plot_memory
    from namelstm.runs import write_json

    log(
        f"memory: {len(config.arms)} arms x {len(config.distances)} distances x {len(config.seeds)} seeds, "
        f"{config.describe()}"
    )
    report = run_memory(config, jobs, progress)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "memory.json", report)
    figure = plot_memory(
        report["results"],
        report["chance"],
        out_dir / "memory.png",
        f"Remembering the first symbol across N distractors\n{report['about']}",
        config.max_steps,
    )
    rates = ", ".join(
        f"{r['model']}{'' if r['init'] == 'default' else ' (' + r['init'] + ')'} {r['lr']:g}"
        for r in report["lr"]
    )
    return [
        f"learning rates chosen at N = {config.tune_distance}: {rates}",
        *solved_summary(report["results"]),
        f"wrote {out_dir / 'memory.json'}",
        f"wrote {figure}",
    ]
