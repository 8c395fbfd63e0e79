"""Filling a bucket with originals from a folder, for ``tachyon-edge dev`` and demos.

The object key is the file's path relative to the folder (``uploads/2018/02/a.jpg``),
so URLs on the local CloudFront mirror the folder. Hidden files are skipped.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from core.clients import s3_options
from core.settings import Settings

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif"})


def samples_dir() -> Path:
    """The sample originals shipped inside the package (``edge/local/samples``)."""
    with as_file(files("edge.local") / "samples") as path:
        return Path(path)


def originals(folder: Path) -> Iterator[tuple[str, Path]]:
    """(key, file) for every non-hidden file under ``folder``, in a stable order."""
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            yield relative.as_posix(), path


def content_type(path: Path) -> str:
    """The Content-Type S3 will serve the original with."""
    if path.suffix.lower() == ".webp":
        return "image/webp"
    if path.suffix.lower() == ".avif":
        return "image/avif"
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def ensure_bucket(client: Any, bucket: str) -> None:
    """Create ``bucket`` unless it exists already (MinIO and moto alike)."""
    try:
        client.head_bucket(Bucket=bucket)
    except client.exceptions.ClientError:
        client.create_bucket(Bucket=bucket)


def seed(client: Any, bucket: str, folder: Path) -> list[str]:
    """Upload every file of ``folder`` to ``bucket``; returns the keys written."""
    ensure_bucket(client, bucket)
    keys = []
    for key, path in originals(folder):
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=content_type(path))
        keys.append(key)
    return keys


def s3_client(settings: Settings) -> Any:
    """A plain (synchronous) S3 client for seeding, listing and signing (``core.clients``)."""
    import botocore.session
    from botocore.config import Config

    client_kwargs, config = s3_options(settings, "local")
    return botocore.session.get_session().create_client("s3", config=Config(**config), **client_kwargs)


def is_image(key: str) -> bool:
    """Whether a key names an image by its extension (what the edge transforms)."""
    return Path(key).suffix.lower() in IMAGE_EXTENSIONS
