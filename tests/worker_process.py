"""Run a real ``celery -A worker worker`` process for a test (importable helper, not a test).

Usage::

    from tests.worker_process import running_worker

    env = {"TACHYON_BROKER_URL": redis_url, "TACHYON_S3_ENDPOINT": s3_endpoint}
    with running_worker(env, queues=("derivatives", "batch"), concurrency=1) as proc:
        ...  # enqueue; the worker is consuming
        proc.log_text()  # everything it logged so far

``running_worker(env, queues=("derivatives", "batch"), concurrency=1, pool="prefork",
extra_args=(), ready_timeout=60)`` is a context manager yielding a
``WorkerProcess`` — a ``subprocess.Popen`` with ``nodename``, ``log_path``,
``log_text()`` and ``kill_tree()``. It returns once the worker answers a Celery
ping (so its queues are being consumed; on SQS, which has no remote control,
once it logs that it is ready), and on exit stops it with SIGTERM
(warm shutdown), then SIGKILL of its whole process group after 20 s.

``env`` is laid over this process's environment (AWS test credentials, ...);
it must name the broker (``TACHYON_BROKER_URL``). The worker runs from the
repository root with ``-n <unique>@%h``, without mingle and gossip (fast start),
in its own session so ``kill_tree()`` can SIGKILL the main process and its
pool children at once, as a crashed container would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


class WorkerProcess(subprocess.Popen[bytes]):
    """A started worker: the Popen of ``celery worker`` plus where to find it."""

    nodename: str
    log_path: Path

    def log_text(self) -> str:
        """What the worker logged so far (stdout and stderr)."""
        return self.log_path.read_text(errors="replace")

    def kill_tree(self) -> None:
        """SIGKILL the worker's main process and every pool process, and reap it."""
        with suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.wait(10)


def ping(broker_url: str, nodename: str, timeout: float = 1.0) -> bool:
    """Whether ``nodename`` answers a Celery ping over ``broker_url``."""
    from celery import Celery

    app = Celery("tachyon-ping", broker=broker_url)
    try:
        replies = app.control.ping(destination=[nodename], timeout=timeout)
    finally:
        app.close()
    return any(nodename in reply for reply in replies or [])


def ready(proc: WorkerProcess, broker_url: str) -> bool:
    """Whether the worker consumes: it answers a ping, or on SQS (no remote control) it logged so."""
    if broker_url.startswith("sqs://"):
        time.sleep(0.2)
        return f"{proc.nodename} ready." in proc.log_text()
    return ping(broker_url, proc.nodename)


def start_worker(
    env: Mapping[str, str],
    queues: Sequence[str] = ("derivatives", "batch"),
    concurrency: int = 1,
    *,
    pool: str = "prefork",
    extra_args: Sequence[str] = (),
    ready_timeout: float = 60.0,
    log_path: Path | None = None,
    supervised: bool = False,
) -> WorkerProcess:
    """Start a worker and wait until it answers a ping; see ``running_worker``.

    ``supervised``: run it as ``tachyon-edge worker`` (``worker.supervisor``), which
    restarts the Celery worker whenever it exits on its own.
    """
    merged: dict[str, Any] = {**os.environ, **env}
    merged["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), merged.get("PYTHONPATH")]))
    broker = merged.get("TACHYON_BROKER_URL")
    if not broker:
        raise ValueError("env must set TACHYON_BROKER_URL")
    nodename = f"test-{uuid.uuid4().hex[:8]}@{os.uname().nodename}"
    if log_path is None:
        handle, name = tempfile.mkstemp(prefix="tachyon-worker-", suffix=".log")
        os.close(handle)
        log_path = Path(name)
    runner = [sys.executable, "-c", "from cli import main; main()", "worker"] if supervised else [
        sys.executable, "-m", "celery", "-A", "worker", "worker"]  # fmt: skip
    command = [
        *runner,
        "-Q", ",".join(queues), "-c", str(concurrency), "-P", pool, "-n", nodename,
        "--loglevel", "INFO", "--without-mingle", "--without-gossip", *extra_args,
    ]  # fmt: skip
    with log_path.open("ab") as log:
        proc = WorkerProcess(
            command, cwd=ROOT, env=merged, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    proc.nodename, proc.log_path = nodename, log_path
    deadline = time.monotonic() + ready_timeout
    while not ready(proc, broker):
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker exited with {proc.returncode}:\n{proc.log_text()[-4000:]}")
        if time.monotonic() > deadline:
            proc.kill_tree()
            raise TimeoutError(f"worker not ready after {ready_timeout} s:\n{proc.log_text()[-4000:]}")
        time.sleep(0.2)
    return proc


def stop_worker(proc: WorkerProcess, timeout: float = 20.0) -> None:
    """Warm shutdown (SIGTERM), then SIGKILL of the process group if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill_tree()
    with suppress(ProcessLookupError, PermissionError):  # stray pool children
        os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def running_worker(
    env: Mapping[str, str],
    queues: Sequence[str] = ("derivatives", "batch"),
    concurrency: int = 1,
    *,
    pool: str = "prefork",
    extra_args: Sequence[str] = (),
    ready_timeout: float = 60.0,
    supervised: bool = False,
) -> Iterator[WorkerProcess]:
    """A real ``celery -A worker worker`` consuming ``queues``, ready on entry, stopped on exit."""
    proc = start_worker(
        env, queues, concurrency, pool=pool, extra_args=extra_args, ready_timeout=ready_timeout,
        supervised=supervised,
    )  # fmt: skip
    try:
        yield proc
    finally:
        stop_worker(proc)


def wait_for(
    check: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.1, what: str = ""
) -> T:
    """Poll ``check`` until it returns something truthy; that value, or TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout} s: {what or check}")
        time.sleep(interval)
