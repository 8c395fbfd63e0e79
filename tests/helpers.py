"""Helpers shared by the tests (importable as ``tests.helpers``).

- ``LIMITS``: the default guard limits, passed explicitly as every core caller must;
- ``noisy_jpeg`` / ``noisy_png``: real, seeded images with texture, so renders are meaningful;
- ``EdgeQueue``: enqueues render jobs exactly as the edge does (``edge.queue.JobQueue``
  with the job ``core.jobs.render_job`` builds), for tests that feed a real worker;
- ``messages``: the Celery messages waiting on the live queue of a Redis broker.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from typing import Any

from PIL import Image

from core.args import parse_query
from core.formats import format_of_path
from core.jobs import LIVE_QUEUE, RenderJob, job_token, render_job
from core.keys import DEFAULT_PREFIX, derivative_key
from core.limits import Limits
from core.objects import normalise_etag
from core.settings import Settings
from core.types import OutputFormat
from edge.queue import JobQueue, Sent

LIMITS = Limits()


def noisy_image(width: int, height: int, seed: int = 1, mode: str = "RGB") -> Image.Image:
    """A picture of seeded Gaussian noise (texture everywhere, like a photo's detail)."""
    return Image.effect_noise((width, height), 40 + seed % 20).convert(mode)


def noisy_jpeg(width: int, height: int, seed: int = 1, quality: int = 85) -> bytes:
    """A real JPEG of ``noisy_image``."""
    out = io.BytesIO()
    noisy_image(width, height, seed).save(out, "JPEG", quality=quality)
    return out.getvalue()


def noisy_png(width: int, height: int, seed: int = 1, mode: str = "RGB") -> bytes:
    """A real PNG of ``noisy_image``."""
    out = io.BytesIO()
    noisy_image(width, height, seed, mode).save(out, "PNG")
    return out.getvalue()


class EdgeQueue:
    """The edge's enqueue step, run on its own event loop: the message a real miss sends."""

    def __init__(self, settings: Settings, s3: Any) -> None:
        self.settings = settings
        self.s3 = s3
        self.loop = asyncio.new_event_loop()
        self.queue = JobQueue(settings)

    def job(self, bucket: str, key: str, query: str, accept: str | None = None) -> RenderJob:
        """The job a miss on ``key?query`` builds (with the original's ETag when it exists)."""
        transform = parse_query(query, self.settings.limits())
        source = format_of_path(key)
        assert transform is not None and source is not None, (key, query)
        try:
            etag = normalise_etag(self.s3.head_object(Bucket=bucket, Key=key)["ETag"]) or None
        except self.s3.exceptions.ClientError:
            etag = None
        return render_job(bucket, key, query, transform, source, accept=accept, etag=etag,
                          prefix=self.settings.derivative_prefix)  # fmt: skip

    def send(self, job: RenderJob) -> Sent:
        """Enqueue as the edge does (pending key, failure record, send by name)."""
        return self.loop.run_until_complete(self.queue.enqueue(job))

    def enqueue(self, bucket: str, key: str, query: str, accept: str | None = None) -> tuple[str, str]:
        """Build and send; the job must be sent. → (job token, task id)."""
        job = self.job(bucket, key, query, accept)
        sent = self.send(job)
        assert sent.outcome == "queued" and sent.task_id and job.token, sent
        return job.token, sent.task_id

    def close(self) -> None:
        """Close the lock store client and the loop."""
        self.loop.run_until_complete(self.queue.close())
        self.loop.close()


def token_for(bucket: str, key: str, query: str, fmt: OutputFormat, prefix: str = DEFAULT_PREFIX) -> str:
    """The job token of the derivative ``key?query`` as ``fmt``: it names that derivative's key."""
    transform = parse_query(query, LIMITS)
    assert transform is not None
    return job_token(bucket, derivative_key(key, transform, fmt, prefix))


def messages(broker: Any) -> list[dict[str, Any]]:
    """The Celery messages waiting on the live queue of a Redis broker: task name and kwargs."""
    out = []
    for raw in broker.lrange(LIVE_QUEUE, 0, -1):
        envelope = json.loads(raw)
        _args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        out.append({"task": envelope["headers"]["task"], "kwargs": kwargs})
    return out
