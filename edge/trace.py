"""One structured log line per invocation: what happened and where the time went.

CloudWatch (and any log shipper) can filter JSON lines, so each invocation
writes exactly one: the trigger, the outcome, the derivative key, the reason
for anything but a hit, and milliseconds per step. Steps that talk to S3 are
named ``s3_*`` so the time spent waiting on S3 can be separated from our own.
The record also carries the fields as ``record.tachyon`` for in-process readers
(the benchmark, tests).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger("tachyon.edge")
if logger.level == logging.NOTSET:
    logger.setLevel(logging.INFO)  # Lambda's root handler would drop INFO otherwise


class Trace:
    """Timings and facts of one invocation, emitted once as a JSON line."""

    __slots__ = ("_start", "fields", "steps")

    def __init__(self, trigger: str, request_id: str | None = None) -> None:
        self._start = time.perf_counter()
        self.steps: dict[str, float] = {}
        self.fields: dict[str, Any] = {"trigger": trigger, "outcome": None, "key": None}
        if request_id:
            self.fields["request_id"] = request_id

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time a step (repeated steps add up)."""
        began = time.perf_counter()
        try:
            yield
        finally:
            self.steps[name] = self.steps.get(name, 0.0) + (time.perf_counter() - began) * 1000

    def set(self, **fields: Any) -> None:
        """Record facts (outcome, key, reason, uri…)."""
        self.fields.update(fields)

    def emit(self) -> dict[str, Any]:
        """Write the line; returns what was written."""
        total = (time.perf_counter() - self._start) * 1000
        record = {
            **self.fields,
            "ms": {name: round(value, 3) for name, value in self.steps.items()},
            "total_ms": round(total, 3),
        }
        if logger.isEnabledFor(logging.INFO):
            logger.info(json.dumps(record, ensure_ascii=False, default=str), extra={"tachyon": record})
        return record
