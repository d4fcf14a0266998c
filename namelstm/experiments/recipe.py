"""A recipe (one model, a weighted ensemble of any families, or a student distilled from one) and the
one code path that builds it on a split.

`build_steps` trains a recipe's runs and combines them into the model it scores; scripts/build_pretrained.py
builds the shipped model with it on the seed-0 split, and cross-validation (cv.py) builds the same recipe
with it inside every fold, so a card's cross-validated figures are exactly the shipped recipe's. Every
choice a build makes (an ensemble's weights, tau, the temperature) is made on the split's validation part.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import torch

from namelstm.calibration import Calibration
from namelstm.checkpoint import Checkpoint, load_checkpoint, save_checkpoint, weighted_ensemble
from namelstm.config import INFERENCE_BATCH_SIZE, TrainConfig
from namelstm.data.names import Batches, Split
from namelstm.evaluation.evaluate import infer
from namelstm.experiments.parallel import run_plans
from namelstm.metrics import selection_score
from namelstm.runs import CHECKPOINT, HISTORY, METRICS, SPLIT, read_json
from namelstm.training.calibrate import fit_calibration, fit_tau
from namelstm.training.launch import train
from namelstm.training.settings import resolve_config

WEIGHT_STEP = 0.1  # an ensemble's weights are chosen on validation over the simplex in steps of this
# A build yields batches of calls (module-level functions with picklable arguments) and gets their
# results back, as a parallel.Plan does; it returns the checkpoint file of the model the recipe scores.
Steps = Generator[list[Callable[[], Any]], list[Any], Path]


@dataclasses.dataclass(frozen=True)
class Member:
    """One part of an ensemble: `config` trained once per seed of `seeds` (none: the config's own seed);
    several seeds are averaged with equal weights into one member."""

    config: TrainConfig
    seeds: tuple[int, ...] = ()

    def configs(self) -> list[TrainConfig]:
        return [dataclasses.replace(self.config, seed=s) for s in self.seeds] or [self.config]

    def describe(self) -> str:
        seeds = f"; seeds {','.join(map(str, self.seeds))} averaged" if len(self.seeds) > 1 else ""
        return self.config.describe() + seeds


@dataclasses.dataclass(frozen=True)
class Recipe:
    """What is trained and how it becomes the model scored: `members` (several: their probabilities
    averaged with weights chosen on validation) and, optionally, a `student` distilled from them (its
    `teachers` are filled in by the build), which is then the model scored. `tau_rule` None: the scored
    model's family's rule."""

    name: str
    members: tuple[Member, ...]
    student: TrainConfig | None = None
    tau_rule: str | None = None

    @classmethod
    def single(cls, config: TrainConfig, name: str | None = None) -> Recipe:
        return cls(name or config.model, (Member(config),))

    def resolved(self) -> Recipe:
        """The same recipe with every family default filled in: what the runs train with."""
        members = tuple(dataclasses.replace(m, config=resolve_config(m.config)) for m in self.members)
        student = resolve_config(self.student) if self.student else None
        rule = self.tau_rule or (student or members[0].config).tau_rule or "one-se"
        return dataclasses.replace(self, members=members, student=student, tau_rule=rule)

    def describe(self) -> str:
        """The recipe in words, from the resolved settings the runs use."""
        recipe = self.resolved()
        text = " + ".join(m.describe() for m in recipe.members)
        if len(recipe.members) > 1:
            text = (
                f"probabilities averaged with weights chosen on validation (step {WEIGHT_STEP:g}) of: {text}"
            )
        if recipe.student is not None:
            student = recipe.student
            text += f"; distilled at T {student.distill_temperature:g} into {student.describe()}"
        return f"{text}; tau by the {recipe.tau_rule} rule and temperature fitted on validation"

    def to_dict(self) -> dict[str, Any]:
        """The resolved settings, as plain JSON data."""
        recipe = self.resolved()
        return {
            "name": recipe.name,
            "members": [{"config": m.config.to_dict(), "seeds": list(m.seeds)} for m in recipe.members],
            "student": recipe.student.to_dict() if recipe.student else None,
            "tau_rule": recipe.tau_rule,
        }

    def families(self) -> list[str]:
        return [m.config.model for m in self.members] + ([self.student.model] if self.student else [])


def run_name(config: TrainConfig) -> str:
    """A readable run directory name, unique per config (a hash of every setting)."""
    digest = hashlib.sha1(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
    return f"{config.model}-h{config.hidden_size}-s{config.seed}-{digest}"


def train_run(config: TrainConfig, split: Split, run_dir: Path) -> Path:
    """Train `config` into `run_dir`, or keep the finished run of the same settings and split there."""
    if (
        (run_dir / METRICS).is_file()
        and read_json(run_dir / HISTORY)["config"] == config.to_dict()
        and read_json(run_dir / SPLIT) == split.to_dict()
    ):
        return run_dir
    train(config, split, run_dir, progress=False, log=lambda _: None, overwrite=True)
    return run_dir


def weight_grid(n: int, step: float = WEIGHT_STEP) -> list[tuple[float, ...]]:
    """Every weight vector of `n` members on the simplex in steps of `step`, each member above 0."""
    units = round(1 / step)
    return [
        tuple(k / units for k in (*cut, units - sum(cut)))
        for cut in itertools.product(range(1, units), repeat=n - 1)
        if sum(cut) < units
    ]


def choose_weights(members: Sequence[Checkpoint], split: Split, rule: str) -> tuple[float, ...]:
    """The members' weights of best validation score (after the mix's own validation-fitted tau; the
    temperature moves no argmax), ties to the most even weights. The test names play no part."""
    first = members[0]
    batches = Batches(split.val, first.languages, INFERENCE_BATCH_SIZE, split.alphabet)
    outputs = [infer(m.build_model(), batches) for m in members]
    stacked, targets = torch.stack([o.log_probs for o in outputs]), outputs[0].targets
    prior = Calibration.from_dict(first.calibration).prior

    def score(weights: tuple[float, ...]) -> tuple[float, float]:
        mixed = torch.logsumexp(stacked + torch.tensor(weights).log().view(-1, 1, 1), dim=0)
        tau = fit_tau(mixed, targets, prior, rule)
        return selection_score(Calibration(prior, tau).apply(mixed), targets), -sum(w * w for w in weights)

    return max(weight_grid(len(members)), key=score)


def combine(groups: Sequence[Sequence[Path]], split: Split, out: Path, rule: str) -> Path:
    """One checkpoint at `out`: each group of runs averaged into a member, the members weighted by
    `choose_weights`, calibrated on validation as a model of its own."""
    members = [
        weighted_ensemble([load_checkpoint(d / CHECKPOINT) for d in g], [1.0] * len(g)) for g in groups
    ]
    weights = choose_weights(members, split, rule) if len(members) > 1 else (1.0,)
    combined = weighted_ensemble(members, weights)
    val = infer(
        combined.build_model(), Batches(split.val, combined.languages, INFERENCE_BATCH_SIZE, split.alphabet)
    )
    prior = Calibration.from_dict(combined.calibration).prior
    calibration = fit_calibration(val.log_probs, val.targets, prior, "validation split", rule)
    runs = [str(d) for g in groups for d in g]
    save_checkpoint(
        out, dataclasses.replace(combined, calibration=calibration.to_dict(), config={"runs": runs})
    )
    return out


def build_steps(recipe: Recipe, split: Split, work: Path) -> Steps:
    """Train `recipe`'s members side by side, combine them, then train its student: the one way a recipe
    is built, on the shipped split and inside every cross-validation fold. Runs land in `work`, and
    a finished run with the same settings is kept, so a stopped build goes on where it was."""
    recipe = recipe.resolved()
    configs = [m.configs() for m in recipe.members]
    runs = yield [functools.partial(train_run, c, split, work / run_name(c)) for cs in configs for c in cs]
    groups, start = [], 0
    for cs in configs:
        groups.append(runs[start : start + len(cs)])
        start += len(cs)
    if len(runs) == 1:
        teacher = runs[0] / CHECKPOINT
    else:
        key = hashlib.sha1("+".join(sorted(d.name for d in runs)).encode()).hexdigest()[:8]
        out = work / f"ensemble-{len(runs)}-{key}.pt"
        (teacher,) = yield [functools.partial(combine, groups, split, out, recipe.tau_rule)]
    if recipe.student is None:
        return teacher
    student = dataclasses.replace(recipe.student, teachers=(str(teacher),))
    run_dir = work / f"{run_name(student)}-from-{teacher.stem if len(runs) > 1 else teacher.parent.name}"
    (done,) = yield [functools.partial(train_run, student, split, run_dir)]
    return done / CHECKPOINT


def build_all(
    recipes: Sequence[Recipe], split: Split, work: Path, jobs: int = 1, progress: bool = True
) -> list[Path]:
    """`build_steps` of every recipe, their trainings side by side over `jobs` processes; the scored
    checkpoint of each, in order. A run that several recipes share (a family's model alone and in
    ensembles) is trained once, first, so that no two builds train it at the same time."""
    work = Path(work)
    shared = {run_name(c): c for r in recipes for m in r.resolved().members for c in m.configs()}
    done: dict[int, Path] = {}

    def members_first() -> Generator[list[Callable[[], Any]], list[Any], None]:
        yield [functools.partial(train_run, c, split, work / name) for name, c in shared.items()]

    def plan(k: int, recipe: Recipe) -> Generator[list[Callable[[], Any]], list[Any], None]:
        done[k] = yield from build_steps(recipe, split, work)

    run_plans([members_first()], jobs, desc="members", progress=progress)
    run_plans([plan(k, r) for k, r in enumerate(recipes)], jobs, desc="build", progress=progress)
    return [done[k] for k in range(len(recipes))]


__all__ = ["Member", "Recipe", "build_all", "build_steps", "choose_weights", "combine", "weight_grid"]
