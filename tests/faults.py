"""Fault injection for tests (importable helper, not a test): a faulty TCP proxy, an own Redis, kills.

- ``FaultProxy(upstream_port)``: a threaded TCP proxy (stdlib) in front of a
  server (moto's S3). ``proxy.mode`` is changed at any time and applies to the
  next request: ``pass``; ``delay`` (each answer held back ``proxy.delay`` s);
  ``reset`` (every connection reset at once, nothing forwarded); ``truncate``
  (answers cut after ``proxy.truncate_at`` bytes, then the connection is
  reset); ``fail_put`` (a PUT request resets its connection, other methods
  pass); ``hang_put`` (a PUT is never forwarded nor answered). ``refused_port()``
  is a port nothing listens on (a dead S3: connection refused).
- ``OwnRedis()``: a ``redis-server`` this test owns on a free port (never the
  shared one): ``stop()`` (SIGKILL: gone, nothing saved), ``freeze()`` /
  ``thaw()`` (SIGSTOP / SIGCONT: connections stay open, nothing answers),
  ``start()`` again on the same port, empty.
- ``pool_children(proc)`` / ``kill_pool_child(proc)`` / ``kill_main(proc)``: SIGKILL a
  worker's pool process (what the OOM killer does) or its main process alone.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import Literal

Mode = Literal["pass", "delay", "reset", "truncate", "fail_put", "hang_put"]


def free_port() -> int:
    """A loopback port free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def refused_port() -> int:
    """A loopback port nothing listens on: connecting is refused at once."""
    return free_port()


def _reset(conn: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0), as a crashed peer or a middlebox does.

    ``shutdown`` first: a plain ``close`` would wait for the other thread's
    pending ``recv`` on the same socket, and the peer would see nothing.
    """
    with suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        conn.close()


class FaultProxy:
    """A TCP proxy on 127.0.0.1 whose ``mode`` injects one kind of fault."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode: Mode = "pass"
        self.delay = 1.0
        self.truncate_at = 200
        self.requests: list[tuple[str, Mode]] = []  # (first request line, mode it met)
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._closed = False
        threading.Thread(target=self._accept, name="fault-proxy", daemon=True).start()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def methods(self, mode: Mode | None = None) -> list[str]:
        """The HTTP methods of the requests seen (in ``mode`` only, when given)."""
        with self._lock:
            return [line.split(" ", 1)[0] for line, met in self.requests if mode in (None, met)]

    def close(self) -> None:
        self._closed = True
        with suppress(OSError):
            self._listener.close()
        with self._lock:
            for conn in list(self._conns):
                _reset(conn)

    def drop_connections(self) -> None:
        """Reset every open connection (pooled keep-alives included)."""
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            _reset(conn)

    def _track(self, *conns: socket.socket) -> None:
        with self._lock:
            self._conns.update(conns)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.mode == "reset":
                with self._lock:
                    self.requests.append(("? (reset on connect)", "reset"))
                _reset(client)
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=30)
        except OSError:
            _reset(client)
            return
        upstream.settimeout(None)
        self._track(client, upstream)
        answering = threading.Event()  # set when a request was forwarded and awaits its answer
        threading.Thread(target=self._answers, args=(upstream, client, answering), daemon=True).start()
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                mode = self.mode
                head = data[:8]
                is_request = head[:1].isalpha() and b" /" in data[:16] if head else False
                if is_request:
                    with self._lock:
                        self.requests.append((data.split(b"\r\n", 1)[0].decode(errors="replace"), mode))
                    if mode == "reset":
                        break
                    if mode == "fail_put" and data.startswith(b"PUT "):
                        break
                    if mode == "hang_put" and data.startswith(b"PUT "):
                        while not self._closed and self.mode == "hang_put":
                            time.sleep(0.05)
                        break  # never forwarded: the connection is reset once the fault clears
                    answering.set()
                upstream.sendall(data)
        except OSError:
            pass
        _reset(client)
        _reset(upstream)

    def _answers(self, upstream: socket.socket, client: socket.socket, answering: threading.Event) -> None:
        sent = 0
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                mode = self.mode
                if answering.is_set():  # the first bytes of an answer
                    answering.clear()
                    sent = 0
                    if mode == "delay":
                        time.sleep(self.delay)
                if mode == "truncate":
                    room = self.truncate_at - sent
                    if room <= 0:
                        break
                    data = data[:room]
                client.sendall(data)
                sent += len(data)
        except OSError:
            pass
        _reset(client)
        _reset(upstream)


class OwnRedis:
    """A ``redis-server`` owned by one test, on its own port, keeping no data."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start (again) on the same port, empty; returns once it answers PING."""
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--loglevel", "warning"]  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:  # the port may still be in TIME_WAIT/closing right after a kill
            self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._answers(deadline):
                return
            self.proc.kill()
            self.proc.wait()
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server did not start on port {self.port}")

    def _answers(self, deadline: float) -> bool:
        import redis

        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    return False
                with suppress(redis.RedisError):
                    if client.ping():
                        return True
                time.sleep(0.05)
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """SIGKILL: the server is gone with everything it held (it keeps no data)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a frozen server must be able to die
            self.proc.kill()
            self.proc.wait(10)

    def freeze(self) -> None:
        """SIGSTOP: connections stay open and nothing answers (a hung or partitioned server)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT: the frozen server answers again, with its data."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()


def pool_children(pid: int) -> list[int]:
    """The child processes of ``pid`` (a prefork worker's pool processes)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    with suppress(OSError):
        return [int(child) for child in path.read_text().split()]
    return []


def kill_pool_child(pid: int) -> int:
    """SIGKILL one pool process of the worker ``pid`` (as the OOM killer does); returns its pid."""
    children = pool_children(pid)
    assert children, f"worker {pid} has no pool process"
    os.kill(children[0], signal.SIGKILL)
    return children[0]


def kill_main(pid: int) -> list[int]:
    """SIGKILL the worker's main process alone; returns its pool processes (orphaned, still alive)."""
    children = pool_children(pid)
    os.kill(pid, signal.SIGKILL)
    return children
