"""The render job: what the edge enqueues and the worker consumes.

The message is sent by task name (``RENDER_TASK``) so the edge never imports the
worker. It carries the raw query string; the worker parses it with the same
``core.args`` and decides the output format from the bytes, so both sides
compute the same derivative key. ``job_token`` names the job in Redis: the
pending key (one enqueue per derivative while it waits) and the failure key
(a bad original is not enqueued again for a while).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from core.args import Transform
from core.formats import candidate_formats, format_of_path
from core.keys import derivative_key


@dataclass(frozen=True, slots=True)
class RenderJob:
    """One derivative to render: the original, the URL arguments, the format hint."""

    bucket: str
    original_key: str
    query: str
    accept: str | None = None  # the Accept value used for auto-format, if on
    etag: str | None = None  # the original's ETag when the edge enqueued (normalised)

    def to_kwargs(self) -> dict[str, Any]:
        """The task's keyword arguments (JSON-serialisable)."""
        return asdict(self)

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> RenderJob:
        """The job back from a task's keyword arguments; unknown keys are ignored."""
        return cls(
            bucket=str(kwargs["bucket"]),
            original_key=str(kwargs["original_key"]),
            query=str(kwargs.get("query", "")),
            accept=kwargs.get("accept"),
            etag=kwargs.get("etag"),
        )


def job_token(bucket: str, original_key: str, transform: Transform, accept: str | None, prefix: str) -> str:
    """A short stable name of one derivative job, the same on edge and worker."""
    source = format_of_path(original_key) or "jpeg"
    first = derivative_key(original_key, transform, candidate_formats(transform, source, accept)[0], prefix)
    return hashlib.sha1(f"{bucket}\0{first}".encode(), usedforsecurity=False).hexdigest()


def pending_key(token: str) -> str:
    """Redis key held while a job is queued or running (set by the edge, released by the worker)."""
    return f"tachyon:pending:{token}"


def failed_key(token: str) -> str:
    """Redis key holding the reason a job gave up (the edge stops enqueueing it meanwhile)."""
    return f"tachyon:failed:{token}"


def attempts_key(token: str) -> str:
    """Redis key counting renders of a job that started and never came back (process killed)."""
    return f"tachyon:attempts:{token}"


def failure_record(etag: str | None, reason: str) -> str:
    """The value stored under ``failed_key``: why, and for which version of the original."""
    return json.dumps({"etag": etag, "reason": reason[:1000]})


def failure_reason(record: bytes | str, etag: str | None) -> str | None:
    """The reason a job gave up, if the record is about this version of the original.

    A record made for another ETag is stale: the original was replaced since,
    and the new one deserves a render. A record without an ETag applies to any.
    """
    try:
        value = json.loads(record)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        return record.decode("utf-8", "replace") if isinstance(record, bytes) else record
    recorded = value.get("etag")
    if recorded and etag and recorded != etag:
        return None
    return str(value.get("reason", ""))
