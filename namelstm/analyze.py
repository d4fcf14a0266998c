"""Section 3 of the report, measured: gradients through time, memory over distance, stability over
learning rates. Each function returns plain data; the CLI plots and saves it."""

from __future__ import annotations

import dataclasses
import math
import random
import string
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from namelstm.config import TrainConfig
from namelstm.data import Pair, Split, line_to_tensor
from namelstm.errors import NamelstmError
from namelstm.models import NameClassifier
from namelstm.train import resolve_config, train

# ---------------------------------------------------------------------------- (1) gradients through time


def input_gradient_norms(model: NameClassifier, samples: Sequence[tuple[str, int | None]], steps: int) -> np.ndarray:
    """Mean over `samples` of |d loss / d x_t|, the gradient with respect to the one-hot letter at
    time t, for t counted back from the last letter (index 0 is the last letter).

    Each sample is (name, target language index); a None target means the model's own prediction.
    Names must be at least `steps` letters long.
    """
    total = np.zeros(steps)
    for name, target in samples:
        letters = line_to_tensor(name).requires_grad_()
        output = model.classify_one_hot(letters)
        goal = output.argmax(1) if target is None else torch.tensor([target])
        (grad,) = torch.autograd.grad(F.nll_loss(output, goal), letters)
        total += grad[:, 0, :].norm(dim=1).flip(0)[:steps].numpy()
    return total / max(len(samples), 1)


def gradient_profile(run_dir: Path, min_length: int, random_length: int, samples: int) -> dict[str, Any]:
    """`input_gradient_norms` of one trained run: over up to `samples` test names of at least
    `min_length` letters (true language as target), and over as many random strings of
    `random_length` letters (the model's own prediction as target)."""
    from namelstm.plots import describe_run
    from namelstm.predict import Predictor
    from namelstm.runs import CHECKPOINT, HISTORY, SPLIT, read_json

    predictor = Predictor.load(Path(run_dir) / CHECKPOINT)
    split = Split.from_dict(read_json(Path(run_dir) / SPLIT))
    index = {lang: i for i, lang in enumerate(predictor.languages)}
    names = [(n, index[lang]) for n, lang in split.test if len(n) >= min_length][:samples]
    strings: list[tuple[str, int | None]] = [(n, None) for n in random_names(samples, random_length)]
    history = read_json(Path(run_dir) / HISTORY)
    return {
        "model": history["config"]["model"],
        "run": str(run_dir),
        "about": describe_run(history),
        "names": len(names),
        "test_names": input_gradient_norms(predictor.model, names, min_length).tolist(),
        "random_strings": input_gradient_norms(predictor.model, strings, random_length).tolist(),
    }


def random_names(count: int, length: int, seed: int = 0) -> list[str]:
    """Random letter strings, capitalised like names, for lengths that real names do not reach."""
    rng = random.Random(seed)
    return ["".join(rng.choice(string.ascii_lowercase) for _ in range(length)).capitalize() for _ in range(count)]


# ---------------------------------------------------------------------------- (2) memory over distance

MEMORY_CLASSES = "abcd"
MEMORY_DISTRACTORS = "efghijklmnopqrstuvwxyz"


def memory_task(distance: int, count: int, seed: int = 0) -> list[Pair]:
    """A synthetic long-range task: the class is the first letter (a, b, c or d), followed by
    `distance` random letters from e-z that carry no information. Chance is 25%."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        label = rng.choice(MEMORY_CLASSES)
        pairs.append((label + "".join(rng.choice(MEMORY_DISTRACTORS) for _ in range(distance)), label.upper()))
    return pairs


def memory_accuracy(model: str, distance: int, train_size: int, epochs: int, seed: int = 0) -> float:
    """Test accuracy of `model` trained on the memory task at one distance, default settings otherwise."""
    languages = tuple(c.upper() for c in MEMORY_CLASSES)
    split = Split(
        train=tuple(memory_task(distance, train_size, seed)),
        val=tuple(memory_task(distance, max(train_size // 4, 50), seed + 1)),
        test=tuple(memory_task(distance, max(train_size // 4, 50), seed + 2)),
        languages=languages,
        seed=seed,
        fractions=(0.6, 0.2, 0.2),
    )
    config = TrainConfig(model=model, epochs=epochs, seed=seed, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            result = train(config, split, Path(tmp) / "run", progress=False, log=lambda _: None)
        except NamelstmError:  # diverged: no better than chance
            return math.nan
    return float(result.test_metrics["accuracy"])


# ---------------------------------------------------------------------------- (3) stability over learning rates


def stability_run(config: TrainConfig, split: Split) -> dict[str, Any]:
    """Final validation loss of one short run, or `diverged` if the loss stopped being finite."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            result = train(config, split, Path(tmp) / "run", progress=False, log=lambda _: None)
        except NamelstmError:
            return {"model": config.model, "lr": config.lr, "seed": config.seed, "diverged": True, "val_loss": None}
    final = result.history[-1]["val_loss"]
    return {"model": config.model, "lr": config.lr, "seed": config.seed,
            "diverged": not math.isfinite(final), "val_loss": final if math.isfinite(final) else None}


def stability_sweep(
    models: Sequence[str], lrs: Sequence[float], seeds: Sequence[int], split: Split, epochs: int, clip: float,
    tick: Callable[[], None] = lambda: None,
) -> list[dict[str, Any]]:
    runs = []
    for model in models:
        for lr in lrs:
            for seed in seeds:
                base = resolve_config(TrainConfig(model=model, epochs=epochs, seed=seed, device="cpu"))
                runs.append(stability_run(dataclasses.replace(base, lr=lr, clip=clip), split))
                tick()
    return runs
