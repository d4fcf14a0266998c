"""Options, parsers and constants that several commands share. Nothing here imports torch at
import time, so `namelstm --help` answers at once."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import click

from namelstm.config import BACKENDS, TAU_LIMITS, TrainConfig
from namelstm.data.sources import Columns
from namelstm.errors import NamelstmError

DEFAULTS = TrainConfig()
COLUMNS = Columns()
TAU = click.FloatRange(*TAU_LIMITS)


class PositiveFloat(click.FloatRange):
    """A number above 0 that is finite: FloatRange lets nan through, as nan fails every comparison."""

    def __init__(self, minimum: float = 0) -> None:
        super().__init__(min=minimum, min_open=True)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


TAU_HELP = (
    "Logit adjustment instead of the one fitted on validation: 0 answers as the model was trained "
    "(common languages more often: higher accuracy), larger values favour rare languages (higher "
    "balanced accuracy). The temperature stays the one fitted with the stored tau, so probabilities "
    "elsewhere are less well calibrated. `namelstm evaluate --json` lists the validation trade-off "
    "under 'validation', and `namelstm plot` draws it for a run (tradeoff.png)."
)
MIN_CONFIDENCE = click.FloatRange(0, 1)
MIN_CONFIDENCE_HELP = (
    "Answer 'uncertain' (still listing the candidates) when the first language's probability is below "
    "P. `namelstm evaluate` shows the accuracy of the names answered against the share answered (the "
    "risk-coverage curve); docs/trust.md gives the P for 90% and 95% precision.  [default: always answer]"
)
THREADS_HELP = "CPU threads for PyTorch.  [default: $OMP_NUM_THREADS, else 1: see docs/scale.md, CPU threads]"
PREDICT_THREADS_HELP = (
    "CPU threads for the model, in onnxruntime or PyTorch.  "
    "[default: $OMP_NUM_THREADS, else 2 for onnxruntime and 1 for PyTorch: see docs/scale.md]"
)
BACKEND = click.Choice(BACKENDS)
BACKEND_HELP = (
    "What runs the model: onnxruntime on its ONNX form (namelstm export), or PyTorch on its checkpoint; "
    "auto: the ONNX form where there is one made from that checkpoint.  [default: auto]"
)
# click.Path(path_type=str) keeps what was typed, so "pretrained" (the shipped model) and
# "./pretrained" (a folder) stay apart.
CHECKPOINT = click.Path(path_type=str)
CHECKPOINT_HELP = (
    "Run directory, checkpoint file, or 'pretrained' for the model shipped with namelstm.  "
    "[default: the latest run directly under outputs/, else the pretrained model]"
)
DEVICE_OPTION = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default=DEFAULTS.device,
    show_default=True,
    help="Where the model runs; auto is a CUDA GPU when there is one.",
)
COMPARE_DIR = Path("outputs/compare")


def _model_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from namelstm.models import family  # imports torch: only when a command really runs

    try:
        family(value)
    except NamelstmError as err:
        raise click.BadParameter(str(err)) from None
    return value


def _model_list(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    return tuple(_model_name(ctx, param, name.strip()) for name in value.split(",") if name.strip())


def _number_list(kind: type, positive: bool = True) -> Any:
    def parse(ctx: click.Context, param: click.Parameter, value: str) -> tuple:
        try:
            numbers = tuple(kind(v) for v in value.split(",") if v.strip())
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a comma-separated list of numbers") from None
        if not numbers or (positive and min(numbers) <= 0):
            raise click.BadParameter("give one or more positive numbers, separated by commas")
        return numbers

    return parse


def DATA_OPTIONS(command: Any) -> Any:
    """--data (alias --data-dir) and the CSV/TSV column names, shared by train and data."""
    command = click.option(
        "--label-column",
        default=COLUMNS.label,
        show_default=True,
        help="The --data table's column of labels (language, country, ...).",
    )(command)
    command = click.option(
        "--name-column", default=COLUMNS.name, show_default=True, help="The --data table's column of names."
    )(command)
    return click.option(
        "--data",
        "--data-dir",
        "data_dir",
        type=click.Path(path_type=Path),
        help="A directory of <Label>.txt files, or a .csv/.tsv file with a header.  "
        "[default: $NAMELSTM_DATA, else ./data/names, downloaded if missing]",
    )(command)


class _ModelHelp(click.Option):
    """An option whose help is written from the model classes when it is shown, so it lists every
    registered family and its own default, and `namelstm --help` does not wait for torch."""

    def __init__(self, *args: Any, describe: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.describe = describe

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        from namelstm.models import MODELS

        self.help = self.describe(MODELS)
        return super().get_help_record(ctx)


def _per_family(attribute: str) -> Any:
    def describe(models: Any) -> str:
        values = {name: getattr(cls, attribute) for name, cls in models.items()}
        return ", ".join(
            f"{name} {format(v, 'g') if isinstance(v, float) else v}" for name, v in values.items()
        )

    return describe


MODELS_OPTION = click.option(
    "--models",
    default="rnn,lstm,mylstm",
    show_default=True,
    callback=_model_list,
    help="Comma-separated model families.",
)
JOBS_OPTION = click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Runs trained at once, one process each.  [default: the number of cores]",
)


def _jobs(jobs: int | None) -> int:
    from namelstm.experiments.parallel import default_jobs

    return jobs or default_jobs()


def _echo_progress(line: str) -> None:
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


ALPHABET_OPTION = click.option(
    "--alphabet",
    type=click.Choice(["report", "auto"]),
    default=DEFAULTS.alphabet,
    show_default=True,
    help="The report's 57 letters, or the letters of the data (for scripts the 57 cannot hold).",
)


# The family a command trains, with every registered family and the default in its help.
MODEL_OPTION = click.option(
    "--model",
    cls=_ModelHelp,
    default=DEFAULTS.model,
    show_default=True,
    callback=_model_name,
    describe=lambda models: f"Model family: {', '.join(models)}.",
)


def pick_device(name: str) -> Any:
    """The torch device `--device` names; fails at once (one line) when CUDA is asked for and missing."""
    from namelstm.training.distributed import World

    return World().device(name)
