"""The edge's S3 adapter: HEAD, GET and PUT through botocore, awaited in threads.

Why botocore in threads rather than an async client (aioboto3/aiobotocore):
the hit path asks S3 about the derivative(s) and the original at the same time,
so a hit costs one round trip; botocore's client is thread-safe, and awaiting
its calls with ``asyncio.to_thread`` gives the same concurrency. The async
client would also import aiohttp, which doubled the edge's cold import
(measured: 1.7× a plain ``boto3.client("s3")`` against about 1.3× this way;
see docs/edge.md) — and Lambda@Edge pays a cold start in every region.

The client is made once, on first use, and reused for every later call (one
per Lambda container, one per local server). A missing key is ``None``, not
an error: S3 answers 404 when the caller may list the bucket and 403
otherwise, and both mean "not there" to the edge. Every other failure
(timeouts, connection errors, 5xx, throttling) becomes ``StorageError`` with a
short reason for the log.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.session import get_session

if TYPE_CHECKING:
    from core.settings import Settings

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
    """S3 for one edge: a lazily made botocore client, reused across invocations."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        self._settings = settings
        self._client = client
        self._lock = threading.Lock()

    @property
    def needs_client(self) -> bool:
        """Whether the next call will make the client first."""
        return self._client is None

    def _make_client(self) -> Any:
        with self._lock:
            if self._client is None:
                s = self._settings
                config = Config(
                    connect_timeout=s.s3_timeout,
                    read_timeout=s.s3_timeout,
                    retries={"max_attempts": 2, "mode": "standard"},
                    max_pool_connections=64,
                    s3={"addressing_style": "path"} if s.s3_endpoint else None,
                )
                self._client = get_session().create_client(
                    "s3", region_name=s.region, endpoint_url=s.s3_endpoint, config=config
                )
        return self._client

    async def client(self) -> Any:
        """The botocore S3 client, made on first use (credentials, the S3 model)."""
        if self._client is not None:
            return self._client
        return await asyncio.to_thread(self._make_client)

    async def close(self) -> None:
        """Release the client's connections (only a client this adapter made)."""
        client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(client.close)

    async def head(self, bucket: str, key: str) -> Head | None:
        """The object's ETag, size and metadata; None when S3 says 404 or 403."""
        try:
            s3 = await self.client()
            answer = await asyncio.to_thread(s3.head_object, Bucket=bucket, Key=key)
        except Exception as error:
            if _status(error) in _MISSING_CODES:
                return None
            raise StorageError(f"HEAD {key}: {_reason(error)}") from error
        return Head(answer.get("ETag"), answer.get("ContentLength"), dict(answer.get("Metadata") or {}))

    async def get(self, bucket: str, key: str) -> tuple[bytes, Head] | None:
        """The object's bytes and its headers; None when S3 says 404 or 403."""
        try:
            s3 = await self.client()
            answer, data = await asyncio.to_thread(_get, s3, bucket, key)
        except Exception as error:
            if _status(error) in _MISSING_CODES:
                return None
            raise StorageError(f"GET {key}: {_reason(error)}") from error
        return data, Head(answer.get("ETag"), len(data), dict(answer.get("Metadata") or {}))

    async def put(self, bucket: str, key: str, data: bytes, fields: dict[str, object]) -> None:
        """Write an object (``fields``: ContentType, CacheControl, Metadata…)."""
        try:
            s3 = await self.client()
            await asyncio.to_thread(s3.put_object, Bucket=bucket, Key=key, Body=data, **fields)
        except Exception as error:
            raise StorageError(f"PUT {key}: {_reason(error)}") from error


def _get(s3: Any, bucket: str, key: str) -> tuple[dict[str, Any], bytes]:
    """GET and read the body in one thread hop (the body is a blocking stream)."""
    answer = s3.get_object(Bucket=bucket, Key=key)
    with answer["Body"] as stream:
        return answer, stream.read()
