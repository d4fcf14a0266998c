"""`namelstm analyze`: the group that measures the report's claims, and its three commands."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from namelstm.cli.options import (
    COMPARE_DIR,
    JOBS_OPTION,
    MODELS_OPTION,
    _echo_progress,
    _jobs,
    _number_list,
)
from namelstm.experiments.memory_config import MemoryConfig

MEMORY = MemoryConfig()


@click.group(short_help="Measure the report's claims: gradients, memory, stability.")
def analyze() -> None:
    """Measure the report's section 3 claims: gradients through time, memory over distance,
    stability over learning rates.

    \b
    Examples:
      namelstm compare && namelstm analyze gradients
      namelstm analyze memory --distances 5,20,60
      namelstm analyze stability --lrs 0.01,0.1,1
    """


@analyze.command(short_help="Input gradient by distance from the last letter.")
@click.argument("runs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--min-length",
    type=click.IntRange(min=2),
    default=8,
    show_default=True,
    help="Average over test names of at least this many letters, for this many steps.",
)
@click.option(
    "--random-length",
    type=click.IntRange(min=2),
    default=30,
    show_default=True,
    help="Length of the random letter strings that reach further back than names do.",
)
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    default=300,
    show_default=True,
    help="Names (and random strings) per run.",
)
@click.option("--out", type=click.Path(path_type=Path), default=COMPARE_DIR, show_default=True)
def gradients(runs: tuple[Path, ...], min_length: int, random_length: int, samples: int, out: Path) -> None:
    """Claim (1): the gradient of the loss with respect to each input letter, by distance from the
    last letter, at initialisation and after training, for each trained RUN (default: the runs of
    `namelstm compare`), averaged over each model's runs.

    \b
    Examples:
      namelstm analyze gradients
      namelstm analyze gradients outputs/rnn outputs/lstm --random-length 50
    """
    from namelstm.experiments.analyze import analyze_gradients
    from namelstm.experiments.compare import find_runs
    from namelstm.runs import resolve_run

    run_dirs = [resolve_run(r) for r in runs] if runs else find_runs(COMPARE_DIR)
    for line in analyze_gradients(run_dirs, out, min_length, random_length, samples):
        click.echo(line)


@analyze.command(short_help="Remembering a symbol across N distractors, per arm.")
@click.option(
    "--distances",
    default=",".join(map(str, MEMORY.distances)),
    show_default=True,
    callback=_number_list(int),
    help="Numbers of distractors after the class symbol.",
)
@click.option(
    "--seeds",
    default=",".join(map(str, MEMORY.seeds)),
    show_default=True,
    callback=_number_list(int, positive=False),
)
@click.option(
    "--max-steps",
    type=click.IntRange(min=1),
    default=MEMORY.max_steps,
    show_default=True,
    help="Step cap, the same for every arm.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=MEMORY.batch_size,
    show_default=True,
    help="Fresh sequences per step.",
)
@click.option(
    "--every-distance",
    is_flag=True,
    help="Train every arm at every N, also past an N where it solved no seed (slower).",
)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@JOBS_OPTION
@click.option("--out", type=click.Path(path_type=Path), default=COMPARE_DIR, show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def memory(
    distances: tuple[int, ...],
    seeds: tuple[int, ...],
    max_steps: int,
    batch_size: int,
    every_distance: bool,
    device: str,
    jobs: int | None,
    out: Path,
    quiet: bool,
) -> None:
    """Claims (1) and (2) on a synthetic task (Hochreiter & Schmidhuber 1997, experiment 2): the
    class is the first symbol (one of 4), followed by N distractors. Each arm trains with Adam on a
    fresh batch per step until a fixed held-out set is solved or the cap is reached, at a learning
    rate tuned for each N on a seed of its own; writes memory.json and memory.png.

    \b
    Arms: rnn, tanhrnn, irnn (ReLU, identity recurrence); lstm and mylstm with their default init
    and with forget-gate bias 1; lstm with chrono init (T_max = the largest N); mylstm without a
    forget gate (the 1997 cell). N runs shortest first; an arm that solves no seed at one N is not
    trained at longer ones (--every-distance trains it anyway), but its initial gradient is measured.

    \b
    Examples:
      namelstm analyze memory --jobs 2
      namelstm analyze memory --distances 10,100 --seeds 0,1,2,3,4 --max-steps 2000 --device cuda
    """
    from namelstm.cli.options import pick_device
    from namelstm.experiments.memory import analyze_memory

    pick_device(device)  # fail before any work when CUDA is asked for and missing
    config = dataclasses.replace(
        MEMORY,
        distances=distances,
        seeds=seeds,
        device=device,
        max_steps=max_steps,
        batch_size=batch_size,
        every_distance=every_distance,
    )
    log = (lambda _: None) if quiet else _echo_progress
    for line in analyze_memory(config, out, _jobs(jobs), progress=not quiet, log=log):
        click.echo(line)


@analyze.command(short_help="Final validation loss vs learning rate.")
@MODELS_OPTION
@click.option("--lrs", default="0.003,0.01,0.03,0.1,0.3,1,3", show_default=True, callback=_number_list(float))
@click.option(
    "--seeds",
    default="0",
    show_default=True,
    callback=_number_list(int, positive=False),
    help="Initialisations and batch orders per learning rate (the split stays seed 0).",
)
@click.option("--epochs", type=click.IntRange(min=1), default=3, show_default=True)
@click.option(
    "--clip",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Clip gradient norms at this value.  [default: no clipping, to see raw stability]",
)
@click.option(
    "--data",
    "--data-dir",
    "data_dir",
    type=click.Path(path_type=Path),
    help="Directory of <Language>.txt files.",
)
@click.option("--out", type=click.Path(path_type=Path), default=COMPARE_DIR, show_default=True)
@JOBS_OPTION
def stability(
    models: tuple[str, ...],
    lrs: tuple[float, ...],
    seeds: tuple[int, ...],
    epochs: int,
    clip: float | None,
    data_dir: Path | None,
    out: Path,
    jobs: int | None,
) -> None:
    """Claim (3): train each model for a few epochs at each learning rate and plot the final
    validation loss; runs whose loss became NaN are marked as diverged.

    \b
    Examples:
      namelstm analyze stability
      namelstm analyze stability --seeds 1,2,3 --clip 1 --jobs 2
    """
    from namelstm.experiments.analyze import analyze_stability

    for line in analyze_stability(models, lrs, seeds, epochs, clip, data_dir, out, _jobs(jobs)):
        click.echo(line)
