"""`namelstm serve`: the predictor over HTTP, with a one-page UI.

Python's standard `http.server` is enough here: a few JSON endpoints and one static page, no
templates, sessions or routing library; a threading server answers concurrent requests. Hardened
against misbehaving clients: each request must arrive whole within `request_timeout` seconds (an
idle or trickling connection is closed), at most `max_connections` are served at once (the rest get
a JSON 503 at once), a Content-Length that is not a whole number of bytes up to MAX_BODY_BYTES is
refused before any body is read, and a client that hangs up is a log line, never a traceback.
"""

from __future__ import annotations

import html
import io
import json
import re
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from namelstm.errors import BadInput
from namelstm.inference.predict import Predictor

MAX_BODY_BYTES = 64 * 1024
MAX_NAMES = 1000
# Seconds a connection has to deliver each whole request, the wait for it included: an idle
# keep-alive connection or one that trickles a byte at a time is closed after this.
REQUEST_TIMEOUT = 10.0
# Connections served at once (one thread each); more are answered 503 and closed. Each idle one
# costs a thread for at most REQUEST_TIMEOUT seconds.
MAX_CONNECTIONS = 256
WRITE_TIMEOUT = 10.0  # seconds to hand an answer to a client that does not read it
DRAIN_SECONDS = 0.1  # how long a refused body is read and dropped before the answer goes out
_DIGITS = re.compile(r"[0-9]{1,18}")


class RequestError(Exception):
    """A bad request, answered with its status and a JSON error message."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class PredictionServer(ThreadingHTTPServer):
    """Serves one Predictor; predictions are serialised by a lock, since they take a millisecond."""

    daemon_threads = True
    request_queue_size = 128  # connections the kernel holds before accept: a burst is not refused

    def __init__(
        self,
        address: tuple[str, int],
        predictor: Predictor,
        quiet: bool = False,
        request_timeout: float = REQUEST_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        super().__init__(address, _Handler)
        self.predictor = predictor
        self.quiet = quiet
        self.lock = threading.Lock()
        self.page = _page(predictor)
        self.request_timeout = request_timeout
        self.slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread for the connection if a slot is free; else a JSON 503 and close, at once."""
        if not self.slots.acquire(blocking=False):
            body = _json({"error": "the server is busy; try again shortly"})
            head = (
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
            )
            try:
                request.settimeout(1.0)
                request.sendall(head.encode() + body)
            except OSError:
                pass  # the client is gone already
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started: the slot is free again
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line instead of socketserver's traceback: a client that hung up is no server fault."""
        err = sys.exc_info()[1]
        if isinstance(err, (ConnectionError, TimeoutError)):
            if not self.quiet:
                print(f"namelstm serve: {client_address[0]} went away ({err!r})", file=sys.stderr)
        else:
            print(f"namelstm serve: internal error: {err!r}", file=sys.stderr)

    def health(self) -> dict[str, Any]:
        """What /health answers: which checkpoint (a path, or "pretrained") of which family is served."""
        checkpoint = self.predictor.checkpoint
        return {
            "status": "ok",
            "checkpoint": self.predictor.source,
            "model": checkpoint.model_name if checkpoint else None,
            "members": checkpoint.n_members if checkpoint else None,
            "description": checkpoint.describe() if checkpoint else None,
            "languages": list(self.predictor.languages),
            "tau": self.predictor.calibration.tau,  # the logit adjustment in use (serve --tau changes it)
            "min_confidence": self.predictor.min_confidence,  # below it the answer is 'uncertain'
        }

    def predict(self, names: list[str], top_k: int) -> list[dict[str, Any]]:
        if not names:
            raise RequestError(HTTPStatus.BAD_REQUEST, "give at least one name")
        if len(names) > MAX_NAMES:
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"at most {MAX_NAMES} names per request")
        if not all(isinstance(n, str) for n in names):
            raise RequestError(HTTPStatus.BAD_REQUEST, "names must be strings")
        try:
            with self.lock:
                return [p.to_dict() for p in self.predictor.predict(names, top_k=top_k)]
        except BadInput as err:
            raise RequestError(HTTPStatus.BAD_REQUEST, str(err)) from None


class _DeadlineReader(io.RawIOBase):
    """The socket's reads, each given only the time left before `deadline` (time.monotonic()): a
    per-read timeout alone lets a client that trickles a byte now and then hold a thread for ever."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock
        self.deadline = time.monotonic()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        self.sock.settimeout(left)
        return self.sock.recv_into(buffer)


class _Handler(BaseHTTPRequestHandler):
    server: PredictionServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.reader = _DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self.reader)

    def handle_one_request(self) -> None:
        self.reader.deadline = time.monotonic() + self.server.request_timeout
        super().handle_one_request()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (a bad request line, too long a header, an unknown method) in
        the documented JSON format, not its HTML page."""
        if code == HTTPStatus.NOT_IMPLEMENTED:  # an unknown method: the client's error, not ours
            code, message = HTTPStatus.METHOD_NOT_ALLOWED, f"{self.command} is not allowed; use GET or POST"
        self.log_error("code %d, message %s", code, message)
        self.close_connection = True
        self._send(code, "application/json", _json({"error": message or HTTPStatus(code).phrase}))

    def do_GET(self) -> None:
        self._answer(self._get)

    def do_POST(self) -> None:
        self._answer(self._post)

    def do_HEAD(self) -> None:
        self._answer(self._get)  # GET's status and headers; `_send` leaves out the body

    def _answer(self, route: Any) -> None:
        try:
            status, content_type, body = route()
        except RequestError as err:
            status, content_type, body = err.status, "application/json", _json({"error": str(err)})
        except Exception as err:  # noqa: BLE001 — a bug must still answer in JSON, never with a traceback
            print(f"namelstm serve: internal error: {err!r}", file=sys.stderr)
            status, content_type, body = (
                HTTPStatus.INTERNAL_SERVER_ERROR,
                "application/json",
                _json({"error": "internal error"}),
            )
        if status >= 400 and self.command == "POST":
            self.close_connection = True  # the unread body must not be taken for a request
        self._send(status, content_type, body)

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        try:
            self.connection.settimeout(WRITE_TIMEOUT)  # not what the reads left of their deadline
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (ConnectionError, TimeoutError):  # the client hung up or stopped reading: drop it
            self.close_connection = True

    def _get(self) -> tuple[int, str, bytes]:
        url = urlsplit(self.path)
        if url.path == "/":
            return HTTPStatus.OK, "text/html; charset=utf-8", self.server.page
        if url.path == "/health":
            return HTTPStatus.OK, "application/json", _json(self.server.health())
        if url.path == "/predict":
            query = parse_qs(url.query)
            if not query.get("name"):
                raise RequestError(HTTPStatus.BAD_REQUEST, "missing query parameter 'name'")
            top_k = _top_k(query.get("top_k", ["3"])[-1], len(self.server.predictor.languages))
            return HTTPStatus.OK, "application/json", _json(self.server.predict(query["name"], top_k))
        raise RequestError(HTTPStatus.NOT_FOUND, f"no such page: {url.path}")

    def _post(self) -> tuple[int, str, bytes]:
        if urlsplit(self.path).path != "/predict":
            raise RequestError(HTTPStatus.NOT_FOUND, "POST goes to /predict")
        length = self._content_length()
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            raise RequestError(HTTPStatus.REQUEST_TIMEOUT, "the body did not arrive in time") from None
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise RequestError(HTTPStatus.BAD_REQUEST, "the body is not JSON") from None
        top_k: Any = 3
        if isinstance(payload, dict):
            payload, top_k = payload.get("names"), payload.get("top_k", 3)
        if not isinstance(payload, list):
            raise RequestError(
                HTTPStatus.BAD_REQUEST, 'send a JSON list of names, or {"names": [...], "top_k": 3}'
            )
        top_k = _top_k(str(top_k), len(self.server.predictor.languages))
        return HTTPStatus.OK, "application/json", _json(self.server.predict(payload, top_k))

    def _content_length(self) -> int:
        """The body's length, from exactly one Content-Length of plain digits, at most MAX_BODY_BYTES;
        else a 4xx before a byte of the body is read (int() would take '-1', '+5' or '1_0')."""
        if self.headers.get("Transfer-Encoding"):
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length, not chunked")
        values = self.headers.get_all("Content-Length") or []
        if not values:
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
        if len(set(values)) > 1 or not _DIGITS.fullmatch(values[0].strip()):
            self._drop_some()
            raise RequestError(HTTPStatus.BAD_REQUEST, "Content-Length must be one whole number of bytes")
        length = int(values[0])
        if length > MAX_BODY_BYTES:
            self._drop_some()
            raise RequestError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body may be at most {MAX_BODY_BYTES} bytes"
            )
        return length

    def _drop_some(self) -> None:
        """Read (and drop) what comes of a refused body for a moment (at most DRAIN_SECONDS and 16
        times the limit), so that closing with unread data does not reset the connection before
        the client has read our answer."""
        self.reader.deadline = min(self.reader.deadline, time.monotonic() + DRAIN_SECONDS)
        try:
            for _ in range(16):
                if not self.rfile.read1(MAX_BODY_BYTES):
                    break
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)


def _top_k(value: str, n_languages: int) -> int:
    try:
        top_k = int(value)
    except ValueError:
        top_k = 0
    if not 1 <= top_k <= n_languages:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"top_k must be a whole number from 1 to {n_languages}")
    return top_k


def _page(predictor: Predictor) -> bytes:
    """The page, saying which model answers (as predict's stderr does): the latest run can be anyone's."""
    page = (resources.files("namelstm.inference") / "page.html").read_text(encoding="utf-8")
    checkpoint = predictor.checkpoint
    model = f"{predictor.source} ({checkpoint.describe()})" if checkpoint else str(predictor.source)
    return page.replace("{{model}}", html.escape(model)).encode("utf-8")


def _json(payload: Any) -> bytes:
    try:
        return json.dumps(payload, ensure_ascii=False).encode()
    except UnicodeEncodeError:  # a lone surrogate (JSON's "\ud800") has no UTF-8: send it escaped
        return json.dumps(payload).encode()


def make_server(
    predictor: Predictor,
    host: str = "127.0.0.1",
    port: int = 8000,
    quiet: bool = False,
    request_timeout: float = REQUEST_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
) -> PredictionServer:
    """A server bound to (host, port); port 0 picks a free one (see `server.server_address`)."""
    return PredictionServer((host, port), predictor, quiet, request_timeout, max_connections)
