"""Budgets: at most N distinct derivatives per original, at most M jobs waiting on the live queue.

Beyond either, the viewer gets the original with the short fallback lifetime and
nothing is rendered, stored or enqueued (docs/security.md, "Budgets"). This module
is the pure part: the names and requests; ``edge.budget`` sends them.

A derivative is counted once, by a short hash of its key, in one set per original:
a Redis set (``budget_key``) refreshed to expire ``budget_window`` seconds after the
last new member, or one item of the DynamoDB job table (``count_request``) whose
condition admits a member already there, or one more while there are fewer than N.
"""

from __future__ import annotations

import hashlib
from typing import Any

from core.jobtable import KEY, TTL_ATTRIBUTE

#: Redis: admit ``ARGV[1]`` into the set ``KEYS[1]`` unless it holds ``ARGV[2]`` others; 1 = admitted.
ADMIT_SCRIPT = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""


def _digest(text: str, size: int) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:size]


def budget_key(bucket: str, original_key: str) -> str:
    """The Redis set (and the job table item, after ``budget:``) counting one original's derivatives."""
    return f"tachyon:budget:{_digest(bucket + '/' + original_key, 32)}"


def table_key(bucket: str, original_key: str) -> dict[str, Any]:
    """The job table item counting one original's derivatives."""
    return {KEY: {"S": "budget:" + _digest(bucket + "/" + original_key, 32)}}


def member(derivative_key: str) -> str:
    """One derivative as the set holds it (16 hex digits: 1,000 of them are 16 KB)."""
    return _digest(derivative_key, 16)


def count_request(
    table: str, bucket: str, original_key: str, derivative_key: str, *, limit: int, now: float, window: int
) -> dict[str, Any]:
    """``UpdateItem`` adding ``derivative_key`` to the original's set, refused when it would be the
    ``limit + 1``-th; DynamoDB's TTL clears the item ``window`` seconds after its last change."""
    return {
        "TableName": table,
        "Key": table_key(bucket, original_key),
        "UpdateExpression": f"ADD derivatives :member SET {TTL_ATTRIBUTE} = :expires",
        "ConditionExpression": "attribute_not_exists(derivatives) OR contains(derivatives, :one) "
        "OR size(derivatives) < :limit",
        "ExpressionAttributeValues": {
            ":member": {"SS": [member(derivative_key)]},
            ":one": {"S": member(derivative_key)},
            ":limit": {"N": str(limit)},
            ":expires": {"N": str(int(now) + window)},
        },
    }
