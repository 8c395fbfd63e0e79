"""Shared fixtures: real parts only.

- S3 is moto's threaded server over HTTP (one per test session, a fresh bucket per test);
- Redis is the machine's real server, on a database number this run holds alone
  (a lock key in database 0 keeps concurrent runs apart);
- images are the real corpus files in ``tests/fixtures`` and seeded generated ones;
- fault tests get their own ``redis-server`` (``own_redis``) and a fault proxy in front of
  the S3 server (``proxy``), from ``tests.faults``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.pop("TACHYON_CONFIG", None)

FIXTURES = Path(__file__).parent / "fixtures"
REDIS_HOST = os.environ.get("TACHYON_TEST_REDIS", "redis://127.0.0.1:6379")


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """The folder of real test images (copied from Tachyon's test suite)."""
    return FIXTURES


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server over HTTP on a free loopback port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def dynamodb_endpoint(s3_endpoint: str) -> Iterator[str]:
    """The same moto backends, behind a server that handles one request at a time, for DynamoDB.

    DynamoDB applies a conditional write atomically; moto checks and writes
    in two steps, so two concurrent requests on its threaded server can both
    pass one condition. Served one at a time, as DynamoDB's guarantee implies.
    """
    import threading

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, app, threaded=False, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="session")
def endpoints(s3_endpoint: str, dynamodb_endpoint: str) -> Any:
    """Both moto servers, as ``tests.aws.Endpoints``."""
    from tests.aws import Endpoints

    return Endpoints(s3_endpoint, dynamodb_endpoint)


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str) -> Any:
    """A plain boto3 client for arranging and inspecting the bucket in tests."""
    import boto3

    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(s3_client: Any) -> str:
    """A new empty bucket for one test."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis database that only this test run uses, flushed before use."""
    admin = redis.Redis.from_url(f"{REDIS_HOST}/0")
    token = f"{os.getpid()}-{uuid.uuid4().hex}"
    for number in range(1, 16):
        if admin.set(f"tachyon-test-db:{number}", token, nx=True, ex=3600):
            break
    else:
        pytest.fail("no free Redis database for this test run (all 15 held)")
    url = f"{REDIS_HOST}/{number}"
    redis.Redis.from_url(url).flushdb()
    yield url
    redis.Redis.from_url(url).flushdb()
    if admin.get(f"tachyon-test-db:{number}") == token.encode():
        admin.delete(f"tachyon-test-db:{number}")


@pytest.fixture
def broker(redis_url: str) -> redis.Redis:
    """The test run's Redis database, emptied: the broker and the lock store."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    return client


@pytest.fixture(scope="session")
def s3log(s3_endpoint: str) -> Iterator[Any]:
    """A second endpoint to the session's moto S3 that logs every request (``tests.s3log``),
    each answered 20 ms late so that requests sent together overlap there."""
    from tests.s3log import S3Log

    log = S3Log(latency=0.02)
    yield log
    log.stop()


@pytest.fixture
def own_redis() -> Iterator[Any]:
    """A ``redis-server`` this test alone uses, to stop, freeze and restart (``tests.faults.OwnRedis``)."""
    from tests.faults import OwnRedis

    server = OwnRedis()
    yield server
    server.close()


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[Any]:
    """A ``tests.faults.FaultProxy`` in front of the session's moto S3 server."""
    from tests.faults import FaultProxy

    faulty = FaultProxy(int(s3_endpoint.rsplit(":", 1)[1]))
    yield faulty
    faulty.close()
