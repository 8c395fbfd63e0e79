"""A job's record in the DynamoDB job table: the same item for the edge and the worker.

Without Redis, the pending / failed / attempts keys of ``core.jobs`` live in
one DynamoDB item per job (``pk = "job:" + token``). Each operation is one
``UpdateItem`` whose condition does the deciding, so one miss costs one
request, winner or loser (docs/worker.md compares the mechanisms):

- ``claim``: the edge takes the job unless it is pending or has a failure
  record for this version of the original; a loser learns which from the old
  item (``ReturnValuesOnConditionCheckFailure``);
- ``release`` (the send failed), ``done`` / ``failed`` (the job ended),
  ``start`` / ``forget_start`` (the count of killed renders): the worker.

Expiry is in the conditions (``*_until`` against the request's clock), so
DynamoDB's TTL on ``expires_at`` only cleans up (it deletes within days, not
on time). Pure: these build the request parameters; the adapters send them.
"""

from __future__ import annotations

from typing import Any

#: The table's partition key (type S) and its TTL attribute (type N, epoch seconds).
KEY = "pk"
TTL_ATTRIBUTE = "expires_at"

_ANY_ETAG = ""  # a failure recorded without an ETag applies to every version


def job_item_key(token: str) -> dict[str, Any]:
    """The DynamoDB key of a job's item."""
    return {KEY: {"S": f"job:{token}"}}


def _n(value: float) -> dict[str, str]:
    """A time as a DynamoDB number, to the millisecond (whole seconds would stretch expiries by up to 1 s)."""
    return {"N": f"{value:.3f}"}


def _ttl(value: float) -> dict[str, str]:
    """An expiry for DynamoDB's TTL, which reads whole epoch seconds."""
    return {"N": str(int(value) + 1)}


def claim(
    table: str, token: str, etag: str | None, *, now: float, pending_ttl: int, failure_ttl: int
) -> dict[str, Any]:
    """``UpdateItem`` that marks the job pending, unless it is pending or failed for ``etag``."""
    values: dict[str, Any] = {
        ":now": _n(now),
        ":pending": _n(now + pending_ttl),
        ":expires": _ttl(now + pending_ttl + failure_ttl),
    }
    not_failed = "attribute_not_exists(failed_until) OR failed_until < :now"
    if etag:  # a record about another version of the original is stale
        not_failed += " OR (failed_etag <> :etag AND failed_etag <> :any)"
        values |= {":etag": {"S": etag}, ":any": {"S": _ANY_ETAG}}
    return {
        "TableName": table,
        "Key": job_item_key(token),
        "UpdateExpression": f"SET pending_until = :pending, {TTL_ATTRIBUTE} = :expires "
        "REMOVE failed_until, failed_etag, failed_reason",
        "ConditionExpression": "(attribute_not_exists(pending_until) OR pending_until < :now) "
        f"AND ({not_failed})",
        "ExpressionAttributeValues": values,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def refusal(item: dict[str, Any] | None, etag: str | None, *, now: float) -> str | None:
    """Why a claim lost, from the item it found: the failure reason, or None (pending)."""
    item = item or {}
    until = float((item.get("failed_until") or {}).get("N", 0))
    recorded = (item.get("failed_etag") or {}).get("S", _ANY_ETAG)
    if until < now or (etag and recorded not in (_ANY_ETAG, etag)):
        return None
    return str((item.get("failed_reason") or {}).get("S", "failed"))


def release(table: str, token: str) -> dict[str, Any]:
    """``UpdateItem`` that drops the pending mark (a send that failed, so the next miss retries)."""
    return {"TableName": table, "Key": job_item_key(token), "UpdateExpression": "REMOVE pending_until"}


def done(table: str, token: str) -> dict[str, Any]:
    """``DeleteItem`` the worker sends when a job ended well: nothing is pending or counted."""
    return {"TableName": table, "Key": job_item_key(token)}


def failed(
    table: str, token: str, etag: str | None, reason: str, *, now: float, failure_ttl: int
) -> dict[str, Any]:
    """``UpdateItem`` the worker sends when it gives up: the reason, for this version, for a while."""
    return {
        "TableName": table,
        "Key": job_item_key(token),
        "UpdateExpression": f"SET failed_until = :until, failed_etag = :etag, failed_reason = :reason, "
        f"{TTL_ATTRIBUTE} = :expires REMOVE pending_until, start_count, starts_until",
        "ExpressionAttributeValues": {
            ":until": _n(now + failure_ttl),
            ":expires": _ttl(now + failure_ttl),
            ":etag": {"S": etag or _ANY_ETAG},
            ":reason": {"S": reason[:1000]},
        },
    }


def first_start(table: str, token: str, *, now: float, failure_ttl: int) -> dict[str, Any]:
    """``UpdateItem`` counting the first start of a job (no count yet, or an expired one)."""
    return {
        "TableName": table,
        "Key": job_item_key(token),
        "UpdateExpression": f"SET start_count = :one, starts_until = :until, {TTL_ATTRIBUTE} = :expires",
        "ConditionExpression": "attribute_not_exists(starts_until) OR starts_until < :now",
        "ExpressionAttributeValues": {
            ":one": {"N": "1"},
            ":now": _n(now),
            ":until": _n(now + failure_ttl),
            ":expires": _ttl(now + failure_ttl),
        },
    }


def next_start(table: str, token: str, *, now: float, failure_ttl: int) -> dict[str, Any]:
    """``UpdateItem`` counting a further start (the last one never finished); returns the count."""
    return {
        "TableName": table,
        "Key": job_item_key(token),
        "UpdateExpression": f"ADD start_count :one SET starts_until = :until, {TTL_ATTRIBUTE} = :expires",
        "ExpressionAttributeValues": {
            ":one": {"N": "1"},
            ":until": _n(now + failure_ttl),
            ":expires": _ttl(now + failure_ttl),
        },
        "ReturnValues": "UPDATED_NEW",
    }


def forget_start(table: str, token: str) -> dict[str, Any]:
    """``UpdateItem`` dropping the count of starts: this start ended in Python."""
    return {
        "TableName": table,
        "Key": job_item_key(token),
        "UpdateExpression": "REMOVE start_count, starts_until",
    }
