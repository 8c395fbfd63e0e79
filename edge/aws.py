"""The AWS-native queue adapters of the edge: SQS to send, the DynamoDB job table to claim.

Both use botocore (already loaded for S3) in threads, with clients made on
first use and named for ``queue_region`` — never the replica's own region, so
a Lambda@Edge copy running in Frankfurt still sends to the queues in, say,
us-east-1 (docs/deploy.md). Nothing is created: the queue URL is configured
(``queue_urls``) or looked up once per container with ``GetQueueUrl``.

- ``SqsSender``: one ``SendMessage`` of ``core.jobs.celery_message`` (the body
  kombu would write), so the edge needs neither Celery nor pycurl, and its IAM
  role only ``sqs:SendMessage`` (plus ``sqs:GetQueueUrl`` without ``queue_urls``);
- ``TableClaims``: one conditional ``UpdateItem`` per miss (``core.jobtable``).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.session import get_session

from core.clients import aws_options
from core.jobs import LIVE_QUEUE, RENDER_TASK, RenderJob, celery_message, sqs_queue_name
from core.jobtable import claim, refusal, release
from core.s3errors import error_code
from edge.queue import PENDING

if TYPE_CHECKING:
    from core.settings import Settings

_lock = threading.Lock()


def client(settings: Settings, service: str) -> Any:
    """A botocore client for ``service`` in the queue region (SQS, DynamoDB)."""
    client_kwargs, config = aws_options(settings, "edge", service)
    with _lock:  # botocore's session is not safe to build clients from concurrently
        return get_session().create_client(service, config=Config(**config), **client_kwargs)


class SqsSender:
    """Sends render jobs to the live SQS queue with botocore."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._sqs: Any = None
        self._url: str | None = settings.queue_urls.get(LIVE_QUEUE)
        self._ready = threading.Lock()

    def _target(self) -> tuple[Any, str]:
        with self._ready:
            if self._sqs is None:
                self._sqs = client(self._settings, "sqs")
            if self._url is None:
                name = sqs_queue_name(LIVE_QUEUE, self._settings.queue_prefix)
                self._url = str(self._sqs.get_queue_url(QueueName=name)["QueueUrl"])
        return self._sqs, self._url

    def _send(self, job: RenderJob) -> str:
        sqs, url = self._target()
        task_id = str(uuid.uuid4())
        body = celery_message(RENDER_TASK, job.to_kwargs(), queue=LIVE_QUEUE, task_id=task_id)
        sqs.send_message(QueueUrl=url, MessageBody=body)
        return task_id

    async def send(self, job: RenderJob) -> str:
        return await asyncio.to_thread(self._send, job)

    async def close(self) -> None:
        client, self._sqs = self._sqs, None
        if client is not None:
            await asyncio.to_thread(client.close)


class TableClaims:
    """Claims in the DynamoDB job table: the conditional update decides, in one request."""

    def __init__(self, settings: Settings) -> None:
        assert settings.job_table
        self._settings = settings
        self._table: str = settings.job_table
        self._ddb: Any = None
        self._ready = threading.Lock()

    def _client(self) -> Any:
        with self._ready:
            if self._ddb is None:
                self._ddb = client(self._settings, "dynamodb")
        return self._ddb

    def _claim(self, job: RenderJob, token: str) -> str | None:
        ddb, now, settings = self._client(), time.time(), self._settings
        request = claim(self._table, token, job.etag, now=now,
                        pending_ttl=settings.pending_ttl, failure_ttl=settings.failure_ttl)  # fmt: skip
        try:
            ddb.update_item(**request)
        except Exception as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            reason = refusal(getattr(error, "response", {}).get("Item"), job.etag, now=now)
            return "worker gave up: " + reason[:200] if reason is not None else PENDING
        return None

    async def claim(self, job: RenderJob, token: str) -> str | None:
        return await asyncio.to_thread(self._claim, job, token)

    async def release(self, token: str) -> None:
        try:
            await asyncio.to_thread(self._client().update_item, **release(self._table, token))
        except Exception:  # the pending mark expires anyway
            return

    async def close(self) -> None:
        client, self._ddb = self._ddb, None
        if client is not None:
            await asyncio.to_thread(client.close)
