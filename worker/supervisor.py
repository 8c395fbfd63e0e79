"""Keep one Celery worker process running: restart it whenever it exits on its own.

Why: a broker outage can make the Celery worker exit for good. Celery retries
a lost broker connection forever (``broker_connection_max_retries=None``), but
some teardown paths of kombu's Redis transport raise errors that Celery treats
as unrecoverable (seen: an ``AttributeError`` while restoring unacknowledged
messages of a channel whose connection was already closed), and the worker's
main process then exits with status 1. This loop starts it again, so a fleet
rides out a broker restart without anyone acting (docs/worker.md, "Faults").

The supervisor forwards SIGTERM, SIGINT and SIGQUIT (warm/cold shutdown) to
the worker and then exits with its status instead of restarting it. A worker
that ends with status 0 (a remote ``shutdown``) is not restarted either. Pool
processes die with the worker's main process (Celery sets their parent-death
signal); their unacknowledged messages come back after the visibility timeout.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from types import FrameType

log = logging.getLogger("tachyon.supervisor")

#: Seconds before the first restart; doubled after each quick exit, up to ``MAX_BACKOFF``.
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
#: A worker that ran this long is considered healthy again (the backoff starts over).
HEALTHY_AFTER = 60.0
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def celery_command(args: Sequence[str]) -> list[str]:
    """``celery -A worker worker ARGS`` with this interpreter."""
    return [sys.executable, "-m", "celery", "-A", "worker", "worker", *args]


class Supervisor:
    """Runs ``command`` until asked to stop; restarts it after an exit of its own with a status ≠ 0."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.command = list(command)
        self.restarts = 0
        self._child: subprocess.Popen[bytes] | None = None
        self._stopping: int | None = None
        self._sleep, self._clock = sleep, clock

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = signum
        child = self._child
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    def run(self) -> int:
        """Supervise until a forwarded signal or a clean exit; returns the exit status to use."""
        for signum in FORWARDED:
            signal.signal(signum, self._forward)
        backoff = FIRST_BACKOFF
        while True:
            started = self._clock()
            self._child = subprocess.Popen(self.command)
            status = self._child.wait()
            if self._stopping is not None:
                return max(status, 0)  # a warm shutdown we asked for; killed by it counts as clean
            if status == 0:
                return 0
            ran = self._clock() - started
            if ran >= HEALTHY_AFTER:
                backoff = FIRST_BACKOFF
            log.error("the Celery worker exited with status %s after %.0f s; restarting in %.0f s",
                      status, ran, backoff)  # fmt: skip
            self._sleep(backoff)
            if self._stopping is not None:
                return 0
            backoff = min(MAX_BACKOFF, backoff * 2)
            self.restarts += 1


def supervise(args: Sequence[str]) -> int:
    """Run ``celery -A worker worker ARGS`` under a ``Supervisor``; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s: %(levelname)s/Supervisor] %(message)s")
    return Supervisor(celery_command(args)).run()
