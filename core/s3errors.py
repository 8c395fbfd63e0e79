"""What an S3 (or lock store, job table, queue) error means, decided once for the edge and the worker.

- *missing*: the key is not there. S3 answers 404 (``NoSuchKey``/``NotFound``)
  to a caller that may list the bucket and 403 (``AccessDenied``) to one that
  may not; both mean "not there" (the documented IAM grants no ListBucket).
- *transient*: throttling, timeouts, 5xx, dropped connections: a later attempt
  may succeed (the worker retries with backoff; the edge serves the original).
- *error*: anything else (bad credentials aside from 403, a malformed request).

Pure: errors are read by their ``response`` (botocore's ``ClientError``) and by
the names of their classes, so neither botocore nor redis is imported here.
"""

from __future__ import annotations

from typing import Literal

Meaning = Literal["missing", "transient", "error"]

MISSING_CODES = frozenset({"404", "403", "NoSuchKey", "NotFound", "AccessDenied", "Forbidden"})
TRANSIENT_CODES = frozenset(
    {
        "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
        "InternalError", "ServiceUnavailable", "OperationAborted", "RequestLimitExceeded",
        "ConditionalRequestConflict", "500", "502", "503", "504",
        # DynamoDB and SQS (the job table, the queues)
        "ProvisionedThroughputExceededException", "InternalServerError", "ServiceUnavailableException",
        "TransactionConflictException", "RequestThrottled", "KMSThrottlingException",
    }
)  # fmt: skip
#: Exception classes (botocore's, urllib3's, redis's, the builtins) for a connection
#: that failed, dropped or timed out.
TRANSIENT_CLASSES = frozenset(
    {
        "ConnectionError", "ConnectionClosedError", "ConnectTimeoutError", "EndpointConnectionError",
        "IncompleteReadError", "ReadTimeoutError", "ResponseStreamingError", "TimeoutError",
        "ProtocolError", "BusyLoadingError",
    }
)  # fmt: skip


def error_code(error: BaseException) -> str | None:
    """The S3 error code of a ``ClientError`` (else its HTTP status), or None for other errors."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    code = (response.get("Error") or {}).get("Code")
    if code:
        return str(code)
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return str(status) if status else None


def status_of(error: BaseException) -> int:
    """The HTTP status of a ``ClientError``, or 0."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return 0
    try:
        return int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    except (TypeError, ValueError):
        return 0


def meaning(error: BaseException) -> Meaning:
    """Whether ``error`` says the key is missing, is worth another attempt, or is final."""
    code = error_code(error)
    if code in MISSING_CODES:
        return "missing"
    if code in TRANSIENT_CODES or status_of(error) >= 500:
        return "transient"
    if code is None and any(cls.__name__ in TRANSIENT_CLASSES for cls in type(error).__mro__):
        return "transient"
    return "error"


def describe(error: BaseException) -> str:
    """A short one-line reason for a log line or a failure record."""
    return f"{type(error).__name__}: {error}"[:300]
