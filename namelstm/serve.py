"""`namelstm serve`: the predictor over HTTP, with a one-page UI.

Python's standard `http.server` is enough here: a few JSON endpoints and one static page, no
templates, sessions or routing library; a threading server answers concurrent requests.
"""

from __future__ import annotations

import json
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from namelstm.errors import BadInput
from namelstm.predict import Predictor

MAX_BODY_BYTES = 64 * 1024
MAX_NAMES = 1000


class RequestError(Exception):
    """A bad request, answered with its status and a JSON error message."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class PredictionServer(ThreadingHTTPServer):
    """Serves one Predictor; predictions are serialised by a lock, since they take a millisecond."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], predictor: Predictor, quiet: bool = False) -> None:
        super().__init__(address, _Handler)
        self.predictor = predictor
        self.quiet = quiet
        self.lock = threading.Lock()
        self.page = (resources.files("namelstm") / "page.html").read_bytes()

    def health(self) -> dict[str, Any]:
        """What /health answers: which checkpoint (a path, or "pretrained") of which family is served."""
        checkpoint = self.predictor.checkpoint
        return {
            "status": "ok",
            "checkpoint": self.predictor.source,
            "model": checkpoint.model_name if checkpoint else None,
            "members": checkpoint.members if checkpoint else None,
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


class _Handler(BaseHTTPRequestHandler):
    server: PredictionServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer(self._get)

    def do_POST(self) -> None:
        self._answer(self._post)

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
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status >= 400 and self.command == "POST":
            self.send_header("Connection", "close")  # the unread body must not be taken for a request
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

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
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required") from None
        if length > MAX_BODY_BYTES:
            # Read (and drop) a moderate excess so the client gets our answer rather than a reset.
            for _ in range(min(length, 16 * MAX_BODY_BYTES) // MAX_BODY_BYTES + 1):
                if not self.rfile.read1(MAX_BODY_BYTES):
                    break
            raise RequestError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body may be at most {MAX_BODY_BYTES} bytes"
            )
        try:
            payload = json.loads(self.rfile.read(length))
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


def _json(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def make_server(
    predictor: Predictor, host: str = "127.0.0.1", port: int = 8000, quiet: bool = False
) -> PredictionServer:
    """A server bound to (host, port); port 0 picks a free one (see `server.server_address`)."""
    return PredictionServer((host, port), predictor, quiet)
