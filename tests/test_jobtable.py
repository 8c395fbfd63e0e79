"""A job's records in the DynamoDB job table, as the edge claims them and the worker keeps them.

The edge's ``TableClaims`` and the worker's ``TableLedger`` against moto's
DynamoDB over HTTP, on one table made as the infrastructure makes it
(``tests.aws.Stack``): what a second miss learns, what a give-up blocks and
for how long, and the count of killed starts.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from core.jobs import RenderJob
from core.settings import Settings
from edge.aws import TableClaims
from edge.queue import PENDING
from tests.aws import Endpoints, Stack
from worker.ledger import TableLedger


@pytest.fixture
def stack(endpoints: Endpoints, monkeypatch: pytest.MonkeyPatch) -> Stack:
    for name, value in endpoints.env().items():
        monkeypatch.setenv(name, value)
    return Stack(endpoints)


def job(etag: str = "v1") -> RenderJob:
    return RenderJob("media", "big.png", "w=100", "token-1", None, etag)


def test_a_claim_is_taken_once_then_released_by_the_worker(stack: Stack) -> None:
    settings = Settings(**stack.settings())
    claims, ledger = TableClaims(settings), TableLedger(settings, stack.table)

    async def claim(etag: str = "v1") -> str | None:
        return await claims.claim(job(etag), "token-1")

    assert asyncio.run(claim()) is None
    assert asyncio.run(claim()) == PENDING
    assert asyncio.run(claim("v2")) == PENDING, "pending whatever the version"
    ledger.finish("token-1", "v1", None)
    assert stack.ddb.scan(TableName=stack.table)["Items"] == []
    assert asyncio.run(claim()) is None


def test_a_give_up_blocks_this_version_for_the_failure_ttl_and_never_a_new_one(stack: Stack) -> None:
    settings = Settings(**stack.settings(), failure_ttl=2)
    claims, ledger = TableClaims(settings), TableLedger(settings, stack.table)

    async def claim(etag: str) -> str | None:
        return await claims.claim(job(etag), "token-1")

    assert asyncio.run(claim("v1")) is None
    ledger.finish("token-1", "v1", "corrupt PNG")
    assert asyncio.run(claim("v1")) == "worker gave up: corrupt PNG"
    assert asyncio.run(claim("v2")) is None, "the original was replaced: the new bytes are queued"
    ledger.finish("token-1", "v2", "still corrupt")
    time.sleep(2.1)
    assert asyncio.run(claim("v2")) is None, "the record expired"


def test_a_released_claim_lets_the_next_miss_send(stack: Stack) -> None:
    claims = TableClaims(Settings(**stack.settings()))
    assert asyncio.run(claims.claim(job(), "token-1")) is None
    asyncio.run(claims.release("token-1"))  # the send failed
    assert asyncio.run(claims.claim(job(), "token-1")) is None


def test_killed_starts_are_counted_until_one_ends_or_the_count_expires(stack: Stack) -> None:
    ledger = TableLedger(Settings(**stack.settings(), failure_ttl=2), stack.table)
    assert [ledger.count_start("token-1") for _ in range(4)] == [1, 2, 3, 4]
    ledger.forget_start("token-1")
    assert ledger.count_start("token-1") == 1
    time.sleep(2.1)
    assert ledger.count_start("token-1") == 1, "starts older than the failure TTL are forgotten"
