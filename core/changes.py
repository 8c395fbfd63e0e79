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
so a derivative written never purges anything. A write outdates the
derivatives made before it or from other bytes (``Change.predates``,
``Change.wrote``), not those rendered from the new bytes while the event was
on its way.

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
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote_plus

from core.formats import format_of_path
from core.objects import normalise_etag

#: CloudFront's limit of wildcard invalidation paths in progress at once, per distribution.
MAX_WILDCARDS_IN_PROGRESS = 15
#: Characters a browser leaves as they are in a URL path (RFC 3986 pchar, less ``*``: a wildcard).
_PATH_SAFE = "/!$&'()+,;=:@"


@dataclass(frozen=True, slots=True)
class Change:
    """One original written (created or overwritten) or removed, as one event tells it."""

    bucket: str
    key: str
    removed: bool
    etag: str | None = None  # the written object's ETag
    at: float | None = None  # when, in seconds since the epoch
    sequencer: str = ""  # S3's order of events for one key (hex; longer or greater is later)

    def order(self) -> tuple[str, float]:
        """Sort key: later events of one key sort last."""
        return self.sequencer.rjust(32, "0"), self.at or 0.0

    def predates(self, modified: float) -> bool:
        """Whether a derivative written at ``modified`` (epoch seconds) surely predates this change.

        After a removal, every derivative does. After a write, those written in
        an earlier second (S3 times have whole seconds); for the others, the
        original's ETag they record decides (``wrote``).
        """
        return self.removed or self.at is None or not self.etag or modified < int(self.at)

    def wrote(self, original_etag: str | None) -> bool:
        """Whether a derivative recording ``original_etag`` was made from the bytes this change wrote."""
        return bool(self.etag) and normalise_etag(original_etag) == normalise_etag(self.etag)


def _time(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _records(message: Mapping[str, Any]) -> Iterable[Change]:
    """Every S3 object change in one message, in any of the shapes (derivatives included)."""
    if message.get("Type") == "Notification" and isinstance(message.get("Message"), str):
        message = json.loads(message["Message"])  # S3 → SNS → here
    if message.get("source") == "aws.s3" and "detail-type" in message:  # EventBridge
        kind, detail = str(message["detail-type"]), message.get("detail") or {}
        if kind in ("Object Created", "Object Deleted"):
            found = detail.get("object") or {}
            yield Change(
                str((detail.get("bucket") or {}).get("name") or ""), str(found.get("key") or ""),
                kind == "Object Deleted", found.get("etag") or found.get("eTag"), _time(message.get("time")),
                str(found.get("sequencer") or ""),
            )  # fmt: skip
        return
    for record in message.get("Records") or ():
        name = str(record.get("eventName", ""))
        if record.get("eventSource") != "aws:s3" or not name.startswith(("ObjectCreated:", "ObjectRemoved:")):
            continue
        s3 = record.get("s3") or {}
        found = s3.get("object") or {}
        yield Change(
            str((s3.get("bucket") or {}).get("name") or ""), unquote_plus(str(found.get("key") or "")),
            name.startswith("ObjectRemoved:"), found.get("eTag"), _time(record.get("eventTime")),
            str(found.get("sequencer") or ""),
        )  # fmt: skip


def originals_changed(message: Mapping[str, Any], derivative_prefix: str) -> list[Change]:
    """The originals an event message says were written or removed (derivatives and others left out)."""
    return [
        change
        for change in _records(message)
        if change.bucket
        and change.key
        and not change.key.startswith(derivative_prefix)
        and format_of_path(change.key) is not None
    ]


def latest(changes: Iterable[Change]) -> dict[tuple[str, str], Change]:
    """The last change of each original ((bucket, key) → change): events come late and out of order."""
    out: dict[tuple[str, str], Change] = {}
    for change in sorted(changes, key=Change.order):
        out[(change.bucket, change.key)] = change
    return out


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
