"""One original → its derivatives: the work shared by the live render and batch tasks.

One download and one probe per original, however many argument sets: the live
task passes one query, a batch task all of them. Every derivative is checked
for freshness first (its stored original ETag against the original's current
ETag), so running a job twice — acks_late redelivery, a repeated batch — does
no work the second time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core import processing
from core.args import parse_query
from core.errors import ImageRefused, InvalidArgument
from core.formats import format_of_path
from core.keys import Derivative, name_derivative, request_key
from core.limits import Limits
from core.objects import is_fresh
from core.processing import Rendered
from core.settings import Settings
from core.transform import Transform
from core.types import JobOutcome, OutputFormat
from worker import metrics, s3

log = logging.getLogger("tachyon.worker")


@dataclass(frozen=True, slots=True)
class Result:
    """What happened to one argument set of one original."""

    query: str
    outcome: JobOutcome
    key: str | None = None
    reason: str | None = None
    bytes: int = 0


def render_set(
    source: bytes, jobs: Sequence[tuple[Transform, OutputFormat]], limits: Limits
) -> list[Rendered | ImageRefused]:
    """Render several transforms of one original from one decode (the core's ``render_many``).

    If the core refuses the set, each job is rendered alone so that a refusal
    of one (say, an output too large) does not sink the others.
    """
    if len(jobs) > 1:
        try:
            return list(processing.render_many(source, list(jobs), limits))
        except ImageRefused:
            pass
    out: list[Rendered | ImageRefused] = []
    for transform, fmt in jobs:
        try:
            out.append(processing.render_transform(source, transform, fmt, limits))
        except ImageRefused as refused:
            out.append(refused)
    return out


def render_original(
    settings: Settings,
    bucket: str,
    original_key: str,
    queries: Sequence[str],
    *,
    accept: str | None = None,
) -> list[Result]:
    """Make every derivative ``queries`` ask of one original that is not already fresh.

    Returns one ``Result`` per query, in order. A bad original (missing,
    refused by the guards, corrupt) or a bad query gives ``failed`` results
    with a reason; S3 throttling and timeouts raise ``s3.TransientError``.
    """
    job = _Job(settings, bucket, original_key, list(queries), accept)
    job.run()
    for result in job.results.values():
        metrics.outcome(result.outcome, result.bytes)
    return [job.results[i] for i in range(len(queries))]


class _Job:
    """The steps of ``render_original``; ``todo`` shrinks as outcomes are known."""

    def __init__(
        self, settings: Settings, bucket: str, original_key: str, queries: list[str], accept: str | None
    ) -> None:
        self.settings, self.bucket, self.original_key = settings, bucket, original_key
        self.queries, self.accept = queries, accept
        self.limits = settings.limits()
        self.results: dict[int, Result] = {}
        self.todo: list[tuple[int, Transform]] = []
        self.named = format_of_path(original_key)
        self.client: Any = None

    def set(self, index: int, outcome: JobOutcome, key: str | None = None, **extra: Any) -> None:
        self.results[index] = Result(self.queries[index], outcome, key, **extra)

    def fail_all(self, reason: str) -> None:
        for index, _ in self.todo:
            self.set(index, "failed", reason=reason)
        self.todo = []

    def run(self) -> None:
        for index, query in enumerate(self.queries):
            try:
                transform = parse_query(query, self.limits)
            except InvalidArgument as error:
                self.set(index, "failed", reason=error.reason)
                continue
            if transform is None:
                self.set(index, "skipped", reason="no transform argument")
            else:
                self.todo.append((index, transform))
        if not self.todo:
            return
        self.client = s3.s3_client(self.settings)
        try:
            original = s3.open_original(self.client, self.bucket, self.original_key)
        except s3.OriginalMissing as missing:
            return self.fail_all(str(missing))
        data = self.download(original)
        if data is None:
            return None
        try:
            info = processing.probe(data, self.limits)
        except ImageRefused as refused:
            return self.fail_all(refused.reason)
        return self.render(data, info, original.etag)

    def download(self, original: s3.Original) -> bytes | None:
        """The original's bytes, unless every derivative is fresh or it is too large."""
        try:
            if self.named is not None:  # the output format (hence the key) is known before reading
                stale: list[tuple[int, Transform]] = []
                for index, transform in self.todo:
                    if self.fresh(transform, self.named, original.etag):
                        self.set(index, "fresh")
                    else:
                        stale.append((index, transform))
                self.todo = stale
            if not self.todo:
                return None
            limit = self.limits.max_source_bytes
            if original.size > limit:
                self.fail_all(f"original is {original.size} bytes; the limit is {limit}")
                return None
            return original.read()
        finally:
            original.close()

    def fresh(self, transform: Transform, source: OutputFormat, etag: str) -> bool:
        """Whether the derivative this request names is fresh (one key, static or animated)."""
        prefix = self.settings.derivative_prefix
        key = request_key(self.original_key, transform, source, accept=self.accept, prefix=prefix)
        return is_fresh(s3.head_metadata(self.client, self.bucket, key), etag)

    def render(self, data: bytes, info: processing.SourceInfo, etag: str) -> None:
        """Render what is still stale, from one decode, and write each derivative."""
        plan: list[tuple[int, Transform, Derivative]] = []
        for index, transform in self.todo:
            source = self.named or info.format
            target = name_derivative(self.original_key, transform, source, animated=info.animated,
                                     accept=self.accept, prefix=self.settings.derivative_prefix)  # fmt: skip
            if self.named is None and self.fresh(transform, source, etag):
                self.set(index, "fresh", target.key)
            else:
                plan.append((index, transform, target))
        started = time.perf_counter()
        rendered = render_set(data, [(transform, t.format) for _, transform, t in plan], self.limits)
        metrics.render_seconds(time.perf_counter() - started, len(plan))
        for (index, _, target), output in zip(plan, rendered, strict=True):
            if isinstance(output, ImageRefused):
                self.set(index, "failed", target.key, reason=output.reason)
                continue
            s3.put_derivative(
                self.client, self.bucket, target.key, output.data, fmt=target.format, original_etag=etag
            )
            self.set(index, "rendered", target.key, bytes=len(output.data))
