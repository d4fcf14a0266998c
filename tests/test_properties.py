"""Property-based tests (Hypothesis) of every input path: names, files, training data, checkpoints
and HTTP. Each property runs twice: with a small example budget in the fast suite, and with a
larger one under the `slow` marker. The profile (tests/conftest.py) is derandomised in CI, so a
run is reproducible; HYPOTHESIS_PROFILE=dev draws new examples each time."""

from __future__ import annotations

import csv
import http.client
import io
import json
import pickle
import re
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from namelstm.cli import cli
from namelstm.data.alphabet import REPORT, Alphabet
from namelstm.data.names import load_names
from namelstm.data.sources import Columns
from namelstm.errors import BadInput, NamelstmError
from namelstm.inference.files import predict_file
from namelstm.inference.predict import Predictor
from namelstm.inference.serve import make_server


def fast_and_slow(
    fast: int, slow: int, **strategies: Any
) -> Callable[[Callable[..., None]], tuple[Any, Any]]:
    """Two tests of one property: `fast` examples in the fast suite, `slow` under the slow marker."""

    def make(check: Callable[..., None]) -> tuple[Any, Any]:
        quick = settings(max_examples=fast)(given(**strategies)(check))
        thorough = pytest.mark.slow(settings(max_examples=slow)(given(**strategies)(check)))
        return quick, thorough

    return make


def one_line(err: BaseException) -> bool:
    return bool(str(err).strip()) and "\n" not in str(err)


@pytest.fixture(scope="module")
def predictor(tiny_run: Path) -> Iterator[Predictor]:
    """The tiny run's model, on one thread as the CLI runs by default: two threads on a busy 2-core
    machine wait for each other at every step of a 1,000-letter name (seconds instead of 30 ms)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield Predictor.load(tiny_run)
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for every example's files (function-scoped tmp_path would be shared anyway)."""
    return tmp_path_factory.mktemp("properties")


# ---------------------------------------------------------------------------- names

# Every script, combining marks, controls, lone surrogates; short names mostly, some up to 2,000.
ANY_CHARACTER = st.characters(codec=None, exclude_categories=())
NAME = st.one_of(st.text(ANY_CHARACTER, max_size=40), st.text(ANY_CHARACTER, min_size=900, max_size=2000))
# What a UTF-8 line can hold: no surrogates, no line breaks (a file or stdin splits there).
LINE_CHARACTER = st.characters(codec="utf-8", exclude_characters="\n\r")
LINE = st.text(LINE_CHARACTER, max_size=40).filter(lambda s: s.strip())


def _answer_or_error(predictor: Predictor, name: str) -> dict[str, Any]:
    """What Predictor says about one name: its top languages, or its one-line error."""
    try:
        (prediction,) = predictor.predict([name], top_k=3)
    except BadInput as err:
        assert one_line(err), err
        return {"error": str(err).split(": ", 1)[1]}  # without 'name 1: '
    probabilities = [p for _, p in prediction.predictions]
    assert probabilities == sorted(probabilities, reverse=True) and all(0 <= p <= 1 for p in probabilities)
    return {"languages": [language for language, _ in prediction.predictions]}


def check_any_name_gets_an_answer_or_one_line(predictor: Predictor, name: str) -> None:
    _answer_or_error(predictor, name)


def check_stdin_file_and_predictor_agree(
    predictor: Predictor, tiny_run: Path, scratch: Path, names: list[str]
) -> None:
    expected = [_answer_or_error(predictor, name) for name in names]
    stdin = CliRunner().invoke(
        cli,
        ["predict", "--checkpoint", str(tiny_run), "-", "--jsonl", "-k", "3"],
        input="\n".join(names) + "\n",
    )
    assert "Traceback" not in stdin.output and stdin.exit_code in (0, 2), stdin.output
    source = scratch / "names.txt"
    source.write_text("\n".join(names) + "\n", encoding="utf-8")
    try:
        predict_file(
            predictor,
            source,
            scratch / "out.jsonl",
            top_k=3,
            overwrite=True,
            progress=False,
            report=lambda _: None,
        )
    except BadInput as err:
        assert one_line(err) and "got no answer" in str(err)
    # JSON Lines end at "\n" only: a name may hold U+0085 or U+2028, which str.splitlines splits at.
    from_file = (scratch / "out.jsonl").read_text(encoding="utf-8").split("\n")[:-1]
    for answers in (stdin.stdout.split("\n")[:-1], from_file):
        got = [json.loads(line) for line in answers]
        assert [g["name"] for g in got] == names  # every name once, in order
        assert [
            {"error": g["error"]}
            if "error" in g
            else {"languages": [p["language"] for p in g["predictions"]]}
            for g in got
        ] == expected


test_any_name, test_any_name_thorough = fast_and_slow(25, 1000, name=NAME)(
    check_any_name_gets_an_answer_or_one_line
)


def check_one_folding_fast_or_slow(text: str) -> None:
    """The ASCII shortcut gives what the definition gives, for any text; the result holds only the
    alphabet's letters and punctuation, at least one letter, and no emoji or symbol ever spelled out."""
    for alphabet in (REPORT, Alphabet("abcdeé -")):
        for transliterate in (False, True):
            folded = alphabet.fold(text, transliterate)
            assert folded == alphabet.fold_slowly(text, transliterate)
            assert set(folded) <= set(alphabet.letters) and (not folded or any(map(str.isalpha, folded)))
    assert REPORT.fold(text + "😀™") == REPORT.fold(text)


test_folding, test_folding_thorough = fast_and_slow(200, 5000, text=st.text(max_size=20))(
    check_one_folding_fast_or_slow
)
test_names_agree_everywhere, test_names_agree_everywhere_thorough = fast_and_slow(
    8, 150, names=st.lists(LINE, min_size=1, max_size=6)
)(check_stdin_file_and_predictor_agree)


# ---------------------------------------------------------------------------- tables

CELL = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
ROW = st.lists(CELL, min_size=0, max_size=5)


@st.composite
def tables(draw: Any, columns: tuple[str, ...]) -> tuple[str, str, list[tuple[int, list[str]]]]:
    """A CSV or TSV text (quoting, embedded delimiters and line breaks, BOM, CRLF, extra and missing
    fields, empty cells, blank lines), and each data row with the line it starts on."""
    delimiter = draw(st.sampled_from([",", "\t"]))
    terminator = draw(st.sampled_from(["\n", "\r\n"]))
    bom = draw(st.booleans())
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    body = io.StringIO()

    def write(row: list[str]) -> None:
        # "\r\n" as the writer's terminator, so a cell holding either \r or \n is quoted; the
        # row's end is then the terminator drawn.
        line = io.StringIO()
        csv.writer(line, delimiter=delimiter, lineterminator="\r\n", quoting=quoting).writerow(row)
        body.write(line.getvalue()[:-2] + terminator)

    write(list(columns))
    rows = []
    for row in draw(st.lists(ROW, max_size=8)):
        line = len(re.findall(r"\r\n|\r|\n", body.getvalue())) + 1
        if not row:
            body.write(terminator)  # a blank line: not a row
            continue
        write(row)
        rows.append((line, row))
    return ("\ufeff" if bom else "") + body.getvalue(), delimiter, rows


def check_every_row_comes_out_once_in_order(
    predictor: Predictor, scratch: Path, table: tuple[str, str, list[tuple[int, list[str]]]]
) -> None:
    text, delimiter, rows = table
    source = scratch / ("in.csv" if delimiter == "," else "in.tsv")
    source.write_bytes(text.encode())
    output = scratch / ("out.csv" if delimiter == "," else "out.tsv")
    try:
        predict_file(
            predictor, source, output, top_k=1, overwrite=True, progress=False, report=lambda _: None
        )
    except BadInput as err:
        assert one_line(err) and "got no answer" in str(err)
    with open(output, encoding="utf-8", newline="") as f:
        out = list(csv.reader(f, delimiter=delimiter))
    header, answered = out[0], out[1:]
    assert header[:3] == ["id", "name", "city"] and header[-1] == "error"
    assert len(answered) == len(rows)  # every row once
    for (_, row), got in zip(rows, answered, strict=True):
        assert got[:3] == (row + ["", "", ""])[:3]  # in order, its cells as they were
        error = got[-1]
        if len(row) > 3:
            assert f"{len(row)} fields, the header has 3" in error
        elif _unusable(predictor, got[1]):
            assert error and not got[5], (row, got)
        else:
            assert not error and got[5], (row, got)  # an answer: language_1


def _unusable(predictor: Predictor, name: str) -> bool:
    try:
        predictor.prepare(name)
    except BadInput:
        return True
    return False


def check_no_row_is_ever_relabelled(
    scratch: Path, table: tuple[str, str, list[tuple[int, list[str]]]]
) -> None:
    text, delimiter, rows = table
    source = scratch / ("data.csv" if delimiter == "," else "data.tsv")
    source.write_bytes(text.encode())
    # Columns id, name, city: the label is the third. What a row should give, worked out here.
    good, bad = set(), []
    for line, row in rows:
        if len(row) == 1 and not row[0].strip():
            continue  # a line of blanks (or one empty quoted field, '""') is no row, as for sources
        if len(row) > 3 or len(row) < 3 or not row[2].strip():
            bad.append(line)
        elif not REPORT.fold(row[1]):
            bad.append(line)
        else:
            good.add((REPORT.fold(row[1]), row[2].strip()))
    labels = {label for _, label in good}
    # Labels whose every well-formed row folds to nothing: named in an error, never dropped silently.
    emptied = {
        row[2].strip() for _, row in rows if len(row) == 3 and row[2].strip() and not REPORT.fold(row[1])
    }
    try:
        dataset = load_names(source, columns=Columns("name", "city"))
    except NamelstmError as err:
        assert one_line(err)
        assert len(labels) < 2 or emptied - labels, err  # refused only for too few labels, or a lost one
        return
    assert not emptied - labels
    assert set(dataset.pairs) == good  # every good row with its own label, nothing else
    assert dataset.n_skipped == len(bad) and [b.line for b in dataset.skipped] == bad[:20]
    summary = CliRunner().invoke(cli, ["data", "--data", str(source), "--label-column", "city"])
    assert summary.exit_code == 0 and f"{len(bad):,} bad row" in summary.output, summary.output


TABLE = tables(("id", "name", "city"))
test_files, test_files_thorough = fast_and_slow(20, 300, table=TABLE)(check_every_row_comes_out_once_in_order)
test_training_data, test_training_data_thorough = fast_and_slow(25, 500, table=TABLE)(
    check_no_row_is_ever_relabelled
)


# ---------------------------------------------------------------------------- checkpoints


class Detonator:
    """Unpickling this would call `touch` on a marker file: proof that loading ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def damaged(draw: Any, good: bytes, marker: Path) -> tuple[str, bytes]:
    """A real checkpoint cut short or with one bit flipped, or a foreign pickle (plain data, or an
    object whose loading would run code), as torch.save or plain pickle writes it."""
    kind = draw(st.sampled_from(["truncated", "bit flip", "foreign", "runs code"]))
    if kind == "truncated":
        return kind, good[: draw(st.integers(0, len(good) - 1))]
    if kind == "bit flip":
        at = draw(st.integers(0, len(good) * 8 - 1))
        flipped = bytearray(good)
        flipped[at // 8] ^= 1 << (at % 8)
        return kind, bytes(flipped)
    payload = draw(PLAIN) if kind == "foreign" else {"format": "namelstm-checkpoint", "x": Detonator(marker)}
    buffer = io.BytesIO()
    if draw(st.booleans()):
        torch.save(payload, buffer)
    else:
        pickle.dump(payload, buffer, protocol=draw(st.integers(2, pickle.HIGHEST_PROTOCOL)))
    return kind, buffer.getvalue()


def check_a_damaged_checkpoint_is_one_line_and_runs_nothing(tiny_run: Path, scratch: Path, data: Any) -> None:
    marker = scratch / "code-ran"
    kind, raw = data.draw(damaged((tiny_run / "checkpoint.pt").read_bytes(), marker), label="checkpoint")
    path = scratch / "checkpoint.pt"
    path.write_bytes(raw)
    try:
        predictor = Predictor.load(path)
        predictor.predict(["Bakiaki", "McDurin"])  # a flip in the weights may load: it must still answer
    except (NamelstmError, BadInput) as err:
        assert one_line(err), err
    else:
        assert kind == "bit flip"
    assert not marker.exists()


test_checkpoints, test_checkpoints_thorough = fast_and_slow(30, 600, data=st.data())(
    check_a_damaged_checkpoint_is_one_line_and_runs_nothing
)


# ---------------------------------------------------------------------------- HTTP


@pytest.fixture(scope="module")
def server(predictor: Predictor) -> Iterator[tuple[str, int]]:
    """A server on a free loopback port; a short request timeout, so a body that never comes ends soon."""
    instance = make_server(predictor, "127.0.0.1", 0, quiet=True, request_timeout=1.0)
    thread = threading.Thread(target=instance.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield instance.server_address[:2]
    instance.shutdown()
    instance.server_close()


HEADER_NAME = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True)
HEADER_VALUE = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=20
)
JSON_BODY = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(ANY_CHARACTER, max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["names", "top_k", "x"]), inner, max_size=3)
    ),
    max_leaves=10,
)


@st.composite
def requests(draw: Any) -> bytes:
    """A request as bytes: method, path, a query string of any bytes (percent-encoded), headers,
    and a body that is JSON or any bytes, with a true, false or missing Content-Length."""
    method = draw(st.sampled_from(["GET", "POST", "HEAD", "PUT", "OPTIONS"]))
    path = draw(st.sampled_from(["/", "/predict", "/health", "/nowhere", "/predict/"]))
    query = urllib.parse.quote_from_bytes(draw(st.binary(max_size=40)), safe="=&")
    target = f"{path}?{query}" if query else path
    names = st.lists(st.text(ANY_CHARACTER, max_size=8).map(lambda s: "Ann" + s), min_size=1, max_size=3)
    body = draw(
        st.one_of(st.binary(max_size=200), st.one_of(JSON_BODY, names).map(lambda v: json.dumps(v).encode()))
    )
    headers = draw(st.lists(st.tuples(HEADER_NAME, HEADER_VALUE), max_size=4))
    length = draw(st.sampled_from(["true", "none", "other"]))
    if length == "true":
        headers.append(("Content-Length", str(len(body))))
    elif length == "other":
        headers.append(("Content-Length", draw(HEADER_VALUE)))
    head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode("latin-1") + b"\r\n" + body


def check_any_request_gets_a_2xx_or_4xx_json_answer(server: tuple[str, int], request: bytes) -> None:
    with socket.create_connection(server, timeout=10) as client:  # the server gives up after 1 s
        client.sendall(request)
        response = http.client.HTTPResponse(client, method=request.split(b" ", 1)[0].decode())
        response.begin()
        status, content_type, body = response.status, response.getheader("Content-Type", ""), response.read()
    assert 200 <= status < 300 or 400 <= status < 500, (status, body)
    if request.startswith(b"HEAD"):
        return
    if content_type.startswith("text/html"):
        assert status == 200 and body.startswith(b"<!")
    else:
        answer = json.loads(body)
        assert status < 300 or set(answer) == {"error"}, answer


test_http, test_http_thorough = fast_and_slow(40, 1000, request=requests())(
    check_any_request_gets_a_2xx_or_4xx_json_answer
)
