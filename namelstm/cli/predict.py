"""`namelstm predict`: names (or a file of names) in, their likeliest languages out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from namelstm.cli.options import (
    BACKEND,
    BACKEND_HELP,
    CHECKPOINT,
    CHECKPOINT_HELP,
    MIN_CONFIDENCE,
    MIN_CONFIDENCE_HELP,
    PREDICT_THREADS_HELP,
    TAU,
    TAU_HELP,
)

if TYPE_CHECKING:
    from namelstm.inference.predict import Predictor


@click.command(short_help="Rank the likeliest languages of origin of names, or of a whole file.")
@click.argument("names", nargs=-1)
@click.option("--checkpoint", type=CHECKPOINT, help=CHECKPOINT_HELP)
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
@click.option("--tau", type=TAU, help=TAU_HELP)
@click.option("--min-confidence", type=MIN_CONFIDENCE, metavar="P", help=MIN_CONFIDENCE_HELP)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--threads", type=click.IntRange(min=1), help=PREDICT_THREADS_HELP)
@click.option("--backend", type=BACKEND, default="auto", help=BACKEND_HELP)
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
    tau: float | None,
    min_confidence: float | None,
    quiet: bool,
    threads: int | None,
    backend: str,
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
      namelstm predict Nguyen --tau 0             # the model as trained: no extra weight for rare languages
      namelstm predict SMITH 佐藤 --min-confidence 0.7   # 'uncertain' where no language reaches 70%
    """
    from namelstm.inference.files import predict_file, predict_to_stream, records_from_args

    _check_sources(names, input_path, output, as_json, as_jsonl)
    predictor = _load(checkpoint, tau, min_confidence, top_k, backend, threads)
    if input_path is not None:
        tally = predict_file(
            predictor,
            input_path,
            output,  # type: ignore[arg-type]  # _check_sources: --input comes with --output
            column,
            top_k,
            strict,
            overwrite,
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


def _check_sources(
    names: tuple[str, ...], input_path: Path | None, output: Path | None, as_json: bool, as_jsonl: bool
) -> None:
    """Refuse the options that do not go together: names come from NAMES or from --input, --input
    goes with --output (whose extension is the format), and --json and --jsonl exclude each other."""
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


def _load(
    checkpoint: str | None,
    tau: float | None,
    min_confidence: float | None,
    top_k: int,
    backend: str = "auto",
    threads: int | None = None,
) -> Predictor:
    """The model to predict with (the default one when no --checkpoint), saying on stderr which
    one it is when it was not named, or that its run is unfinished."""
    from namelstm.inference.predict import Predictor
    from namelstm.runs import default_model

    source, note = (checkpoint, None) if checkpoint is not None else default_model()
    predictor = Predictor.load(source, tau, min_confidence, backend, threads)
    if predictor.backend == "torch":
        from namelstm.inference.threads import apply_threads

        apply_threads(threads)
    if top_k > len(predictor.languages):
        raise click.BadParameter(
            f"at most {len(predictor.languages)} (the model knows that many languages)",
            param_hint="'--top-k'",
        )
    if note:
        click.echo(f"{note} ({predictor.checkpoint.describe()})", err=True)
    elif predictor.checkpoint is not None and not predictor.checkpoint.finished:
        click.echo(f"note: {source} holds {predictor.checkpoint.weights()}", err=True)
    return predictor
