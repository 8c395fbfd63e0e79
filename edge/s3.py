"""The edge's S3 adapter: HEAD, GET and PUT through botocore, awaited in threads.

Why botocore in threads rather than an async client: the hit path asks S3
about the derivative(s) and the original at once (one round trip), botocore's
client is thread-safe, and the async client would import aiohttp, which made
the cold import far heavier (docs/edge.md). The client is made once, on first
use, with the options of ``core.clients``, and reused by every later call.
Every call waits at most what is left of the invocation's deadline
(``edge.deadline``). What an S3 error means is ``core.s3errors``'s rule: a missing key is ``None``,
every other failure a ``StorageError`` with a short reason for the log.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.session import get_session

from core.clients import s3_options
from core.s3errors import describe, meaning
from edge.deadline import bound

if TYPE_CHECKING:
    from core.settings import Settings


class StorageError(Exception):
    """S3 failed in a way that is ours to absorb (the viewer gets the original)."""


@dataclass(frozen=True, slots=True)
class Head:
    """What a HEAD (or GET) says about an object."""

    etag: str | None
    size: int | None
    metadata: dict[str, str] = field(default_factory=dict)


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
                client_kwargs, config = s3_options(self._settings, "edge")
                self._client = get_session().create_client("s3", config=Config(**config), **client_kwargs)
        return self._client

    async def client(self) -> Any:
        """The botocore S3 client, made on first use (credentials, the S3 model)."""
        if self._client is not None:
            return self._client
        return await bound(asyncio.to_thread(self._make_client), "S3 client")

    async def close(self) -> None:
        """Release the client's connections (only a client this adapter made)."""
        client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(client.close)

    async def head(self, bucket: str, key: str) -> Head | None:
        """The object's ETag, size and metadata; None when S3 says 404 or 403."""
        try:
            s3 = await self.client()
            answer = await bound(asyncio.to_thread(s3.head_object, Bucket=bucket, Key=key), "HEAD")
        except Exception as error:
            if meaning(error) == "missing":
                return None
            raise StorageError(f"HEAD {key}: {describe(error)}") from error
        return Head(answer.get("ETag"), answer.get("ContentLength"), dict(answer.get("Metadata") or {}))

    async def get(
        self, bucket: str, key: str, *, max_bytes: int | None = None
    ) -> tuple[bytes | None, Head] | None:
        """The object's bytes and its headers; None when S3 says 404 or 403.

        With ``max_bytes``, a larger object's body is not read (bytes None): one
        request tells whether it exists, its size and its ETag, like a HEAD.
        """
        try:
            s3 = await self.client()
            answer, data = await bound(asyncio.to_thread(_get, s3, bucket, key, max_bytes), "GET")
        except Exception as error:
            if meaning(error) == "missing":
                return None
            raise StorageError(f"GET {key}: {describe(error)}") from error
        size = len(data) if data is not None else answer.get("ContentLength")
        return data, Head(answer.get("ETag"), size, dict(answer.get("Metadata") or {}))

    async def put(self, bucket: str, key: str, data: bytes, fields: dict[str, object]) -> None:
        """Write an object (``fields``: ContentType, CacheControl, Metadata…)."""
        try:
            s3 = await self.client()
            put = asyncio.to_thread(s3.put_object, Bucket=bucket, Key=key, Body=data, **fields)
            await bound(put, "PUT")  # cut short, S3 still writes all of it or nothing
        except Exception as error:
            raise StorageError(f"PUT {key}: {describe(error)}") from error


def _get(s3: Any, bucket: str, key: str, max_bytes: int | None) -> tuple[dict[str, Any], bytes | None]:
    """GET and read the body in one thread hop (the body is a blocking stream), unless too large."""
    answer = s3.get_object(Bucket=bucket, Key=key)
    with answer["Body"] as stream:
        if max_bytes is not None and int(answer.get("ContentLength") or 0) > max_bytes:
            return answer, None  # closed unread: the connection is dropped, not drained
        return answer, stream.read()
