"""Originals that changed in S3, read from event notifications, and the CDN paths to invalidate.

S3 reports a write or a delete in one of three shapes, whatever carries it
(docs/deploy.md, "Originals' changes"):

- an S3 event notification ``{"Records": [{"eventSource": "aws:s3", ...}]}``
  (S3 → SQS, S3 → Lambda), keys URL-encoded with ``+`` for a space;
- the same inside an SNS envelope (``Type: Notification``, ``Message`` a string);
- an EventBridge event (``source: aws.s3``, ``detail-type: Object Created``),
  whose key is not encoded.

S3's ``s3:TestEvent``, other event types, non-image keys and every key under
the derivative prefix (the worker's and the edge's own writes) are left out,
so a derivative written never purges anything.

CloudFront's cache holds one copy per viewer URL, query string included, and
the URLs are not known here (``?resize=150,150`` and ``?resize=150%2C150`` are
two copies of one derivative): an original's copies are invalidated with the
wildcard ``/path/photo.jpg*``. CloudFront allows 15 wildcard paths in progress
per distribution, so ``coalesce`` folds many originals into their common
folders (``/uploads/2024/05/*``), deepest and fullest folders first, until
they fit the budget. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote_plus

from core.formats import format_of_path

#: CloudFront's limit of wildcard invalidation paths in progress at once, per distribution.
MAX_WILDCARDS_IN_PROGRESS = 15
#: Characters a browser leaves as they are in a URL path (RFC 3986 pchar, less ``*``: a wildcard).
_PATH_SAFE = "/!$&'()+,;=:@"


@dataclass(frozen=True, slots=True)
class Change:
    """One original written (created or overwritten) or removed."""

    bucket: str
    key: str
    removed: bool


def _records(message: Mapping[str, Any]) -> Iterable[tuple[str, str, str, bool]]:
    """(event name, bucket, key, removed) of every S3 record in one message, in any of the shapes."""
    if message.get("Type") == "Notification" and isinstance(message.get("Message"), str):
        message = json.loads(message["Message"])  # S3 → SNS → here
    if message.get("source") == "aws.s3" and "detail-type" in message:  # EventBridge
        kind, detail = str(message["detail-type"]), message.get("detail") or {}
        if kind in ("Object Created", "Object Deleted"):
            bucket = (detail.get("bucket") or {}).get("name")
            key = (detail.get("object") or {}).get("key")
            yield kind, str(bucket or ""), str(key or ""), kind == "Object Deleted"
        return
    for record in message.get("Records") or ():
        name = str(record.get("eventName", ""))
        if record.get("eventSource") != "aws:s3" or not name.startswith(("ObjectCreated:", "ObjectRemoved:")):
            continue
        s3 = record.get("s3") or {}
        bucket = (s3.get("bucket") or {}).get("name")
        key = (s3.get("object") or {}).get("key")
        yield name, str(bucket or ""), unquote_plus(str(key or "")), name.startswith("ObjectRemoved:")


def originals_changed(message: Mapping[str, Any], derivative_prefix: str) -> list[Change]:
    """The originals an event message says were written or removed (derivatives and others left out)."""
    found: list[Change] = []
    for _name, bucket, key, removed in _records(message):
        if not bucket or not key or key.startswith(derivative_prefix) or format_of_path(key) is None:
            continue
        found.append(Change(bucket, key, removed))
    return found


def cdn_path(key: str, origin_path: str = "") -> str | None:
    """The viewer path of an original's key, or None when the distribution does not serve it.

    ``origin_path`` is the distribution's origin path (``/media`` serves the
    key ``media/photo.jpg`` as ``/photo.jpg``).
    """
    base = origin_path.strip("/")
    if base:
        if not key.startswith(base + "/"):
            return None
        key = key[len(base) + 1 :]
    return "/" + quote(key, safe=_PATH_SAFE)


def _folder(cover: str, depth: int) -> str:
    """The first ``depth`` folders of a path, ending with ``/`` (depth 1: ``/``)."""
    return "/".join(cover.split("/")[:depth]) + "/"


def coalesce(paths: Iterable[str], budget: int) -> list[str]:
    """At most ``budget`` wildcard paths that cover every path's copies (``/a/b.jpg`` → ``/a/b.jpg*``).

    Over budget, the covers under one folder become that folder's wildcard,
    deepest folders first and, at one depth, those holding the most covers,
    until the covers fit; in the end, ``/*``.
    """
    if budget < 1:
        raise ValueError("an invalidation needs a budget of at least one path")
    covers = {path + "*" for path in paths}
    depth = max((cover.count("/") for cover in covers), default=0)
    while len(covers) > budget and depth >= 1:
        groups: dict[str, list[str]] = defaultdict(list)
        for cover in covers:
            if cover.count("/") >= depth and cover != _folder(cover, depth) + "*":
                groups[_folder(cover, depth)].append(cover)
        for folder, members in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])):
            if len(covers) <= budget:
                break
            if len(members) > 1 or depth == 1:
                covers.difference_update(members)
                covers.add(folder + "*")
        depth -= 1
    return sorted(covers)
