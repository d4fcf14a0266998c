"""Predicting names in bulk: files and stdin in, CSV/TSV/JSONL/text/JSON out, streamed in chunks.

A bad row (no letters, too long) gets an error and the run goes on, unless `strict`. Files are
written to a temporary name and renamed at the end, so an output is never half-written.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import itertools
import json
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np
from tqdm import tqdm

from namelstm.data.sources import TABLE_SUFFIXES, counted_lines, read_table, too_many_fields, utf8_lines
from namelstm.errors import BadInput, NamelstmError
from namelstm.inference.predict import UNCERTAIN, Prediction, Predictor, Ranking
from namelstm.runs import atomic_file

CHUNK = 8192  # names per prediction call: bounds memory whatever the input's size
PREPARED = 1 << 18  # distinct names whose prepared form a file's prediction keeps
JSON_MAX_NAMES = 250_000  # --json holds the whole list until the end; beyond this, --jsonl streams
REPORTED_BAD = 20  # bad rows shown one by one on stderr; the rest are counted
OUTPUT_SUFFIXES = (".csv", ".tsv", ".jsonl")


class Record(NamedTuple):
    """One input name, where it came from ('line 3', 'name 2'), and its table row's cells in the header's
    order (None for a list of names). A tuple: a million of them are made per million names."""

    name: str
    number: int  # its line in the input, or its position among the arguments
    kind: str = "line"  # or "name" (an argument)
    cells: list[str] | None = None
    problem: str | None = None  # why the row gives no name to predict (too many fields)

    @property
    def where(self) -> str:
        return f"{self.kind} {self.number}"


@dataclass
class Tally:
    """How a bulk prediction went: names read, names with no answer and the first of their errors."""

    names: int = 0
    bad: int = 0
    first_bad: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.bad:,} of {self.names:,} names got no answer (first: {self.first_bad[0]})"


# ---------------------------------------------------------------------------- reading


def read_input(
    f: Iterable[str], path: Path, column: str, bar: tqdm
) -> tuple[list[str] | None, Iterator[Record]]:
    """`path` read from `f`: a .csv/.tsv file with a header (`column` holds the names), or any other
    file of one name per line. Returns the table's columns (None for a list of names) and the
    records, read lazily."""
    delimiter = TABLE_SUFFIXES.get(path.suffix.lower())
    if delimiter is None:
        return None, _line_records(counted_lines(f, bar))
    header, rows = read_table(counted_lines(f, bar), delimiter, str(path))
    header = header and [cell.strip() for cell in header]  # ' name ' is the column name, as in training
    if header is None or column not in header:
        columns = ", ".join(map(repr, header or []))
        raise BadInput(
            f"the input has no column {column!r} (its columns: {columns or 'none'}); choose it with --column"
        )
    return header, _table_records(rows, len(header), header.index(column), delimiter)


def _line_records(lines: Iterable[str]) -> Iterator[Record]:
    for line_no, line in enumerate(lines, start=1):
        if line.strip():
            yield Record(line.rstrip("\r\n"), line_no)


def _table_records(
    rows: Iterable[tuple[int, list[str]]], width: int, at: int, delimiter: str
) -> Iterator[Record]:
    for start, row in rows:
        # A short row is padded; one with extra fields keeps the header's cells and answers its error.
        extra = too_many_fields(row, width, delimiter)
        if len(row) != width:
            row = (row + [""] * width)[:width]
        yield Record(row[at], start, "line", row, extra)


def records_from_args(names: Iterable[str], stdin: IO[str]) -> Iterator[Record]:
    """The NAMES arguments ('name 2'), where '-' stands for every non-blank line of stdin ('line 3')."""
    for position, name in enumerate(names, start=1):
        if name == "-":  # read as a file is: bytes that are not UTF-8 stop it, naming the line
            buffer = getattr(stdin, "buffer", None)
            yield from _line_records(stdin if buffer is None else utf8_lines(buffer, "standard input"))
        else:
            yield Record(name, position, "name")


def chunks_as_they_come(records: Iterator[Record], size: int = CHUNK) -> Iterator[list[Record]]:
    """Lists of up to `size` records: whatever has arrived, so a slow pipe gets answers line by line
    while a file still goes in full chunks. A reader thread fills a bounded queue."""
    waiting: queue.Queue[Record | Exception | None] = queue.Queue(maxsize=4 * size)

    def read() -> None:
        try:
            for record in records:
                waiting.put(record)
            waiting.put(None)
        except Exception as err:  # noqa: BLE001  (handed to the main thread, which raises it)
            waiting.put(err)

    threading.Thread(target=read, daemon=True).start()
    done = False
    while not done:
        chunk: list[Record] = []
        item = waiting.get()
        while True:
            if item is None:
                done = True
                break
            if isinstance(item, Exception):
                raise item
            chunk.append(item)
            if len(chunk) >= size:
                break
            try:
                item = waiting.get_nowait()
            except queue.Empty:
                break
        if chunk:
            yield chunk


def fixed_chunks(records: Iterator[Record], size: int = CHUNK) -> Iterator[list[Record]]:
    while chunk := list(itertools.islice(records, size)):
        yield chunk


# ---------------------------------------------------------------------------- predicting


@contextlib.contextmanager
def collector_skips_what_exists() -> Iterator[None]:
    """Keep CPython's cycle collector off the objects alive now (torch's, the model's) until the end.
    Each chunk makes ~10^5 objects, which trigger full collections that walk every object alive:
    a fifth of the CPU time of 1M names. Chunks make no cycles; refcounting frees them anyway."""
    if gc.get_freeze_count():  # the caller froze objects already: leave its choice as it is
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@dataclass(frozen=True)
class Answered:
    """One chunk's records, the error of each bad one (by position), and the ranking of the others in
    order: the table writer formats the ranking's columns at once, the other writers take `pairs`."""

    records: list[Record]
    errors: dict[int, str]
    ranking: Ranking | None  # None when every record is bad

    def pairs(self) -> list[tuple[Record, Prediction | str]]:
        answers = iter(self.ranking.predictions() if self.ranking is not None else [])
        errors = self.errors
        return [(r, errors[i] if i in errors else next(answers)) for i, r in enumerate(self.records)]


def predict_chunks(
    predictor: Predictor,
    chunks: Iterable[list[Record]],
    top_k: int,
    strict: bool,
    report: Callable[[str], None],
    tally: Tally,
    ignore_script: bool = False,
) -> Iterator[Answered]:
    """Each chunk's records with their predictions, or the errors that stopped them (`strict`: raise).
    Each name is prepared once: to find the bad ones, and as what the model reads; a name repeated
    in the input is prepared once while `PREPARED` others are kept (then the memory starts again)."""
    prepared: dict[str, str] = {}

    def prepare(name: str) -> str:
        if (seen := prepared.get(name)) is None:
            if len(prepared) >= PREPARED:
                prepared.clear()
            seen = prepared[name] = predictor.prepare(name)
        return seen

    for chunk in chunks:
        errors: dict[int, str] = {}
        names: list[str] = []
        seen: list[str] = []
        for i, record in enumerate(chunk):
            try:
                if record.problem:
                    raise BadInput(record.problem)
                seen.append(prepare(record.name))
                names.append(record.name)
            except BadInput as err:
                if strict:
                    raise BadInput(f"{record.where}: {err}") from None
                errors[i] = str(err)
                tally.bad += 1
                message = f"{record.where}: {err}"
                if len(tally.first_bad) < REPORTED_BAD:
                    report(message)
                    tally.first_bad.append(message)
        ranking = predictor.rank(names, seen, top_k, ignore_script) if names else None
        tally.names += len(chunk)
        yield Answered(chunk, errors, ranking)


# ---------------------------------------------------------------------------- writing


def _ranking_cells(ranking: Ranking, top_k: int, answer: bool = False) -> list[tuple[str, ...]]:
    """Each name's seen_as, script, (answer,) language_1, probability_1, ..., error cells, built column
    by column. A language outside the name's script (probability 0) is left blank, as `Prediction`
    leaves it out; the answer is language_1, or 'uncertain' below the predictor's min_confidence."""
    probs, index = ranking.probs, ranking.index
    blank = len(ranking.languages)  # the position of "" below
    labels = np.array([*ranking.languages, ""], dtype=object)[np.where(probs <= 0, blank, index)]
    columns: list[list[str]] = []
    if answer:
        columns.append(np.where(ranking.uncertain, UNCERTAIN, labels[:, 0]).tolist())
    for j in range(top_k):
        columns.append(labels[:, j].tolist())
        columns.append([f"{p:.6f}" if p > 0 else "" for p in probs[:, j].tolist()])
    return list(zip(ranking.seen, ranking.scripts, *columns, itertools.repeat(""), strict=False))


def _json_object(record: Record, result: Prediction | str, header: list[str] | None) -> dict[str, Any]:
    head: dict[str, Any] = {"where": record.where}
    if record.cells is not None and header is not None:
        head["input"] = dict(zip(header, record.cells, strict=True))
    if isinstance(result, str):
        return {**head, "name": record.name, "error": result}
    return {**head, **result.to_dict()}


class TableWriter:
    """CSV/TSV rows: the input's columns, then seen_as, script, (answer, with a minimum confidence,)
    language_1, probability_1, ..., error."""

    def __init__(
        self, out: IO[str], header: list[str] | None, top_k: int, delimiter: str = ",", answer: bool = False
    ) -> None:
        self.header = header or ["name"]
        added = (
            ["seen_as", "script"]
            + ["answer"] * answer  # with a minimum confidence: language_1, or 'uncertain'
            + [f"{c}_{i}" for i in range(1, top_k + 1) for c in ("language", "probability")]
            + ["error"]
        )
        clash = sorted(set(self.header) & set(added))
        if clash:
            raise BadInput(
                f"the input already has a column {clash[0]!r}; rename it, it is one of the output's"
            )
        self.top_k, self.answer = top_k, answer
        self.writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
        # The csv module quotes a cell that holds a character of the line terminator, so a lone
        # "\r" of an input cell would go out bare and end the row there: such rows are quoted whole.
        self.quoting = csv.writer(out, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_ALL)
        self.writer.writerow(self.header + added)

    def write(self, answered: Answered) -> None:
        records, errors = answered.records, answered.errors
        added = (
            _ranking_cells(answered.ranking, self.top_k, self.answer) if answered.ranking is not None else []
        )
        if errors:
            failed = [""] * (2 + self.answer + 2 * self.top_k)
            answers = iter(added)
            added = [(*failed, errors[i]) if i in errors else next(answers) for i in range(len(records))]
        rows = [
            [*(record.cells if record.cells is not None else (record.name,)), *cells]
            for record, cells in zip(records, added, strict=True)
        ]
        if "\r" not in "".join(itertools.chain.from_iterable(r.cells or (r.name,) for r in records)):
            self.writer.writerows(rows)
            return
        for row in rows:
            (self.quoting if any("\r" in cell for cell in row) else self.writer).writerow(row)


class JsonlWriter:
    """One JSON object per line, {where, input?, name, seen_as, predictions} or {where, input?, name, error},
    flushed per chunk so a reader downstream gets answers as they come."""

    def __init__(self, out: IO[str], header: list[str] | None = None) -> None:
        self.out, self.header = out, header

    def write(self, answered: Answered) -> None:
        self.out.write(
            "".join(
                json.dumps(_json_object(r, p, self.header), ensure_ascii=False) + "\n"
                for r, p in answered.pairs()
            )
        )
        self.out.flush()


class TextWriter:
    """The human format: each name, how the model read it, and its languages; errors go to stderr only."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def write(self, answered: Answered) -> None:
        lines = []
        for _, result in answered.pairs():
            if isinstance(result, str):
                continue
            lines.append(f"{result.name}  {result.note()}".rstrip())
            if result.uncertain:
                lines.append(f"  {UNCERTAIN}: no language is likely enough to answer")
            lines += [f"  {language:<12} {probability:6.1%}" for language, probability in result.predictions]
        if lines:
            self.out.write("\n".join(lines) + "\n")
            self.out.flush()


class JsonListWriter:
    """One JSON list, written whole at the end: never a half-written document, so at most JSON_MAX_NAMES."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.items: list[str] = []  # serialized already: a few hundred bytes per name

    def write(self, answered: Answered) -> None:
        rows = answered.pairs()
        if len(self.items) + len(rows) > JSON_MAX_NAMES:
            raise BadInput(
                f"--json holds the whole list until the end, so at most {JSON_MAX_NAMES:,} names; "
                f"use --jsonl (one object per line, streamed) for more"
            )
        for record, result in rows:
            self.items.append(json.dumps(_json_object(record, result, None), ensure_ascii=False))

    def close(self) -> None:
        self.out.write("[\n" + ",\n".join(self.items) + "\n]\n")
        self.out.flush()


# ---------------------------------------------------------------------------- the two entry points


def predict_to_stream(
    predictor: Predictor,
    records: Iterator[Record],
    out: IO[str],
    fmt: str = "text",
    top_k: int = 3,
    strict: bool = False,
    report: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    ignore_script: bool = False,
) -> Tally:
    """Names (from arguments or stdin) to `out` as `fmt` ('text', 'jsonl' or 'json'), answering each
    chunk as soon as its names have arrived. Raises `BadInput` at the end if any name got no answer
    (all the others are answered first), or at the first bad name with `strict`."""
    writer: Any = {"text": TextWriter, "jsonl": JsonlWriter, "json": JsonListWriter}[fmt](out)
    tally = Tally()
    with collector_skips_what_exists():
        for rows in predict_chunks(
            predictor, chunks_as_they_come(records), top_k, strict, report, tally, ignore_script
        ):
            writer.write(rows)
    if fmt == "json":
        writer.close()
    if tally.bad:
        raise BadInput(tally.summary())
    return tally


def predict_file(
    predictor: Predictor,
    input_path: Path,
    output: Path,
    column: str = "name",
    top_k: int = 3,
    strict: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    report: Callable[[str], None] = lambda line: tqdm.write(line, file=sys.stderr),
    ignore_script: bool = False,
) -> Tally:
    """Predict every name of `input_path` (CSV/TSV with a header, else one name per line) into `output`
    (.csv, .tsv or .jsonl), in input order, in chunks of CHUNK names. The output appears only when
    complete (written under a temporary name, then renamed); an existing one is replaced only with
    `overwrite`. Raises `BadInput` after writing if any row got no answer (see its error column)."""
    input_path, output = Path(input_path), Path(output)
    _check_files(input_path, output, overwrite)
    suffix = output.suffix.lower()
    tally = Tally()
    bar = tqdm(
        total=input_path.stat().st_size,
        unit="B",
        unit_scale=True,
        desc=f"predicting {input_path.name}",
        disable=not progress,
        file=sys.stderr,
    )
    with bar, collector_skips_what_exists(), open(input_path, "rb") as f:
        header, records = read_input(utf8_lines(f, str(input_path)), input_path, column, bar)
        with atomic_file(output, encoding="utf-8") as out:
            writer = _file_writer(out, suffix, header, top_k, predictor.min_confidence is not None)
            for rows in predict_chunks(
                predictor, fixed_chunks(records), top_k, strict, report, tally, ignore_script
            ):
                writer.write(rows)
    if tally.bad:
        where = "field" if suffix == ".jsonl" else "column"
        raise BadInput(f"{tally.summary()}; {output} has them with an error {where}")
    return tally


def _check_files(input_path: Path, output: Path, overwrite: bool) -> None:
    """Refuse, before reading anything, an input that is no file, an output whose extension names no
    format, an existing output without `overwrite`, and an output that is the input."""
    if not input_path.is_file():
        raise NamelstmError(f"--input {input_path} is not a file")
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise BadInput(
            f"--output {output}: the extension chooses the format, one of {', '.join(OUTPUT_SUFFIXES)}"
        )
    if output.exists() and not overwrite:
        raise NamelstmError(f"{output} already exists; choose another --output, or --overwrite to replace it")
    if output.exists() and input_path.exists() and output.resolve() == input_path.resolve():
        raise BadInput("--output must not be the --input file")


def _file_writer(
    out: IO[str], suffix: str, header: list[str] | None, top_k: int, answer: bool
) -> JsonlWriter | TableWriter:
    """The writer for an output file with this extension (one of OUTPUT_SUFFIXES)."""
    if suffix == ".jsonl":
        return JsonlWriter(out, header)
    return TableWriter(out, header, top_k, TABLE_SUFFIXES[suffix], answer)
