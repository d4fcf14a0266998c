"""The `namelstm` command: parse, call the library, print. Heavy imports wait inside each command,
so `--help` answers at once."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from namelstm.config import BALANCES, OPTIMIZERS, TrainConfig
from namelstm.errors import BadInput, NamelstmError
from namelstm.memory_config import MemoryConfig
from namelstm.sources import Columns

DEFAULTS = TrainConfig()
COLUMNS = Columns()
THREADS_HELP = "CPU threads for PyTorch.  [default: $OMP_NUM_THREADS, else 1: see the README on threads]"
# click.Path(path_type=str) keeps what was typed, so "pretrained" (the shipped model) and
# "./pretrained" (a folder) stay apart.
CHECKPOINT = click.Path(path_type=str)
CHECKPOINT_HELP = (
    "Run directory, checkpoint file, or 'pretrained' for the model shipped with namelstm.  "
    "[default: the latest run directly under outputs/, else the pretrained model]"
)
PREDICT_CHECKPOINT_HELP = CHECKPOINT_HELP
DEVICE_OPTION = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default=DEFAULTS.device,
    show_default=True,
    help="Where the model runs; auto is a CUDA GPU when there is one.",
)


class _BadInput(click.ClickException):
    exit_code = 2  # like click's own usage errors, but one line


class _Group(click.Group):
    """Turns the package's own errors (and file-system errors) into one line: exit code 2 for
    input that can never work, 1 for the rest."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BadInput as err:
            raise _BadInput(str(err)) from None
        except NamelstmError as err:
            raise click.ClickException(str(err)) from None
        except OSError as err:
            where = f" ({err.filename})" if err.filename else ""
            raise click.ClickException(f"{err.strerror or err}{where}") from None


def _model_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from namelstm.models import family  # imports torch: only when a command really runs

    try:
        family(value)
    except NamelstmError as err:
        raise click.BadParameter(str(err)) from None
    return value


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


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="namelstm")
def cli() -> None:
    """Character-level RNN / LSTM models that tell a name's language of origin (18 languages).

    \b
    Quick start:
      namelstm predict Dostoevsky Nakamura   # the pretrained model that ships with namelstm
      namelstm train --model lstm            # your own; downloads the data if needed, ~15 s on 2 CPU cores
      namelstm plot                          # its loss curves and confusion matrix as PNG
      namelstm compare                       # rnn vs lstm vs mylstm, side by side
    """


@cli.command(short_help="Train a model family; score it on held-out names.")
@click.option(
    "--model",
    cls=_ModelHelp,
    default=DEFAULTS.model,
    show_default=True,
    callback=_model_name,
    describe=lambda models: f"Model family: {', '.join(models)}.",
)
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
    type=click.FloatRange(min=0, min_open=True),
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
    "--balance",
    type=click.Choice(BALANCES),
    help="Class weights of the loss, (n / (K n_c))^p with p = 0, 1/2 or 1.  [default: the model's own, "
    "chosen on validation]",
)
@click.option("--forget-bias", type=float, help="Initial forget-gate bias of lstm, mylstm and bilstm.")
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
@click.option(
    "--alphabet",
    type=click.Choice(["report", "auto"]),
    default=DEFAULTS.alphabet,
    show_default=True,
    help="The report's 57 letters, or the letters of the data (for scripts the 57 cannot hold).",
)
@click.option("--out", type=click.Path(path_type=Path), help="Run directory.  [default: outputs/<model>]")
@click.option("--overwrite", is_flag=True, help="Replace a run already in --out.")
@click.option(
    "--resume",
    type=click.Path(path_type=Path),
    help="Continue the run in this directory with its own settings (--epochs may raise its total).",
)
@DEVICE_OPTION
@click.option(
    "--plots/--no-plots", default=True, show_default=True, help="Write loss.png and confusion.png at the end."
)
@click.option(
    "--transliterate",
    is_flag=True,
    help="Write names in other scripts (and letters like ß, ł) in Latin letters before folding the data.",
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
    balance: str | None,
    forget_bias: float | None,
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
    """Train a model; keep the weights of the best validation epoch; score them on the test names.

    The data is deduplicated and split 80/10/10 by name (no name in two parts), per language,
    fixed by --seed. The run directory gets checkpoint.pt, history.json, split.json, metrics.json,
    resume.pt and the figures. Ctrl-C stops after the current batch (exit code 130); --resume
    continues from the last completed epoch.

    \b
    Examples:
      namelstm train --model mylstm
      namelstm train --model rnn --epochs 30 --lr 0.01 --out outputs/rnn-slow
      namelstm train --model lstm --batch-size 1 --epochs 3   # the tutorial's one-name-at-a-time SGD
      namelstm train --resume outputs/mylstm                   # after Ctrl-C or a crash
      namelstm train --data customers.csv --name-column name --label-column country --alphabet auto
      namelstm train --nproc 2 --batch-size 256                # 2 processes, 128 names each per step
      torchrun --nproc-per-node 2 -m namelstm train            # the same, started by torchrun
    """
    if nproc > 1:
        from namelstm.distributed import launch

        sys.exit(launch(nproc, _without_option(sys.argv[1:], "--nproc"), threads))
    from namelstm.distributed import World, joined
    from namelstm.sources import Columns
    from namelstm.threads import apply_threads
    from namelstm.train import TrainingInterrupted, resume_training, train_from_data

    apply_threads(threads)
    with joined(World.from_env()) as team:
        quiet = quiet or not team.is_main  # only rank 0 prints
        log = (lambda _: None) if quiet else _echo_progress
        try:
            if resume is not None:
                context = click.get_current_context()
                given = {
                    p
                    for p in context.params
                    if context.get_parameter_source(p) is ParameterSource.COMMANDLINE
                }
                clashing = sorted(
                    given
                    - {
                        "resume",
                        "epochs",
                        "quiet",
                        "plots",
                        "name_column",
                        "label_column",
                        "threads",
                        "nproc",
                    }
                )
                if clashing:
                    option = "--" + clashing[0].replace("_", "-")
                    raise click.UsageError(f"--resume continues with the run's own settings; drop {option}")
                more = epochs if "epochs" in given else None
                result = resume_training(resume, more, progress=not quiet, log=log, team=team)
            else:
                config = TrainConfig(
                    model=model,
                    epochs=epochs,
                    batch_size=batch_size,
                    lr=lr,
                    optimizer=optimizer,
                    momentum=momentum,
                    balance=balance,
                    forget_bias=forget_bias,
                    hidden_size=hidden_size,
                    seed=seed,
                    device=device,
                    threads=threads,
                    transliterate=transliterate,
                    alphabet=alphabet,
                )
                result = train_from_data(
                    config,
                    data_dir,
                    out or Path("outputs") / model,
                    progress=not quiet,
                    log=log,
                    overwrite=overwrite,
                    columns=Columns(name_column, label_column),
                    team=team,
                )
        except TrainingInterrupted as stop:
            if team.is_main:
                click.echo(f"\n{stop}", err=True)
            team.barrier()  # every rank waits until rank 0 has said so: none is killed mid-line
            sys.exit(130)
    if not team.is_main:
        return
    if plots:
        from namelstm.plots import plot_run

        plot_run(result.run_dir)
    m = result.test_metrics
    click.echo(
        f"{result.model}: test accuracy {m['accuracy']:.1%}, balanced accuracy {m['balanced_accuracy']:.1%} "
        f"(top-3 {m['top3_accuracy']:.1%}, macro-F1 {m['macro_f1']:.1%}, ECE {m['ece']:.3f}) on {m['n']} "
        f"held-out names, {m['split']}; best epoch {result.best_epoch}/{len(result.history)}, "
        f"{result.seconds:.1f}s; run in {result.run_dir}"
    )
    if result.learned_nothing:
        click.echo(
            f"warning: this run learned nothing: no epoch beat always answering the most common language "
            f"({result.majority_accuracy:.1%} of validation names); try a lower --lr "
            f"(now {result.config.lr:g})",
            err=True,
        )


def _without_option(args: list[str], option: str) -> list[str]:
    """`args` without `option VALUE` / `option=VALUE` (to pass the rest on to each rank)."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            kept.append(arg)
    return kept


def _echo_progress(line: str) -> None:
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


@cli.command(short_help="Rank the likeliest languages of origin of names, or of a whole file.")
@click.argument("names", nargs=-1)
@click.option("--checkpoint", type=CHECKPOINT, help=PREDICT_CHECKPOINT_HELP)
@click.option(
    "-k",
    "--top-k",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Languages shown per name.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON list, written whole at the end (so bounded in size; --jsonl streams).",
)
@click.option(
    "--jsonl", "as_jsonl", is_flag=True, help="Print one JSON object per line, as names are answered."
)
@click.option(
    "--input",
    "input_path",
    type=click.Path(path_type=Path),
    help="A file of names: .csv/.tsv with a header (see --column), else one name per line.",
)
@click.option("--column", default="name", show_default=True, help="The --input table's column of names.")
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    help="Where --input's predictions go: .csv, .tsv or .jsonl (by extension), all input columns kept.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --output.")
@click.option("--strict", is_flag=True, help="Stop at the first name with no letters or too many, naming it.")
@click.option(
    "--ignore-script",
    is_flag=True,
    help="Let every language compete, whatever script the name is written in.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--threads", type=click.IntRange(min=1), help=THREADS_HELP)
def predict(
    names: tuple[str, ...],
    checkpoint: str | None,
    top_k: int,
    as_json: bool,
    as_jsonl: bool,
    input_path: Path | None,
    column: str,
    output: Path | None,
    overwrite: bool,
    strict: bool,
    ignore_script: bool,
    quiet: bool,
    threads: int | None,
) -> None:
    """Rank the likeliest languages of origin of each NAME ('-' reads names from stdin, one per line),
    or of every name of an --input file into an --output file.

    A bad name (no letters, too long) is reported on stderr with its line, and every other name is
    still answered (in files: an error column); the exit code is then 2. --strict stops at the first.

    \b
    Examples:
      namelstm predict Dostoevsky                 # works right after install: a pretrained model ships
      namelstm predict Nakamura Schmidt --top-k 5 --checkpoint pretrained
      namelstm predict --json --checkpoint outputs/mylstm "O'Neill"
      cut -f1 names.tsv | namelstm predict - --jsonl > predictions.jsonl
      namelstm predict --input customers.csv --column name --output predictions.csv --top-k 3
    """
    from namelstm.predict import Predictor
    from namelstm.predict_files import predict_file, predict_to_stream, records_from_args
    from namelstm.runs import default_model
    from namelstm.threads import apply_threads

    if bool(names) == bool(input_path):
        raise click.UsageError(
            "give NAMES (or '-' for stdin) or --input FILE, not both"
            if names
            else "give NAMES to predict, '-' to read them from stdin, or --input FILE"
        )
    if input_path is not None and (output is None or as_json or as_jsonl):
        raise click.UsageError(
            "--input needs --output FILE, whose extension (.csv, .tsv, .jsonl) chooses the format"
        )
    if input_path is None and output is not None:
        raise click.UsageError(
            "--output goes with --input; for stdin use --jsonl and redirect: ... > out.jsonl"
        )
    if as_json and as_jsonl:
        raise click.UsageError("choose one of --json and --jsonl")
    apply_threads(threads)
    source, note = (checkpoint, None) if checkpoint is not None else default_model()
    predictor = Predictor.load(source)
    if top_k > len(predictor.languages):
        raise click.BadParameter(
            f"at most {len(predictor.languages)} (the model knows that many languages)",
            param_hint="'--top-k'",
        )
    if note:
        click.echo(f"{note} ({_describe(predictor.checkpoint)})", err=True)
    if input_path is not None:
        tally = predict_file(
            predictor,
            input_path,
            output,
            column,
            top_k,
            strict,
            overwrite,  # type: ignore[arg-type]
            progress=not quiet,
            ignore_script=ignore_script,
        )
        click.echo(f"wrote {output}: {tally.names:,} names", err=True)
        return
    fmt = "json" if as_json else "jsonl" if as_jsonl else "text"
    predict_to_stream(
        predictor,
        records_from_args(names, sys.stdin),
        sys.stdout,
        fmt,
        top_k,
        strict,
        report=lambda line: click.echo(line, err=True),
        ignore_script=ignore_script,
    )


def _describe(checkpoint: Any) -> str:
    test = checkpoint.metrics.get("test")
    score = f", test accuracy {test['accuracy']:.1%}, {test['split']}" if test else ""
    return f"{checkpoint.model_name}, hidden {checkpoint.hidden_size}{score}"


@cli.command(short_help="Test-split metrics of a run, per language too.")
@click.option("--checkpoint", type=CHECKPOINT, help=CHECKPOINT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print metrics.json instead of tables.")
@DEVICE_OPTION
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="Where the names are, for the pretrained model (a run keeps its own split).",
)
@click.option("--threads", type=click.IntRange(min=1), help=THREADS_HELP)
def evaluate(
    checkpoint: str | None, as_json: bool, device: str, data_dir: Path | None, threads: int | None
) -> None:
    """Score a model on its held-out test names: accuracy, top-3, balanced accuracy, macro P/R/F1,
    NLL, ECE and a per-language table. Writes metrics.json in the run (the pretrained model is
    re-scored on its model card's split of the data).

    \b
    Examples:
      namelstm evaluate
      namelstm evaluate --checkpoint outputs/rnn --json | jq .per_language.Korean
      namelstm evaluate --checkpoint pretrained --data-dir ~/datasets/names
    """
    from namelstm.evaluate import evaluate_model, metrics_table
    from namelstm.runs import default_model
    from namelstm.threads import apply_threads
    from namelstm.train import pick_device

    apply_threads(threads)
    source, note = (checkpoint, None) if checkpoint is not None else default_model()
    if note:
        click.echo(note, err=True)
    metrics = evaluate_model(source, pick_device(device), data_dir)
    click.echo(json.dumps(metrics, indent=2) if as_json else "\n".join(metrics_table(metrics)))


@cli.command(short_help="Loss curves and confusion matrix of runs, as PNG.")
@click.argument("runs", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--overlay",
    type=click.Path(path_type=Path),
    default=Path("outputs/validation-curves.png"),
    show_default=True,
    help="Where the overlay of several runs' validation curves goes.",
)
def plot(runs: tuple[Path, ...], overlay: Path) -> None:
    """Draw each RUN's loss curves (loss.png) and test confusion matrix (confusion.png), inside the run.

    With no RUN, the latest run directly under outputs/; with several, also one figure overlaying
    their validation losses.

    \b
    Examples:
      namelstm plot
      namelstm plot outputs/rnn outputs/lstm outputs/mylstm
    """
    from namelstm.plots import plot_runs
    from namelstm.runs import resolve_run

    for path in plot_runs([resolve_run(r) for r in runs] if runs else [resolve_run(None)], overlay):
        click.echo(f"wrote {path}")


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


MODELS_OPTION = click.option(
    "--models",
    default="rnn,lstm,mylstm",
    show_default=True,
    callback=_model_list,
    help="Comma-separated model families.",
)
COMPARE_DIR = Path("outputs/compare")


MEMORY = MemoryConfig()
JOBS_OPTION = click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Runs trained at once, one process each.  [default: the number of cores]",
)


def _jobs(jobs: int | None) -> int:
    from namelstm.parallel import default_jobs

    return jobs or default_jobs()


@cli.command(short_help="Train and compare the models over several seeds.")
@click.option(
    "--models",
    default="rnn,tanhrnn,lstm,mylstm",
    show_default=True,
    callback=_model_list,
    help="Comma-separated model families.",
)
@click.option(
    "--seeds",
    default="0,1,2",
    show_default=True,
    callback=_number_list(int, positive=False),
    help="One run per model and seed; each seed has its own split and initialisation.",
)
@click.option("--epochs", type=click.IntRange(min=1), default=DEFAULTS.epochs, show_default=True)
@click.option("--data-dir", type=click.Path(path_type=Path), help="Directory of <Language>.txt files.")
@click.option("--out", type=click.Path(path_type=Path), default=COMPARE_DIR, show_default=True)
@JOBS_OPTION
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or per-run lines.")
def compare(
    models: tuple[str, ...],
    seeds: tuple[int, ...],
    epochs: int,
    data_dir: Path | None,
    out: Path,
    jobs: int | None,
    quiet: bool,
) -> None:
    """The report's comparison over seeds: train (or reuse) one run per model and seed, then write
    mean ± sd per model and the paired differences with 95% intervals (compare.md, compare.json),
    and the first seed's loss curves and confusion matrices, into --out.

    \b
    Examples:
      namelstm compare
      namelstm compare --models rnn,lstm,mylstm --seeds 0,1,2 --jobs 2
      namelstm compare --models lstm,mylstm --epochs 30 --seeds 1,2,3,4,5 --out outputs/compare-30
    """
    from namelstm.compare import compare_models

    log = (lambda _: None) if quiet else _echo_progress
    for line in compare_models(
        models, seeds, epochs, out, data_dir, _jobs(jobs), progress=not quiet, log=log
    ):
        click.echo(line)


@cli.group(short_help="Measure the report's claims: gradients, memory, stability.")
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
    from namelstm.analyze import analyze_gradients
    from namelstm.compare import find_runs
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
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@JOBS_OPTION
@click.option("--out", type=click.Path(path_type=Path), default=COMPARE_DIR, show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def memory(
    distances: tuple[int, ...],
    seeds: tuple[int, ...],
    max_steps: int,
    batch_size: int,
    device: str,
    jobs: int | None,
    out: Path,
    quiet: bool,
) -> None:
    """Claims (1) and (2) on a synthetic task (Hochreiter & Schmidhuber 1997, experiment 2): the
    class is the first symbol (one of 4), followed by N distractors. Each arm (rnn, tanhrnn, lstm
    and mylstm with default init and with forget-gate bias 1) trains with Adam on a fresh batch per
    step until a fixed held-out set is solved or the cap is reached; writes memory.json and memory.png.

    \b
    Examples:
      namelstm analyze memory --jobs 2
      namelstm analyze memory --distances 10,100 --seeds 0,1,2,3,4 --max-steps 2000 --device cuda
    """
    import dataclasses

    from namelstm.memory import analyze_memory
    from namelstm.train import pick_device

    pick_device(device)  # fail before any work when CUDA is asked for and missing
    config = dataclasses.replace(
        MEMORY, distances=distances, seeds=seeds, device=device, max_steps=max_steps, batch_size=batch_size
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
@click.option("--data-dir", type=click.Path(path_type=Path), help="Directory of <Language>.txt files.")
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
    from namelstm.analyze import analyze_stability
    from namelstm.data import load_names, resolve_data_dir, split_by_name

    split = split_by_name(load_names(resolve_data_dir(data_dir)), seed=0)
    for line in analyze_stability(models, lrs, seeds, epochs, clip, split, out, _jobs(jobs)):
        click.echo(line)


@cli.command(short_help="Serve predictions over HTTP, with a small page.")
@click.option("--checkpoint", type=CHECKPOINT, help=CHECKPOINT_HELP)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="0 picks a free port."
)
@click.option("-q", "--quiet", is_flag=True, help="Do not log each request.")
@click.option("--threads", type=click.IntRange(min=1), help=THREADS_HELP)
def serve(checkpoint: str | None, host: str, port: int, quiet: bool, threads: int | None) -> None:
    """Serve predictions over HTTP: a page with a text box at / (/?name=Rossi fills it in), JSON at
    /predict and /health (which names the model served).

    \b
    GET  /predict?name=Dostoevsky&top_k=3     -> [{"name": ..., "seen_as": ..., "predictions": [...]}]
    POST /predict  ["Dostoevsky", "Nakamura"]  (or {"names": [...], "top_k": 3})
    GET  /health

    \b
    Examples:
      namelstm serve
      namelstm serve --checkpoint outputs/mylstm --port 8080
      curl 'http://127.0.0.1:8000/predict?name=Nakamura'
    """
    from namelstm.predict import Predictor
    from namelstm.runs import default_model
    from namelstm.serve import make_server
    from namelstm.threads import apply_threads

    apply_threads(threads)
    source, note = (checkpoint, None) if checkpoint is not None else default_model()
    if note:
        click.echo(note, err=True)
    server = make_server(Predictor.load(source), host, port, quiet)
    bound_host, bound_port = server.server_address[:2]
    click.echo(f"serving {source} on http://{bound_host}:{bound_port}/ (Ctrl-C to stop)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    finally:
        server.server_close()


@cli.command(short_help="Find or download the dataset and describe it.")
@DATA_OPTIONS
@click.option(
    "--alphabet",
    type=click.Choice(["report", "auto"]),
    default=DEFAULTS.alphabet,
    show_default=True,
    help="Fold to the report's 57 letters, or keep every letter of the data.",
)
def data(data_dir: Path | None, name_column: str, label_column: str, alphabet: str) -> None:
    """Find (or download and check) the dataset and describe it: rows, distinct names, repeats, and
    every bad row (the first ones with their line numbers).

    \b
    Examples:
      namelstm data
      namelstm data --data-dir ~/datasets/names
      namelstm data --data customers.csv --name-column name --label-column country --alphabet auto
    """
    from namelstm.alphabet import pick_alphabet
    from namelstm.data import summarize_data

    for line in summarize_data(data_dir, Columns(name_column, label_column), pick_alphabet(alphabet)).lines():
        click.echo(line)


def main() -> None:
    cli(prog_name="namelstm")
