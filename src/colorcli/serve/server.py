"""The HTTP server of ``colorcli serve``: the page, the API, and the checks in front of them.

Standard library only (:class:`http.server.ThreadingHTTPServer`): one thread per
connection reads and answers requests, and a single worker thread runs every model job
in arrival order, so one model in memory serves everyone. At most ``queue_size`` jobs wait
or run; the next request gets 503 before its body is read, which also bounds the memory
that uploads take.

Safety, as the issue that asked for this put it:
- the ``Host`` header must name this server (an IP address, ``localhost`` or the host it
  was started on, with its port): a DNS-rebinding page, which reaches us under its own
  name, is refused with 403;
- a ``POST`` whose ``Origin`` is not this server's is refused with 403 (CSRF); a client
  that sends no ``Origin`` (curl, scripts) is served;
- a body above ``max_upload_bytes`` gets 413 without being read; an image above
  ``max_pixels`` gets 413 before it is decoded;
- the only files written are in a temporary folder, emptied after each request and
  removed when the server closes (or, failing that, when the process exits);
- a client that disconnects while its job waits has the job dropped; one that
  disconnects later costs the work already done and nothing else.
"""

from __future__ import annotations

import ipaddress
import json
import select
import shutil
import socket
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from colorcli.errors import ColorcliError
from colorcli.pipeline import Colorizer
from colorcli.serve.forms import FormField, RequestError, form_boundary, parse_form
from colorcli.serve.service import Abandoned, ColorizeService, EncodedImage

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_MAX_UPLOAD_BYTES = 50 * 1000**2
DEFAULT_MAX_PIXELS = 100_000_000
DEFAULT_QUEUE_SIZE = 8
REQUEST_TIMEOUT = 60.0
"""Seconds a connection may stay silent while sending a request before it is dropped."""

_PAGE_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
# the page loads nothing from elsewhere, and nobody may frame it (clickjacking)
_PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)


@dataclass(frozen=True)
class ServeSettings:
    """Where and how ``colorcli serve`` listens.

    Attributes:
        host: address to bind (loopback by default; 0.0.0.0 opens it to the network).
        port: TCP port; 0 picks a free one.
        max_upload_bytes: largest request body.
        max_pixels: largest image (width * height) decoded.
        queue_size: most model jobs waiting or running; more get 503.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    queue_size: int = DEFAULT_QUEUE_SIZE

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0-65535, got {self.port}")
        if self.max_upload_bytes < 1 or self.max_pixels < 1 or self.queue_size < 1:
            raise ValueError("max_upload_bytes, max_pixels and queue_size must be positive")


class _Busy(Exception):
    """Every place in the job queue is taken."""


class JobQueue:
    """One worker thread running jobs in order, with room for ``capacity`` at a time.

    A caller first :meth:`reserve` s a place (before reading an upload), then
    :meth:`submit` s its job, or :meth:`release` s the place if it gives up.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._places = threading.BoundedSemaphore(capacity)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="colorcli-serve")

    def reserve(self) -> None:
        """Take a place. Raises _Busy when none is free."""
        if not self._places.acquire(blocking=False):
            raise _Busy

    def release(self) -> None:
        """Give back a reserved place that no job will use."""
        self._places.release()

    def submit(self, job: Callable[[], EncodedImage]) -> Future[EncodedImage]:
        """Run ``job`` on the worker in a reserved place; the place is freed when it ends."""
        try:
            future = self._worker.submit(job)
        except RuntimeError:  # shut down
            self._places.release()
            raise
        future.add_done_callback(lambda _: self._places.release())
        return future

    def close(self) -> None:
        """Drop waiting jobs, finish the running one, stop the worker."""
        self._worker.shutdown(wait=True, cancel_futures=True)


class ColorizeServer(ThreadingHTTPServer):
    """``colorcli serve``: the page and the API on one port.

    Use as a context manager, or call :meth:`close`; :meth:`serve_forever` blocks (Ctrl-C
    raises KeyboardInterrupt in it), :meth:`start` serves from a background thread.

    Args:
        colorizer: the served model with its inference settings.
        label: what the user called the model (shown on the page and in messages).
        settings: address, limits and queue size.
        log: called with one line per request (the library prints nothing itself).

    Raises:
        OSError: the address cannot be bound (e.g. the port is taken).
    """

    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        colorizer: Colorizer,
        *,
        label: str,
        settings: ServeSettings | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings or ServeSettings()
        self.log = log
        self.workdir = Path(tempfile.mkdtemp(prefix="colorcli-serve-"))
        # removes the folder at close(), at garbage collection or at interpreter exit
        self._remove_workdir = weakref.finalize(
            self, shutil.rmtree, str(self.workdir), ignore_errors=True
        )
        self.service = ColorizeService(
            colorizer, label=label, workdir=self.workdir, max_pixels=self.settings.max_pixels
        )
        self.jobs = JobQueue(self.settings.queue_size)
        self._thread: threading.Thread | None = None
        family = socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET
        self.address_family = family
        try:
            super().__init__((self.settings.host, self.settings.port), _Handler)
        except BaseException:
            self._remove_workdir()
            raise

    @property
    def port(self) -> int:
        """The port listened on (the chosen one when ``settings.port`` was 0)."""
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        """The page's address, e.g. ``http://127.0.0.1:8765/``."""
        host = self.settings.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}/"

    def start(self) -> ColorizeServer:
        """Serve from a background thread; returns self."""
        self._thread = threading.Thread(
            target=self.serve_forever, name="colorcli-serve-http", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, finish the running job, remove the temporary folder."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()
        self.jobs.close()
        self._remove_workdir()

    def __enter__(self) -> ColorizeServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def host_allowed(self, host: str | None) -> bool:
        """Whether a request's ``Host`` header names this server.

        Accepted: an IP address, ``localhost`` or the host the server was started on,
        each with the server's port (or none when it is 80). Any other name may be a
        DNS-rebinding attack: a site whose name the attacker points at 127.0.0.1.
        """
        if not host:
            return False
        try:
            parts = urlsplit(f"//{host}")
            name, port = parts.hostname, parts.port
        except ValueError:
            return False
        if name is None or parts.username is not None or parts.path:
            return False
        if (port or 80) != self.port:
            return False
        if name in ("localhost", self.settings.host.lower().strip("[]")):
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True


class _Handler(BaseHTTPRequestHandler):
    """One connection: routes each request, checks it, answers it."""

    server: ColorizeServer
    protocol_version = "HTTP/1.1"
    server_version = "colorcli-serve"
    sys_version = ""
    timeout = REQUEST_TIMEOUT
    _status: int | None = None
    """Status of the last answer sent (for the log line)."""

    # ------------------------------------------------------------------ routing

    def do_GET(self) -> None:
        if not self._host_checked():
            return
        path = urlsplit(self.path).path
        if path == "/api/models":
            self._guarded(lambda: self._send_json(200, self.server.service.models()))
        elif path in _PAGE_FILES:
            self._send_page_file(*_PAGE_FILES[path])
        elif path.startswith("/api/"):
            self._send_error(405 if path in ("/api/colorize", "/api/confidence") else 404, path)
        else:
            self._send_error(404, path)

    def do_HEAD(self) -> None:
        self._send_error(405, "HEAD")

    def do_POST(self) -> None:
        if not self._host_checked() or not self._origin_checked():
            return
        path = urlsplit(self.path).path
        service = self.server.service
        jobs: dict[str, Callable[[dict[str, FormField], Callable[[], bool]], EncodedImage]] = {
            "/api/colorize": service.colorize,
            "/api/confidence": service.confidence,
        }
        if path not in jobs:
            self._drop_body()
            self._send_error(405 if path in _PAGE_FILES or path == "/api/models" else 404, path)
            return
        self._guarded(lambda: self._run_job(jobs[path]))

    def do_PUT(self) -> None:
        self._send_error(405, "PUT")

    def do_DELETE(self) -> None:
        self._send_error(405, "DELETE")

    # ------------------------------------------------------------------ checks

    def _host_checked(self) -> bool:
        host = self.headers.get("Host")
        if self.server.host_allowed(host):
            return True
        self.close_connection = True
        self._send_json(
            403,
            {
                "error": f"the Host header {host!r} does not name this server; "
                f"open {self.server.url}"
            },
        )
        return False

    def _origin_checked(self) -> bool:
        origin = self.headers.get("Origin")
        if origin is None or origin == f"http://{self.headers.get('Host')}":
            return True
        self.close_connection = True
        self._send_json(
            403, {"error": f"cross-site request refused: Origin {origin!r} is not this server"}
        )
        return False

    def _content_length(self) -> int:
        """The body's declared length, checked against the upload limit."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise RequestError(411, "send the upload with a Content-Length (not chunked)")
        text = self.headers.get("Content-Length")
        if text is None or not text.strip().isdigit():
            raise RequestError(411, "send the upload with a Content-Length")
        length = int(text)
        limit = self.server.settings.max_upload_bytes
        if length > limit:
            raise RequestError(
                413,
                f"upload too large ({length / 1e6:.1f} MB; the limit is {limit / 1e6:g} MB, "
                "colorcli serve --max-upload-mb)",
            )
        return length

    # ------------------------------------------------------------------ jobs

    def _run_job(
        self, job: Callable[[dict[str, FormField], Callable[[], bool]], EncodedImage]
    ) -> None:
        """Read the form, queue the job, send its image (or nothing, if the client left)."""
        try:
            length = self._content_length()
            content_type = self.headers.get("Content-Type", "")
            form_boundary(content_type)  # refuse a wrong type before reading the body
        except RequestError:
            self.close_connection = True  # the body is left unread
            raise
        try:
            self.server.jobs.reserve()
        except _Busy:
            self.close_connection = True
            raise RequestError(
                503,
                f"the server is busy ({self.server.jobs.capacity} photos waiting); "
                "try again in a moment",
            ) from None
        try:
            body = self._read_body(length)
        except BaseException:
            self.server.jobs.release()
            raise
        if body is None:
            self.server.jobs.release()
            return
        future = self.server.jobs.submit(
            lambda: job(parse_form(content_type, body), self._client_gone)
        )
        try:
            image = future.result()
        except Abandoned:
            self.close_connection = True
            return
        except CancelledError:
            raise RequestError(503, "the server is stopping") from None
        self._send(
            200,
            image.data,
            image.content_type,
            {"Content-Disposition": _content_disposition(image.filename)},
        )

    def _read_body(self, length: int) -> bytes | None:
        """The body, or None when the client went away before sending it all."""
        try:
            body = self.rfile.read(length)
        except (TimeoutError, ConnectionError):
            body = b""
        if len(body) < length:
            self.close_connection = True
            self._note(f"{self.command} {self.path}: client left during the upload")
            return None
        return body

    def _client_gone(self) -> bool:
        """Whether the client has closed its side (checked before its job runs)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _drop_body(self) -> None:
        """Discard a small body so the connection can go on; close it for a large one."""
        text = self.headers.get("Content-Length", "0").strip()
        length = int(text) if text.isdigit() else 0
        if 0 < length <= 1 << 16:
            self.rfile.read(length)
        elif length:
            self.close_connection = True

    # ------------------------------------------------------------------ answers

    def _guarded(self, answer: Callable[[], None]) -> None:
        """Run ``answer``; turn colorcli's errors into JSON errors with their status."""
        started = time.monotonic()
        self._status = None
        try:
            answer()
        except RequestError as error:
            self._send_error(error.status, str(error))
        except ColorcliError as error:
            self._send_error(400, str(error))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            self._note(f"{self.command} {self.path}: client left before the answer")
        status = self._status if self._status is not None else "-"
        self._note(f"{self.command} {self.path} {status} {time.monotonic() - started:.2f} s")

    def _send_error(self, status: int, message: str) -> None:
        if status in (404, 405):
            reason = HTTPStatus(status).phrase.lower()
            message = f"{reason}: {message}"
        self._send_json(status, {"error": message})

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._send(status, data, "application/json; charset=utf-8")

    def _send_page_file(self, name: str, content_type: str) -> None:
        data = resources.files("colorcli.serve").joinpath("page").joinpath(name).read_bytes()
        self._send(200, data, content_type, {"Content-Security-Policy": _PAGE_POLICY})

    def _send(
        self,
        status: int,
        data: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._status = status
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("X-Frame-Options", "DENY")
            self.send_header("Referrer-Policy", "no-referrer")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    # ------------------------------------------------------------------ logging

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # _guarded logs each API call with its time; page files need no line

    def log_message(self, format: str, *args: Any) -> None:
        self._note(format % args)

    def _note(self, line: str) -> None:
        if self.server.log is not None:
            self.server.log(line)


def _content_disposition(filename: str) -> str:
    """``inline`` with an ASCII name and the UTF-8 one (RFC 6266)."""
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    return f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
