"""The purge function without Lambda: long-poll the events queue, purge in windows, delete what is done.

What Lambda's SQS event source does for ``purger.handler``, as a loop for
deployments without Lambda (Kubernetes, a VM) and for local use
(``tachyon-edge purge-events``): gather messages for up to ``window`` seconds
(at most ``max_messages``), purge them as one batch (one invalidation), then
delete the messages that succeeded; the others come back after the queue's
visibility timeout. Run one consumer per distribution, as Lambda runs the
function with reserved concurrency 1.
"""

from __future__ import annotations

import time
from typing import Any

from core.jobs import EVENTS_QUEUE, sqs_queue_name
from core.settings import Settings
from purger.handler import Outcome, client, messages, purge


def events_queue_url(settings: Settings, url: str | None = None) -> str:
    """The events queue: given, else ``queue_prefix + "events"`` resolved with ``GetQueueUrl``."""
    if url:
        return url
    name = sqs_queue_name(EVENTS_QUEUE, settings.queue_prefix)
    return str(client(settings, "sqs").get_queue_url(QueueName=name)["QueueUrl"])


def receive(settings: Settings, url: str, *, window: float, max_messages: int) -> list[dict[str, Any]]:
    """Messages gathered for up to ``window`` seconds (long polls of up to 10 each)."""
    sqs, got = client(settings, "sqs"), list[dict[str, Any]]()
    deadline = time.monotonic() + window
    while len(got) < max_messages:
        wait = max(0, min(20, int(deadline - time.monotonic())))
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
        got += answer.get("Messages") or []
        if time.monotonic() >= deadline:
            break
    return got


def run_once(settings: Settings, url: str, *, window: float = 30.0, max_messages: int = 10_000) -> Outcome:
    """One window: receive, purge as one batch, delete the messages that are done."""
    received = receive(settings, url, window=window, max_messages=max_messages)
    records = [{"eventSource": "aws:sqs", "messageId": m["MessageId"], "body": m["Body"]} for m in received]
    outcome = purge(settings, messages({"Records": records})) if records else Outcome()
    retry = set(outcome.failed)
    done = [m for m in received if m["MessageId"] not in retry]
    sqs = client(settings, "sqs")
    for start in range(0, len(done), 10):
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
            for i, m in enumerate(done[start : start + 10])
        ]
        sqs.delete_message_batch(QueueUrl=url, Entries=entries)
    return outcome
