"""What a derivative object looks like in S3, for the edge and the worker alike.

A derivative is written once with a long immutable lifetime (its key carries
the render version and the transform, so it never changes) and with the ETag
of the original it was made from, so an original overwritten in place makes
every derivative of it stale rather than served old.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.formats import CONTENT_TYPE

IMMUTABLE = "public, max-age=31536000, immutable"
#: User metadata key (S3 stores it as ``x-amz-meta-original-etag``).
ORIGINAL_ETAG = "original-etag"


def normalise_etag(etag: str | None) -> str:
    """An ETag without quotes or weak marker, for comparison."""
    if not etag:
        return ""
    value = etag.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


def put_fields(fmt: str, original_etag: str | None) -> dict[str, object]:
    """The PutObject arguments (besides Bucket, Key, Body) of every derivative."""
    return {
        "ContentType": CONTENT_TYPE[fmt],
        "CacheControl": IMMUTABLE,
        "Metadata": {ORIGINAL_ETAG: normalise_etag(original_etag)},
    }


def is_fresh(metadata: Mapping[str, str] | None, original_etag: str | None) -> bool:
    """Whether a derivative was made from the original as it is now."""
    if not metadata:
        return False
    stored = metadata.get(ORIGINAL_ETAG)
    return bool(stored) and stored == normalise_etag(original_etag)
