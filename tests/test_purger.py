"""Originals' changes purge their derivatives: S3 notifications → SQS → the purge function → CloudFront.

moto's server over HTTP delivers the bucket's real notifications (S3 → SQS,
and S3 → EventBridge → SQS) to the events queue; the function runs as
Lambda runs it, on a batch of those SQS messages (``purger.handler.handler``),
and as the ``tachyon-edge purge-events`` consumer. Derivatives are written by
the worker's own render code. Invalidations are read back from moto's
CloudFront API.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from core.changes import MAX_WILDCARDS_IN_PROGRESS, cdn_path, coalesce, latest, originals_changed
from core.jobs import EVENTS_QUEUE
from core.settings import Settings
from purger import handler as purge_function
from tests.aws import REGION, Endpoints, Stack, client
from tests.helpers import noisy_jpeg, noisy_png


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, endpoints: Endpoints) -> None:
    for name, value in endpoints.env().items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def distribution(aws: None, s3_endpoint: str, bucket: str) -> str:
    """A CloudFront distribution in front of the bucket, on moto."""
    config = {
        "CallerReference": uuid.uuid4().hex, "Comment": "tachyon", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "media", "DomainName": f"{bucket}.s3.amazonaws.com",
            "S3OriginConfig": {"OriginAccessIdentity": ""},
        }]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "media", "ViewerProtocolPolicy": "redirect-to-https",
            "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
        },
    }  # fmt: skip
    created = client(s3_endpoint, "cloudfront").create_distribution(DistributionConfig=config)
    return str(created["Distribution"]["Id"])


def wire(stack: Stack, s3: Any, bucket: str, route: str) -> None:
    """The bucket's notifications to the events queue, directly or through EventBridge."""
    target = stack.arn(stack.urls[EVENTS_QUEUE])
    if route == "direct":
        rule = {"Id": "originals", "QueueArn": target, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [rule]}
        )
    else:
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        events = client(stack.endpoint, "events")
        pattern = {"source": ["aws.s3"], "detail-type": ["Object Created", "Object Deleted"],
                   "detail": {"bucket": {"name": [bucket]}}}  # fmt: skip
        events.put_rule(Name=f"{stack.prefix}originals", EventPattern=json.dumps(pattern))
        events.put_targets(Rule=f"{stack.prefix}originals", Targets=[{"Id": "events", "Arn": target}])
    stack.receive(EVENTS_QUEUE, wait=1)  # S3's s3:TestEvent


def lambda_event(stack: Stack, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The event Lambda's SQS event source hands the function for these received messages."""
    arn = stack.arn(stack.urls[EVENTS_QUEUE])
    return {
        "Records": [
            {
                "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": REGION,
            }
            for m in messages
        ]
    }  # fmt: skip


def keys(s3: Any, bucket: str, prefix: str = "") -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {item["Key"] for page in pages for item in page.get("Contents", ())}


def invalidations(s3_endpoint: str, distribution: str) -> list[list[str]]:
    cloudfront = client(s3_endpoint, "cloudfront")
    listed = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"].get("Items", [])
    return [
        cloudfront.get_invalidation(DistributionId=distribution, Id=item["Id"])["Invalidation"][
            "InvalidationBatch"
        ]["Paths"]["Items"]
        for item in listed
    ]


@pytest.fixture
def configured(s3_endpoint: str, bucket: str, distribution: str) -> Iterator[Settings]:
    settings = Settings(s3_endpoint=s3_endpoint, bucket=bucket, cloudfront_distribution_id=distribution)
    purge_function.configure(settings)
    yield settings
    purge_function.configure(Settings())


def render(settings: Settings, bucket: str, key: str, *queries: str) -> None:
    """What the worker does for a queued job (its own code, writing to S3)."""
    from worker.render import render_original

    results = render_original(settings, bucket, key, list(queries))
    assert {r.outcome for r in results} == {"rendered"}, results


@pytest.mark.parametrize("route", ["direct", "eventbridge"])
def test_an_overwritten_original_loses_its_derivatives_and_one_invalidation_lists_its_path(
    configured: Settings,
    endpoints: Endpoints,
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
    distribution: str,
    route: str,
) -> None:
    stack = Stack(endpoints)
    wire(stack, s3_client, bucket, route)
    s3_client.put_object(Bucket=bucket, Key="photos/my photo.jpg", Body=noisy_jpeg(300, 200))
    s3_client.put_object(Bucket=bucket, Key="photos/other.png", Body=noisy_png(200, 100))
    render(configured, bucket, "photos/my photo.jpg", "w=100", "w=50")
    render(configured, bucket, "photos/other.png", "w=60")
    written = keys(s3_client, bucket, "_derivatives/")
    assert len(written) == 3

    # The uploads and the worker's three derivatives: nothing to purge, nothing to invalidate.
    events = stack.receive(EVENTS_QUEUE, wait=1)
    assert len(events) == 5
    assert purge_function.handler(lambda_event(stack, events)) == {"batchItemFailures": []}
    assert keys(s3_client, bucket, "_derivatives/") == written
    assert invalidations(s3_endpoint, distribution) == []

    s3_client.put_object(Bucket=bucket, Key="photos/my photo.jpg", Body=noisy_jpeg(300, 200, seed=7))
    events = stack.receive(EVENTS_QUEUE, wait=1)
    assert purge_function.handler(lambda_event(stack, events)) == {"batchItemFailures": []}
    assert keys(s3_client, bucket, "_derivatives/") == {k for k in written if "other.png" in k}
    assert invalidations(s3_endpoint, distribution) == [["/photos/my%20photo.jpg*"]]

    s3_client.delete_object(Bucket=bucket, Key="photos/other.png")
    purge_function.handler(lambda_event(stack, stack.receive(EVENTS_QUEUE, wait=1)))
    assert keys(s3_client, bucket, "_derivatives/") == set()
    assert sorted(invalidations(s3_endpoint, distribution)) == [
        ["/photos/my%20photo.jpg*"],
        ["/photos/other.png*"],
    ]


def test_a_render_that_raced_the_upload_event_is_kept(
    configured: Settings,
    endpoints: Endpoints,
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
    distribution: str,
) -> None:
    """A derivative of the new bytes, written before the event is read, is not purged."""
    stack = Stack(endpoints)
    wire(stack, s3_client, bucket, "direct")
    s3_client.put_object(Bucket=bucket, Key="a.jpg", Body=noisy_jpeg(300, 200))
    render(configured, bucket, "a.jpg", "w=100")
    stack.receive(EVENTS_QUEUE, wait=1)  # handled
    s3_client.put_object(Bucket=bucket, Key="a.jpg", Body=noisy_jpeg(300, 200, seed=3))
    render(configured, bucket, "a.jpg", "w=100", "w=40")  # w=100 again: its old render is stale
    assert len(keys(s3_client, bucket, "_derivatives/")) == 2
    purge_function.handler(lambda_event(stack, stack.receive(EVENTS_QUEUE, wait=1)))
    assert len(keys(s3_client, bucket, "_derivatives/")) == 2
    assert invalidations(s3_endpoint, distribution) == []


def test_the_purge_events_consumer_does_what_the_lambda_does(
    configured: Settings,
    endpoints: Endpoints,
    s3_endpoint: str,
    s3_client: Any,
    bucket: str,
    distribution: str,
) -> None:
    stack = Stack(endpoints)
    wire(stack, s3_client, bucket, "direct")
    for number in range(3):
        s3_client.put_object(Bucket=bucket, Key=f"dir/{number}.jpg", Body=noisy_jpeg(100, 80, seed=number))
        render(configured, bucket, f"dir/{number}.jpg", "w=30")
    for number in range(3):
        s3_client.put_object(
            Bucket=bucket, Key=f"dir/{number}.jpg", Body=noisy_jpeg(100, 80, seed=9 + number)
        )
    env = {"TACHYON_S3_ENDPOINT": s3_endpoint, "TACHYON_BUCKET": bucket,
           "TACHYON_QUEUE_PREFIX": stack.prefix, "TACHYON_CLOUDFRONT_DISTRIBUTION_ID": distribution,
           "TACHYON_INVALIDATION_WILDCARDS": "2"}  # fmt: skip
    result = CliRunner().invoke(
        purge_function_cli(), ["purge-events", "--once", "--window", "2"], env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "purged 3 original(s), 3 derivative(s)" in result.output
    assert keys(s3_client, bucket, "_derivatives/") == set()
    assert invalidations(s3_endpoint, distribution) == [["/dir/*"]], "three paths in a budget of two"
    assert stack.depth(EVENTS_QUEUE)[1] == 0, "every message handled is deleted"
    after = stack.receive(EVENTS_QUEUE)  # the purge's own deletes: derivatives, never purged
    assert len(after) == 3
    assert [c for m in after for c in originals_changed(json.loads(m["Body"]), "_derivatives/")] == []


def purge_function_cli() -> Any:
    from cli import main

    return main


# The pure parts: event shapes as AWS documents them, CDN paths, coalescing --------------------------


def s3_record(name: str, key: str, *, etag: str = "e1", sequencer: str = "0A") -> dict[str, Any]:
    """A record as "Event message structure" (Amazon S3 User Guide) shows it."""
    return {
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-05-01T10:00:00.250Z", "eventName": name,
        "userIdentity": {"principalId": "AWS:AIDA"}, "requestParameters": {"sourceIPAddress": "10.0.0.1"},
        "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "originals",
               "bucket": {"name": "media", "ownerIdentity": {"principalId": "A"},
                          "arn": "arn:aws:s3:::media"},
               "object": {"key": key, "size": 10, "eTag": etag, "versionId": "v", "sequencer": sequencer}},
    }  # fmt: skip


def test_every_shape_of_event_names_the_same_originals_and_never_a_derivative() -> None:
    direct = {"Records": [s3_record("ObjectCreated:Put", "uploads/red+flower.jpg"),
                          s3_record("ObjectCreated:Put", "_derivatives/uploads/red+flower.jpg/w1.r1.jpg"),
                          s3_record("ObjectCreated:Put", "docs/terms.pdf"),
                          s3_record("ObjectRestore:Completed", "uploads/old.jpg"),
                          s3_record("ObjectRemoved:Delete", "uploads/gone.png")]}  # fmt: skip
    sns = {
        "Type": "Notification",
        "MessageId": "m",
        "TopicArn": "arn:aws:sns:us-east-1:1:t",
        "Message": json.dumps(direct),
    }
    bridge = {
        "version": "0", "id": "x", "detail-type": "Object Created", "source": "aws.s3", "account": "1",
        "time": "2026-05-01T10:00:00Z", "region": "us-east-1", "resources": ["arn:aws:s3:::media"],
        "detail": {"version": "0", "bucket": {"name": "media"},
                   "object": {"key": "uploads/red flower.jpg", "size": 10, "etag": "e1", "sequencer": "0A"},
                   "request-id": "R", "requester": "1", "source-ip-address": "10.0.0.1",
                   "reason": "PutObject"},
    }  # fmt: skip
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "t", "Bucket": "media"}
    named = [(c.key, c.removed) for c in originals_changed(direct, "_derivatives/")]
    assert named == [("uploads/red flower.jpg", False), ("uploads/gone.png", True)]
    assert [(c.key, c.removed) for c in originals_changed(sns, "_derivatives/")] == named
    assert [(c.key, c.removed, c.etag) for c in originals_changed(bridge, "_derivatives/")] == [
        ("uploads/red flower.jpg", False, "e1")
    ]
    assert originals_changed(test_event, "_derivatives/") == []


def test_the_last_change_of_a_key_wins_whatever_order_the_events_came_in() -> None:
    later = s3_record("ObjectRemoved:Delete", "a.jpg", sequencer="0055AED6DCD90281E6")
    earlier = s3_record("ObjectCreated:Put", "a.jpg", sequencer="0055AED6DCD90281E5")
    (change,) = latest(originals_changed({"Records": [later, earlier]}, "_derivatives/")).values()
    assert change.removed


def test_cdn_paths_are_encoded_as_browsers_send_them_and_respect_the_origin_path() -> None:
    assert cdn_path("uploads/my photo+1 ü*.jpg") == "/uploads/my%20photo+1%20%C3%BC%2A.jpg"
    assert cdn_path("media/a.jpg", "/media") == "/a.jpg"
    assert cdn_path("other/a.jpg", "/media") is None


def test_ten_thousand_originals_fit_in_the_wildcard_budget() -> None:
    paths = [f"/uploads/2024/{month:02d}/photo-{n}.jpg" for month in range(1, 13) for n in range(834)]
    assert len(paths) > 10_000
    assert coalesce(paths, 12) == [f"/uploads/2024/{m:02d}/*" for m in range(1, 13)]
    assert coalesce(paths, 10) == ["/uploads/2024/*"]
    assert coalesce(paths[:3], 10) == sorted(p + "*" for p in paths[:3])
    assert coalesce(["/a.jpg", "/b.jpg"], 1) == ["/*"]
    mixed = [*paths, "/logo.png"]
    assert coalesce(mixed, 3) == ["/logo.png*", "/uploads/2024/*"]
    assert MAX_WILDCARDS_IN_PROGRESS == 15
