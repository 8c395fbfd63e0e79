"""A heartbeat file the worker's event loop touches, for health checks where Celery's ping cannot go.

On SQS the worker runs without remote control (a broadcast queue per worker
would have to be created), so ``celery inspect ping`` has nobody to answer
it. Instead this consumer step touches ``heartbeat_path(nodename)`` every
``INTERVAL`` seconds from the worker's own timer: a hung event loop or a lost
broker connection (the consumer restarts, the step with it) stops the touches,
and ``tachyon-edge worker-health`` reports the file as stale.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import Any

from celery import bootsteps

#: Seconds between touches; a file older than ``STALE`` means unhealthy.
INTERVAL = 10.0
STALE = 60.0


def heartbeat_path(nodename: str) -> Path:
    """The heartbeat file of worker ``nodename`` (``celery@host``) on this machine."""
    return Path(tempfile.gettempdir()) / ("tachyon-heartbeat-" + re.sub(r"[^\w@.-]", "_", nodename))


def age(nodename: str) -> float | None:
    """Seconds since the worker's last heartbeat, or None when it never wrote one."""
    try:
        return time.time() - heartbeat_path(nodename).stat().st_mtime
    except FileNotFoundError:
        return None


class Heartbeat(bootsteps.StartStopStep):  # type: ignore[misc]
    """Touches the heartbeat file while the consumer runs."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, consumer: Any, **kwargs: Any) -> None:
        self.path = heartbeat_path(str(consumer.hostname))
        self.entry: Any = None
        super().__init__(consumer, **kwargs)

    def touch(self) -> None:
        self.path.touch()

    def start(self, consumer: Any) -> None:
        self.touch()
        self.entry = consumer.timer.call_repeatedly(INTERVAL, self.touch)

    def stop(self, consumer: Any) -> None:
        if self.entry is not None:
            self.entry.cancel()
            self.entry = None
        self.path.unlink(missing_ok=True)

    shutdown = stop
