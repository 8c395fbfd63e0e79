"""CloudFront invalidations within CloudFront's limits: a wildcard budget, read before each request.

CloudFront allows 15 wildcard paths in progress per distribution (and 3,000
plain paths; this function sends only wildcards). The budget of one request
is ``invalidation_wildcards``, less what is already in progress
(``ListInvalidations`` and ``GetInvalidation`` of each one in progress), and
``core.changes.coalesce`` folds the paths into it. With no room left the
request is not sent (``Busy``): the caller retries later, when earlier
invalidations have completed (a few minutes at most).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.changes import MAX_WILDCARDS_IN_PROGRESS, coalesce
from core.settings import Settings


class Busy(Exception):
    """Wildcard paths in progress leave no room for another invalidation now."""


@dataclass(frozen=True, slots=True)
class Invalidation:
    """An invalidation sent: its id and the paths it lists."""

    id: str
    paths: list[str]


def wildcards_in_progress(cloudfront: Any, distribution: str) -> int:
    """Wildcard paths of the distribution's invalidations still in progress."""
    summaries = cloudfront.list_invalidations(DistributionId=distribution, MaxItems="100")
    count = 0
    for summary in summaries.get("InvalidationList", {}).get("Items") or ():
        if summary.get("Status") != "InProgress":
            continue
        batch = cloudfront.get_invalidation(DistributionId=distribution, Id=summary["Id"])
        paths = batch["Invalidation"]["InvalidationBatch"]["Paths"].get("Items") or ()
        count += sum("*" in path for path in paths)
    return count


def invalidate(
    cloudfront: Any, settings: Settings, paths: Iterable[str], reference: str
) -> Invalidation | None:
    """Invalidate every copy under ``paths`` in one request; None when there is nothing to do.

    ``reference`` makes a retried request (same batch of messages) the same
    invalidation on CloudFront's side (its ``CallerReference``).
    """
    distribution = settings.cloudfront_distribution_id
    wanted = sorted(set(paths))
    if not distribution or not wanted:
        return None
    room = MAX_WILDCARDS_IN_PROGRESS - wildcards_in_progress(cloudfront, distribution)
    budget = min(settings.invalidation_wildcards, room)
    if budget < 1:
        raise Busy(f"{MAX_WILDCARDS_IN_PROGRESS - room} wildcard paths in progress on {distribution}")
    covers = coalesce(wanted, budget)
    caller = hashlib.sha1(f"{reference}\0{covers}".encode(), usedforsecurity=False).hexdigest()
    answer = cloudfront.create_invalidation(
        DistributionId=distribution,
        InvalidationBatch={"Paths": {"Quantity": len(covers), "Items": covers}, "CallerReference": caller},
    )
    return Invalidation(str(answer["Invalidation"]["Id"]), covers)
