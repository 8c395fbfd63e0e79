"""The AWS-native resources, made on moto's server the way the infrastructure would make them.

``Stack`` creates what docs/configuration.md ("AWS resources") names, under a
prefix of its own so tests never share a queue: the SQS queues ``derivatives``
and ``batch`` (visibility timeout, dead-letter queue after ``max_receives``),
the S3 events queue, and the DynamoDB job table (key ``pk``, TTL on
``expires_at``). The application creates none of these itself.
``env()`` gives a worker process the same view (settings and endpoints).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3

from core.jobs import DEAD_LETTER_SUFFIX, EVENTS_QUEUE, QUEUES, sqs_queue_name
from core.jobtable import KEY, TTL_ATTRIBUTE

REGION = "us-east-1"


@dataclass(frozen=True)
class Endpoints:
    """moto's servers: one for S3, SQS, CloudFront, EventBridge; one serving DynamoDB a request at a time."""

    main: str
    dynamodb: str

    def env(self) -> dict[str, str]:
        """botocore's per-service endpoint variables pointing SQS, DynamoDB and CloudFront at moto."""
        return {
            "AWS_ENDPOINT_URL_SQS": self.main,
            "AWS_ENDPOINT_URL_CLOUDFRONT": self.main,
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb,
        }


def client(endpoint: str, service: str, region: str = REGION) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=region)  # type: ignore[call-overload]


@dataclass
class Stack:
    """Queues, dead-letter queues and the job table of one test, in ``REGION``."""

    endpoints: Endpoints
    visibility_timeout: int = 30
    max_receives: int = 5
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}-")
    urls: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.endpoint = self.endpoints.main
        self.sqs = client(self.endpoint, "sqs")
        self.ddb = client(self.endpoints.dynamodb, "dynamodb")
        self.table = f"{self.prefix}jobs"
        for name in (*QUEUES, EVENTS_QUEUE):
            queue = sqs_queue_name(name, self.prefix)
            dead = self.sqs.create_queue(QueueName=queue + DEAD_LETTER_SUFFIX)["QueueUrl"]
            arn = self.arn(dead)
            policy = {"deadLetterTargetArn": arn, "maxReceiveCount": str(self.max_receives)}
            attributes = {
                "VisibilityTimeout": str(self.visibility_timeout),
                "RedrivePolicy": json.dumps(policy),
            }
            self.urls[name] = self.sqs.create_queue(QueueName=queue, Attributes=attributes)["QueueUrl"]
            self.urls[name + DEAD_LETTER_SUFFIX] = dead
        self.ddb.create_table(
            TableName=self.table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
        )
        self.ddb.update_time_to_live(
            TableName=self.table, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
        )

    def arn(self, url: str) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        return str(attributes["QueueArn"])

    def settings(self) -> dict[str, Any]:
        """The settings fields that point the edge and the worker at this stack (URLs resolved by name)."""
        return {
            "broker_url": "sqs://",
            "queue_prefix": self.prefix,
            "queue_region": REGION,
            "job_table": self.table,
        }

    def env(self) -> dict[str, str]:
        """The same as ``TACHYON_*`` variables, with moto's endpoints, for a worker or CLI process."""
        return {
            "TACHYON_BROKER_URL": "sqs://",
            "TACHYON_QUEUE_PREFIX": self.prefix,
            "TACHYON_QUEUE_REGION": REGION,
            "TACHYON_JOB_TABLE": self.table,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            **self.endpoints.env(),
        }

    def job_items(self) -> list[dict[str, Any]]:
        """The job table's job records (it also holds the derivative budgets' counts, ``budget:…``)."""
        items = self.ddb.scan(TableName=self.table)["Items"]
        return [item for item in items if item[KEY]["S"].startswith("job:")]

    def depth(self, name: str) -> tuple[int, int]:
        """(visible, in flight) of one queue."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        got = self.sqs.get_queue_attributes(QueueUrl=self.urls[name], AttributeNames=names)["Attributes"]
        return int(got[names[0]]), int(got[names[1]])

    def receive(self, name: str, *, delete: bool = True, wait: int = 0) -> list[dict[str, Any]]:
        """Every message now visible on a queue (deleted unless ``delete`` is false)."""
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(
                QueueUrl=self.urls[name], MaxNumberOfMessages=10, WaitTimeSeconds=wait,
                AttributeNames=["All"], MessageAttributeNames=["All"],
            ).get("Messages", [])  # fmt: skip
            if not got:
                return out
            out += got
            wait = 0
            if delete:
                for message in got:
                    self.sqs.delete_message(QueueUrl=self.urls[name], ReceiptHandle=message["ReceiptHandle"])
