"""Where labelled names come from: a directory of `<Label>.txt` files, or a CSV/TSV file with a header.

Both give the same rows: (file, line number, name, label, problem). A row with a problem (too few
or too many fields, no label) is handed on with its reason, so the loader can count and report it.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from namelstm.errors import NamelstmError

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
PROGRESS_EVERY = (
    50_000  # lines between progress-bar updates: a bar call per line would cost more than the line
)

Row = tuple[str, int, str, str, "str | None"]  # (file name, line number, raw name, label, problem or None)


@dataclass(frozen=True)
class Columns:
    """Which columns of a CSV/TSV file hold the name and its label (the language, country, ...)."""

    name: str = "name"
    label: str = "language"


@dataclass(frozen=True)
class Source:
    """A data path and how to read it: `kind` is 'directory', 'csv' or 'tsv'."""

    path: Path
    kind: str
    columns: Columns = Columns()

    def declared_labels(self) -> tuple[str, ...] | None:
        """A directory's labels are its file names, known before reading; a table's are not."""
        return tuple(p.stem for p in self.files()) if self.kind == "directory" else None

    def files(self) -> list[Path]:
        return sorted(self.path.glob("*.txt")) if self.kind == "directory" else [self.path]

    def rows(self, progress: bool = False) -> Iterator[Row]:
        total = sum(p.stat().st_size for p in self.files())
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc=f"reading {self.path.name}",
            disable=not progress,
            file=sys.stderr,
            leave=False,
        ) as bar:
            if self.kind == "directory":
                for path in self.files():
                    yield from _text_rows(path, bar)
            else:
                yield from _table_rows(self.path, TABLE_SUFFIXES[f".{self.kind}"], self.columns, bar)


def open_source(path: Path, columns: Columns = Columns()) -> Source:
    """Check that `path` is a directory of `<Label>.txt` files (at least 2) or a .csv/.tsv file."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if len(files) < 2:
            raise NamelstmError(
                f"{path} holds {len(files)} .txt file(s); it needs one <Label>.txt per label, at least 2"
            )
        return Source(path, "directory")
    if not path.exists():
        raise NamelstmError(f"data {path} does not exist")
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise NamelstmError(f"{path} is neither a directory of <Label>.txt files nor a .csv or .tsv file")
    return Source(path, path.suffix.lower().lstrip("."), columns)


def counted_lines(lines: Iterable[str], bar: tqdm) -> Iterator[str]:
    """The lines, moving the bar by their length (characters: close enough to bytes for a bar)."""
    done = 0
    for i, line in enumerate(lines, start=1):
        done += len(line)
        if i % PROGRESS_EVERY == 0:
            bar.update(done)
            done = 0
        yield line
    bar.update(done)


def utf8_lines(binary: Iterable[bytes], where: str) -> Iterator[str]:
    """The lines of a byte stream (a file opened "rb", or stdin's buffer) decoded as UTF-8, one by one,
    so that a byte that is not UTF-8 stops the reading naming its true line, with a hint to convert it
    (text-mode reading decodes ahead in blocks, and could only say "near" a line). A leading byte-order
    mark, which spreadsheets write, is not part of the first line."""
    for line_no, raw in enumerate(binary, start=1):
        try:
            yield raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
        except UnicodeDecodeError as err:
            raise NamelstmError(not_utf8(where, line_no, raw[err.start])) from None


def not_utf8(where: str, line_no: int, byte: int) -> str:
    return (
        f"{where} line {line_no} is not UTF-8 (byte 0x{byte:02x}); convert it first, e.g. "
        f"iconv -f latin1 -t utf-8 FILE > FILE.utf8"
    )


def too_many_fields(row: list[str], width: int, delimiter: str) -> str | None:
    """Why a row with more fields than its header's `width` is bad, else None. Its cells cannot be
    placed: an unquoted `Smith, Jr,English` would read ' Jr' as the label."""
    if len(row) <= width:
        return None
    mark = "a comma" if delimiter == "," else "a tab"
    return f"{len(row)} fields, the header has {width} (quote a field that holds {mark})"


def _text_rows(path: Path, bar: tqdm) -> Iterator[Row]:
    """One name per non-blank line; the label is the file name."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise NamelstmError(
            not_utf8(str(path), data[: err.start].count(b"\n") + 1, data[err.start])
        ) from None
    label, where = path.stem, path.name
    for line_no, line in enumerate(counted_lines(text.splitlines(), bar), start=1):
        if line.strip():
            yield where, line_no, line, label, None


def _table_rows(path: Path, delimiter: str, columns: Columns, bar: tqdm) -> Iterator[Row]:
    """Rows of a CSV/TSV file with a header naming the columns; line numbers count the header as 1."""
    where = path.name
    with open(path, "rb") as f:
        header, rows = read_table(counted_lines(utf8_lines(f, str(path)), bar), delimiter, str(path))
        if header is None:
            raise NamelstmError(f"{path} is empty; it needs a header row naming its columns")
        header = [h.strip() for h in header]
        missing = [c for c in (columns.name, columns.label) if c not in header]
        if missing:
            raise NamelstmError(
                f"{path} has no column {missing[0]!r} (its columns: {', '.join(map(repr, header))}); "
                f"choose them with --name-column and --label-column"
            )
        name_at, label_at = header.index(columns.name), header.index(columns.label)
        need = max(name_at, label_at) + 1
        for start, row in rows:
            if len(row) == 1 and not row[0].strip():
                continue  # a line of blanks is not a row either
            extra = too_many_fields(row, len(header), delimiter)
            if extra:
                yield where, start, "", "", extra
            elif len(row) < need:
                yield where, start, "", "", f"{len(row)} field(s), the header has {len(header)}"
            elif not row[label_at].strip():
                yield where, start, row[name_at], "", f"no {columns.label!r}"
            else:
                yield where, start, row[name_at], row[label_at].strip(), None


def read_table(
    lines: Iterable[str], delimiter: str, where: str
) -> tuple[list[str] | None, Iterator[tuple[int, list[str]]]]:
    """The header of a CSV/TSV text (None when the text is empty) and its other rows but the empty
    lines, read lazily, each with the line it starts on (the header's is 1; a quoted field may span
    lines). A malformed row stops the reading with one line naming `where` (the file) and the line
    (bytes that are not UTF-8: `utf8_lines`). `data` and `predict --input` both read tables here."""
    rows = _numbered_rows(csv.reader(lines, delimiter=delimiter), delimiter, where)
    first = next(rows, None)
    return (None if first is None else first[1]), ((start, row) for start, row in rows if row)


def _numbered_rows(reader: Any, delimiter: str, where: str) -> Iterator[tuple[int, list[str]]]:
    line = 0
    try:
        for row in reader:
            start, line = line + 1, reader.line_num
            yield start, row
    except csv.Error as err:
        kind = "CSV" if delimiter == "," else "TSV"
        raise NamelstmError(f"{where} line {reader.line_num}: not valid {kind} ({err})") from None
