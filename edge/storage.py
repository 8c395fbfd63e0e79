"""The edge's S3 adapter: HEAD, GET and PUT through aiobotocore's async client.

Why aiobotocore directly: the hit path asks S3 about the derivative(s) and the
original at the same time (one round trip), which needs an async client; and
aioboto3 is only a resource-style wrapper over aiobotocore, so importing the
engine alone keeps the cold start close to plain boto3's.

The client is made once, inside the running event loop, on first use, and
reused for every later call (one per Lambda container, one per local server).
A missing key is ``None``, not an error: S3 answers 404 when the caller may
list the bucket and 403 otherwise, and both mean "not there" to the edge.
Every other failure (timeouts, connection errors, 5xx, throttling) becomes
``StorageError`` with a short reason for the log.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

if TYPE_CHECKING:
    from edge.config import Settings

_MISSING_CODES = frozenset({"404", "403", "NoSuchKey", "NotFound", "AccessDenied", "Forbidden"})


class StorageError(Exception):
    """S3 failed in a way that is ours to absorb (the viewer gets the original)."""


@dataclass(frozen=True, slots=True)
class Head:
    """What a HEAD (or GET) says about an object."""

    etag: str | None
    size: int | None
    metadata: dict[str, str] = field(default_factory=dict)


def _status(error: Exception) -> str | None:
    """The S3 error code of a botocore ``ClientError`` (or its HTTP status), else None."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    if code:
        return str(code)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(status) if status else None


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]


class S3Storage:
    """S3 for one edge: a lazily made async client, reused across invocations."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        self._settings = settings
        self._client = client
        self._stack: AsyncExitStack | None = None
        self._lock = asyncio.Lock()

    @property
    def needs_client(self) -> bool:
        """Whether the next call will make the client first."""
        return self._client is None

    async def client(self) -> Any:
        """The aiobotocore S3 client, made on first use in the running loop."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                s = self._settings
                config = AioConfig(
                    connect_timeout=s.s3_timeout,
                    read_timeout=s.s3_timeout,
                    retries={"max_attempts": 2, "mode": "standard"},
                    max_pool_connections=64,
                    s3={"addressing_style": "path"} if s.s3_endpoint else None,
                )
                stack = AsyncExitStack()
                self._client = await stack.enter_async_context(
                    get_session().create_client(
                        "s3", region_name=s.region, endpoint_url=s.s3_endpoint, config=config
                    )
                )
                self._stack = stack
        return self._client

    async def close(self) -> None:
        """Release the client's connections (only a client this adapter made)."""
        if self._stack is not None:
            stack, self._stack, self._client = self._stack, None, None
            await stack.aclose()

    async def head(self, bucket: str, key: str) -> Head | None:
        """The object's ETag, size and metadata; None when S3 says 404 or 403."""
        try:
            s3 = await self.client()
            answer = await s3.head_object(Bucket=bucket, Key=key)
        except Exception as error:
            if _status(error) in _MISSING_CODES:
                return None
            raise StorageError(f"HEAD {key}: {_reason(error)}") from error
        return Head(answer.get("ETag"), answer.get("ContentLength"), dict(answer.get("Metadata") or {}))

    async def get(self, bucket: str, key: str) -> tuple[bytes, Head] | None:
        """The object's bytes and its headers; None when S3 says 404 or 403."""
        try:
            s3 = await self.client()
            answer = await s3.get_object(Bucket=bucket, Key=key)
            async with answer["Body"] as stream:
                data: bytes = await stream.read()
        except Exception as error:
            if _status(error) in _MISSING_CODES:
                return None
            raise StorageError(f"GET {key}: {_reason(error)}") from error
        return data, Head(answer.get("ETag"), len(data), dict(answer.get("Metadata") or {}))

    async def put(self, bucket: str, key: str, data: bytes, fields: dict[str, object]) -> None:
        """Write an object (``fields``: ContentType, CacheControl, Metadata…)."""
        try:
            s3 = await self.client()
            await s3.put_object(Bucket=bucket, Key=key, Body=data, **fields)
        except Exception as error:
            raise StorageError(f"PUT {key}: {_reason(error)}") from error
