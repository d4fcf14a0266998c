"""`namelstm train`: parse the settings, train (or resume) through the library, print the result."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource

from namelstm.cli.options import (
    ALPHABET_OPTION,
    DATA_OPTIONS,
    DEFAULTS,
    DEVICE_OPTION,
    MODEL_OPTION,
    THREADS_HELP,
    PositiveFloat,
    _echo_progress,
    _ModelHelp,
    _per_family,
)
from namelstm.config import BALANCES, INITS, LR_SCHEDULES, OPTIMIZERS, TrainConfig

if TYPE_CHECKING:
    from namelstm.training.results import TrainResult

# What --resume accepts beside it; every other setting given on the command line is refused,
# because a resumed run keeps the settings it was started with.
RESUME_ALLOWS = {"resume", "epochs", "quiet", "plots", "name_column", "label_column", "threads", "nproc"}


@click.command(short_help="Train a model family; score it on held-out names.")
@MODEL_OPTION
@click.option("--epochs", type=click.IntRange(min=1), default=DEFAULTS.epochs, show_default=True)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULTS.batch_size,
    show_default=True,
    help="Names per SGD step (1 = the tutorial's regime).",
)
@click.option(
    "--lr",
    cls=_ModelHelp,
    type=PositiveFloat(),
    describe=lambda models: (
        f"Learning rate.  [default: the model's own: {_per_family('default_lr')(models)}]"
    ),
)
@click.option(
    "--optimizer",
    cls=_ModelHelp,
    type=click.Choice(OPTIMIZERS),
    describe=lambda models: f"[default: the model's own: {_per_family('default_optimizer')(models)}]",
)
@click.option(
    "--momentum",
    type=click.FloatRange(0, 1, max_open=True),
    default=DEFAULTS.momentum,
    show_default=True,
    help="SGD momentum.",
)
@click.option(
    "--lr-schedule",
    cls=_ModelHelp,
    type=click.Choice(LR_SCHEDULES),
    describe=lambda models: (
        "Learning rate per epoch: constant, or cosine (falls from --lr towards 0 over the epochs).  "
        f"[default: the model's own: {_per_family('default_lr_schedule')(models)}]"
    ),
)
@click.option(
    "--average-last",
    cls=_ModelHelp,
    type=click.IntRange(min=0),
    metavar="N",
    describe=lambda models: (
        "Keep the mean weights of the last N epochs; 0 keeps the epoch of lowest validation loss.  "
        f"[default: the model's own: {_per_family('default_average_last')(models)}]"
    ),
)
@click.option(
    "--balance",
    type=click.Choice(BALANCES),
    help="Class weights of the loss, (n / (K n_c))^p with p = 0, 1/2 or 1.  [default: the model's own, "
    "chosen on validation]",
)
@click.option("--forget-bias", type=float, help="Initial forget-gate bias of lstm, mylstm and bilstm.")
@click.option(
    "--init",
    type=click.Choice(INITS),
    default=DEFAULTS.init,
    show_default=True,
    help="chrono (lstm, mylstm, bilstm): forget-gate biases log(U[1, T_max - 1]) and input-gate biases "
    "their negative, so the units' memories span 1 to T_max letters (Tallec & Ollivier 2018).",
)
@click.option(
    "--chrono-tmax",
    type=click.FloatRange(min=2, min_open=True),
    metavar="T",
    help="T_max of --init chrono.  [default: the longest training name]",
)
@click.option(
    "--scripts",
    type=click.Path(dir_okay=False, path_type=str),
    help='JSON {"Label": ["Latin", "Cyrillic"], ...}: the scripts each label is written in, stored with '
    "the model.  [default: the shipped table for the 18 tutorial languages, none for other labels]",
)
@click.option(
    "--hidden-size",
    cls=_ModelHelp,
    type=click.IntRange(min=1),
    describe=lambda models: (
        f"Hidden units.  [default: the model's own: {_per_family('default_hidden_size')(models)}]"
    ),
)
@click.option(
    "--seed",
    type=int,
    default=DEFAULTS.seed,
    show_default=True,
    help="Fixes the split, init and batch order.",
)
@DATA_OPTIONS
@ALPHABET_OPTION
@click.option("--out", type=click.Path(path_type=Path), help="Run directory.  [default: outputs/<model>]")
@click.option("--overwrite", is_flag=True, help="Replace a run already in --out.")
@click.option(
    "--resume",
    type=click.Path(path_type=Path),
    help="Continue the run in this directory with its own settings (--epochs may raise its total).",
)
@DEVICE_OPTION
@click.option(
    "--plots/--no-plots",
    default=True,
    show_default=True,
    help="Write the run's figures at the end: loss.png, confusion.png, reliability.png, tradeoff.png, "
    "risk_coverage.png (as namelstm plot does).",
)
@click.option(
    "--transliterate",
    is_flag=True,
    help="Write every name in Latin letters before folding the data (for --alphabet auto: a letter "
    "outside the alphabet is always transliterated, ß as ss, ł as l, as predict reads it).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or per-epoch lines.")
@click.option("--threads", type=click.IntRange(min=1), help=THREADS_HELP)
@click.option(
    "--nproc",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Train in N processes on this machine (DistributedDataParallel through torchrun); "
    "--batch-size stays the global batch.",
)
def train(
    model: str,
    epochs: int,
    batch_size: int,
    lr: float | None,
    optimizer: str | None,
    momentum: float,
    lr_schedule: str | None,
    average_last: int | None,
    balance: str | None,
    forget_bias: float | None,
    init: str,
    chrono_tmax: float | None,
    scripts: str | None,
    hidden_size: int | None,
    seed: int,
    data_dir: Path | None,
    name_column: str,
    label_column: str,
    alphabet: str,
    out: Path | None,
    overwrite: bool,
    resume: Path | None,
    device: str,
    plots: bool,
    transliterate: bool,
    quiet: bool,
    threads: int | None,
    nproc: int,
) -> None:
    """Train a model, calibrate it on the validation names, score it on the test names.

    The data is deduplicated and split 80/10/10 by name (no name in two parts), per language,
    fixed by --seed. The weights kept are those of the best validation epoch, or the mean of the
    last --average-last epochs; the logit adjustment and temperature are then fitted on validation.
    The run directory gets checkpoint.pt, history.json, split.json, metrics.json,
    resume.pt and the figures. Ctrl-C stops after the current batch (exit code 130); --resume
    continues from the last completed epoch.

    \b
    Examples:
      namelstm train --model mylstm
      namelstm train --model rnn --epochs 30 --lr 0.01 --out outputs/rnn-slow
      namelstm train --model rnn --batch-size 1 --epochs 3    # the tutorial's one-name-at-a-time SGD
      namelstm train --model lstm --init chrono                # gates opened for the longest name
      namelstm train --resume outputs/mylstm                   # after Ctrl-C or a crash
      namelstm train --data customers.csv --name-column name --label-column country --alphabet auto
      namelstm train --nproc 2 --batch-size 256                # 2 processes, 128 names each per step
      torchrun --nproc-per-node 2 -m namelstm train            # the same, started by torchrun
    """
    if nproc > 1:
        from namelstm.training.distributed import launch

        sys.exit(launch(nproc, sys.argv[1:], threads))
    from namelstm.data.sources import Columns
    from namelstm.inference.threads import apply_threads
    from namelstm.training.launch import resume_training, train_from_data

    apply_threads(threads)
    context = click.get_current_context()
    if resume is not None:
        run = partial(resume_training, resume, _more_epochs(context))
    else:
        run = partial(
            train_from_data,
            TrainConfig.from_dict(context.params),  # the options that are settings of the run
            data_dir,
            out or Path("outputs") / model,
            overwrite=overwrite,
            columns=Columns(name_column, label_column),
        )
    _run_on_every_rank(run, quiet, plots)


def _more_epochs(context: click.Context) -> int | None:
    """The --epochs a resumed run goes on to, if given; any option but RESUME_ALLOWS is refused."""
    given = {p for p in context.params if context.get_parameter_source(p) is ParameterSource.COMMANDLINE}
    clashing = sorted(given - RESUME_ALLOWS)
    if clashing:
        option = "--" + clashing[0].replace("_", "-")
        raise click.UsageError(f"--resume continues with the run's own settings; drop {option}")
    return context.params["epochs"] if "epochs" in given else None


def _run_on_every_rank(run: Callable[..., TrainResult], quiet: bool, plots: bool) -> None:
    """Join torchrun's ranks (alone: a world of one) and `run` the training on each. Rank 0 alone
    prints and draws the figures; Ctrl-C stops every rank with exit code 130."""
    from namelstm.training.distributed import World, process_group
    from namelstm.training.results import TrainingInterrupted

    with process_group(World.from_env()) as group:
        quiet = quiet or not group.is_main  # only rank 0 prints
        try:
            result = run(progress=not quiet, log=(lambda _: None) if quiet else _echo_progress, group=group)
        except TrainingInterrupted as stop:
            if group.is_main:
                click.echo(f"\n{stop}", err=True)
            group.barrier()  # every rank waits until rank 0 has said so: none is killed mid-line
            sys.exit(130)
    if not group.is_main:
        return
    if plots:
        from namelstm.evaluation.plots import plot_run

        plot_run(result.run_dir)
    click.echo(result.summary())
    if result.warning():
        click.echo(result.warning(), err=True)
