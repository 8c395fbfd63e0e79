"""An S3 endpoint with a request log: moto's own server app behind a recording WSGI layer.

moto keeps its state per process, so this endpoint serves the same buckets as
the session's moto server. Pointing the edge and the local CloudFront at it
makes every request S3 receives visible, as S3 sees it: method, path, status,
who sent it (the function's botocore, or ``Amazon CloudFront`` for the local
CloudFront's origin fetches) and when it started and ended at the server.
``round_trips`` turns those times into the number of sequential round trips;
``latency`` (seconds added to each answer, a network round trip's stand-in)
makes requests sent together overlap at the server, as they do across a WAN.
The end-to-end tests and ``benchmarks/bench_edge.py`` both count with it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote


@dataclass(frozen=True, slots=True)
class S3Request:
    """One request as the S3 server received and answered it."""

    method: str
    path: str  # /bucket/key, percent-decoded
    agent: str
    status: int
    started: float
    ended: float

    @property
    def by_function(self) -> bool:
        """Sent by the edge function (botocore), not by CloudFront fetching from its origin."""
        return "botocore" in self.agent.lower()

    @property
    def line(self) -> str:
        """``METHOD key status``, the key without its bucket."""
        return f"{self.method} {self.path.split('/', 2)[-1]} {self.status}"


class S3Log:
    """A second endpoint to the process's moto S3, logging every request it serves."""

    def __init__(self, latency: float = 0.0) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        self.requests: list[S3Request] = []
        self.latency = latency
        self._lock = threading.Lock()
        app = DomainDispatcherApplication(create_backend_app)
        recording = self._recording(app)
        self._server = make_server("127.0.0.1", 0, recording, True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _recording(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
            started = time.perf_counter()
            if self.latency:
                time.sleep(self.latency)
            status: list[int] = []

            def start(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                status.append(int(line.split(maxsplit=1)[0]))
                return start_response(line, headers, exc_info)

            body = b"".join(app(environ, start))
            raw = str(environ.get("RAW_URI") or environ.get("PATH_INFO") or "")
            entry = S3Request(
                str(environ.get("REQUEST_METHOD")),
                unquote(raw.partition("?")[0]),
                str(environ.get("HTTP_USER_AGENT", "")),
                status[0] if status else 0,
                started,
                time.perf_counter(),
            )
            with self._lock:
                self.requests.append(entry)
            yield body

        return middleware

    def of(self, bucket: str) -> list[S3Request]:
        """The requests about one bucket (its objects), in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.path.startswith(f"/{bucket}/")]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()


def round_trips(requests: Iterable[S3Request]) -> int:
    """The longest chain of requests each sent after the previous one's answer (0 for none).

    Requests sent together (the verifying lookup's two HEADs) overlap and count once.
    """
    ordered = sorted(requests, key=lambda r: r.started)
    depth: list[int] = []
    for i, request in enumerate(ordered):
        before = [depth[j] for j in range(i) if ordered[j].ended <= request.started]
        depth.append(1 + max(before, default=0))
    return max(depth, default=0)
