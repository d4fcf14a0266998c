"""Section 3 of the report, measured: gradients through time and stability over learning rates.
(Memory over distance has its own module, `namelstm.experiments.memory`.) Each `analyze_*` function computes,
writes its JSON and figure, and returns the lines to print."""

from __future__ import annotations

import dataclasses
import math
import random
import string
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from namelstm.config import TrainConfig, split_label
from namelstm.data.names import Split, line_to_tensor, load_names, resolve_data_dir, split_by_name
from namelstm.errors import NamelstmError
from namelstm.experiments.parallel import run_all
from namelstm.models import NameClassifier, build_model, family, init_gates
from namelstm.runs import write_json
from namelstm.training.launch import train
from namelstm.training.settings import resolve_config

# ---------------------------------------------------------------------------- (1) gradients through time


def input_gradient_norms(
    model: NameClassifier, samples: Sequence[tuple[str, int | None]], steps: int
) -> np.ndarray:
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


def initial_model(config: dict[str, Any], n_letters: int, n_languages: int) -> NameClassifier:
    """The weights a run started from: its family and size, seeded with its seed as `train` seeds
    it, without leaving the global generator changed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config["seed"])
        model = build_model(config["model"], n_letters, n_languages, config["hidden_size"])
        chrono = config.get("chrono_tmax") if config.get("init") == "chrono" else None
        init_gates(model, config.get("forget_bias"), chrono)
    return model


def gradient_profile(run_dir: Path, min_length: int, random_length: int, samples: int) -> dict[str, Any]:
    """`input_gradient_norms` of one run, at initialisation and after training: over up to `samples`
    test names of at least `min_length` letters (true language as target), and over as many random
    strings of `random_length` letters (the model's own prediction as target)."""
    from namelstm.evaluation.plots import describe_run
    from namelstm.inference.predict import Predictor
    from namelstm.runs import CHECKPOINT, HISTORY, SPLIT, read_json

    predictor = Predictor.load(Path(run_dir) / CHECKPOINT, backend="torch")  # it reads the module
    split = Split.from_dict(read_json(Path(run_dir) / SPLIT))
    index = {lang: i for i, lang in enumerate(predictor.languages)}
    names = [(n, index[lang]) for n, lang in split.test if len(n) >= min_length][:samples]
    strings: list[tuple[str, int | None]] = [(n, None) for n in random_names(samples, random_length)]
    history = read_json(Path(run_dir) / HISTORY)
    profile: dict[str, Any] = {
        "model": history["config"]["model"],
        "run": str(run_dir),
        "config": history["config"],
        "about": describe_run(history),
        "names": len(names),
    }
    start = initial_model(history["config"], predictor.model.n_letters, len(predictor.languages))
    for stage, model in (("initial", start), ("trained", predictor.model)):
        profile[stage] = {
            "test_names": input_gradient_norms(model, names, min_length).tolist(),
            "random_strings": input_gradient_norms(model, strings, random_length).tolist(),
        }
    return profile


def random_names(count: int, length: int, seed: int = 0) -> list[str]:
    """Random letter strings, capitalised like names, for lengths that real names do not reach."""
    rng = random.Random(seed)
    return [
        "".join(rng.choice(string.ascii_lowercase) for _ in range(length)).capitalize() for _ in range(count)
    ]


def mean_profiles(profiles: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per model, each curve averaged over that model's runs (its seeds)."""
    report: dict[str, dict[str, Any]] = {}
    for model in dict.fromkeys(p["model"] for p in profiles):
        mine = [p for p in profiles if p["model"] == model]
        report[model] = {"runs": [p["run"] for p in mine], "about": [p["about"] for p in mine]}
        for stage in ("initial", "trained"):
            report[model][stage] = {
                kind: np.mean([p[stage][kind] for p in mine], axis=0).tolist()
                for kind in ("test_names", "random_strings")
            }
    return report


def describe_runs(profiles: Sequence[dict[str, Any]]) -> str:
    """What the profiles were averaged over ('mean over 6 runs: seeds 0,1,2; ...'), built from the
    runs' own saved settings."""
    configs = [p["config"] for p in profiles]
    epochs = sorted({c["epochs"] for c in configs})
    batches = sorted({c["batch_size"] for c in configs})
    sizes = ", ".join(
        f"{m} hidden {c['hidden_size']} lr {c['lr']:g}" for m, c in {c["model"]: c for c in configs}.items()
    )
    return (
        f"mean over {len(configs)} runs: seeds {','.join(map(str, sorted({c['seed'] for c in configs})))}; "
        f"{'/'.join(map(str, epochs))} epochs, batch {'/'.join(map(str, batches))}; {sizes}"
    )


def _by_recurrence(run_dirs: Sequence[Path]) -> tuple[list[Path], list[str]]:
    """The runs of recurrent families, and a line for each run skipped because its family reads no
    time steps (`ngram`, `cnn`): a gradient through time has nothing to flow through there."""
    from namelstm.runs import HISTORY, read_json

    recurrent, skipped = [], []
    for run_dir in run_dirs:
        model = read_json(Path(run_dir) / HISTORY)["config"]["model"]
        if family(model).recurrent:
            recurrent.append(run_dir)
        else:
            skipped.append(f"skipped {run_dir}: {model} has no time steps to send gradients back through")
    return recurrent, skipped


def analyze_gradients(
    run_dirs: Sequence[Path], out_dir: Path, min_length: int, random_length: int, samples: int
) -> list[str]:
    """Gradient by distance at initialisation and after training, per model (mean over its runs):
    writes `gradients.json` and `gradients.png`, returns the lines to print."""
    from namelstm.evaluation.plots import plot_gradient_norms

    recurrent, skipped = _by_recurrence(run_dirs)
    if not recurrent:
        raise NamelstmError(f"{skipped[0]}; give runs of a recurrent family")
    profiles = [gradient_profile(run_dir, min_length, random_length, samples) for run_dir in recurrent]
    report = mean_profiles(profiles)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(
        out_dir / "gradients.json",
        {"min_length": min_length, "random_length": random_length, "samples": samples, "models": report},
    )
    title = (
        f"Gradient of the loss w.r.t. each input letter: test names of >= {min_length} letters (dashed), "
        f"random {random_length}-letter strings (solid)\n{describe_runs(profiles)}"
    )
    figure = plot_gradient_norms(report, out_dir / "gradients.png", title)
    lines = [*skipped, f"wrote {out_dir / 'gradients.json'}", f"wrote {figure}"]
    for model, values in report.items():
        ratios = [
            values[s]["random_strings"][-1] / values[s]["random_strings"][0] for s in ("initial", "trained")
        ]
        lines.append(
            f"{model}: the gradient {random_length} letters back is {ratios[0]:.2g}x the last letter's "
            f"at initialisation, {ratios[1]:.2g}x after training"
        )
    return lines


# ------------------------------------------------------------------ (2) stability over learning rates


@dataclass(frozen=True)
class StabilityTask:
    """One short run of the sweep (picklable for a worker process)."""

    config: TrainConfig
    split: Split


def stability_run(task: StabilityTask) -> dict[str, Any]:
    """Final validation loss of one short run, or `diverged` if the loss stopped being finite."""
    config = task.config
    row = {"model": config.model, "lr": config.lr, "seed": config.seed}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            result = train(config, task.split, Path(tmp) / "run", progress=False, log=lambda _: None)
        except NamelstmError:
            return {**row, "diverged": True, "val_loss": None}
    final = result.history[-1]["val_loss"]
    return {**row, "diverged": not math.isfinite(final), "val_loss": final if math.isfinite(final) else None}


def stability_means(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model and learning rate: mean final validation loss of the runs that did not diverge."""
    cells = []
    for model in dict.fromkeys(r["model"] for r in runs):
        for lr in sorted({r["lr"] for r in runs if r["model"] == model}):
            mine = [r for r in runs if r["model"] == model and r["lr"] == lr]
            losses = [r["val_loss"] for r in mine if not r["diverged"]]
            cells.append(
                {
                    "model": model,
                    "lr": lr,
                    "runs": len(mine),
                    "diverged": len(mine) - len(losses),
                    "val_loss": float(np.mean(losses)) if losses else None,
                }
            )
    return cells


def analyze_stability(
    models: Sequence[str],
    lrs: Sequence[float],
    seeds: Sequence[int],
    epochs: int,
    clip: float | None,
    data_dir: Path | None,
    out_dir: Path,
    jobs: int = 1,
    progress: bool = True,
) -> list[str]:
    """Train each model a few epochs at each rate and seed (`jobs` at a time) on the data's split by
    name with seed 0: writes `stability.json` and `stability.png`, returns the lines to print."""
    from namelstm.evaluation.plots import plot_stability

    split = split_by_name(load_names(resolve_data_dir(data_dir)), seed=0)
    tasks = []
    for model in models:
        for lr in lrs:
            for seed in seeds:
                base = resolve_config(TrainConfig(model=model, epochs=epochs, seed=seed, device="cpu"))
                tasks.append(StabilityTask(dataclasses.replace(base, lr=lr, clip=clip or math.inf), split))
    runs = run_all(stability_run, tasks, jobs, "stability", progress)
    means = stability_means(runs)
    settings = tasks[0].config
    optimizers = ", ".join(f"{t.config.model} {t.config.optimizer}" for t in tasks[:: len(lrs) * len(seeds)])
    about = (
        f"{split_label(split.fractions, split.seed)}; {epochs} epochs, batch {settings.batch_size}, "
        f"{optimizers} (SGD momentum {settings.momentum:g}), "
        f"{'gradient norm clipped at ' + format(clip, 'g') if clip else 'no gradient clipping'}; "
        f"seeds {','.join(map(str, seeds))}"
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "stability.json", {"about": about, "runs": runs, "means": means})
    figure = plot_stability(
        runs, means, out_dir / "stability.png", f"Final validation loss by learning rate\n{about}"
    )
    lines = [f"wrote {out_dir / 'stability.json'}", f"wrote {figure}"]
    for model in models:
        cells = [
            f"lr {c['lr']:g}: "
            + (f"{c['val_loss']:.2f}" if c["val_loss"] is not None else "-")
            + (f" ({c['diverged']} of {c['runs']} diverged)" if c["diverged"] else "")
            for c in means
            if c["model"] == model
        ]
        lines.append(f"{model}: " + ", ".join(cells))
    return lines
