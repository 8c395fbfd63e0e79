"""The local CloudFront's origins: one S3 origin, or an origin group in front of the same bucket.

An origin group is what docs/deploy.md sets up: a primary and a failover
origin, both the bucket, told apart by the origin custom header
``x-tachyon-origin`` (``primary`` / ``failover``). CloudFront sends a cache miss
to the primary; when the primary answers a failover status (403, 404 here) to a
GET or HEAD, or cannot be reached, it sends the same request to the failover
origin, running the origin-request function again (``request.origin`` then
describes the failover origin). Whether "the same request" is the viewer's or
the one the first run returned is not documented, so both can be chosen
(``FailoverRequest``); the edge must work with either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from edge.events import ORIGIN_HEADER

#: What the second origin-request run is given: the viewer's request again, or the first run's result.
FailoverRequest = Literal["viewer", "rewritten"]
FAILOVER_STATUSES = frozenset({403, 404})
#: CloudFront fails over only for these viewer methods.
FAILOVER_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def origin_domain(bucket: str) -> str:
    """The S3 origin's domain name, as the distribution's origin names it."""
    return f"{bucket}.s3.amazonaws.com"


@dataclass(frozen=True, slots=True)
class Origin:
    """One S3 origin of the distribution, as a Lambda@Edge event describes it."""

    id: str
    bucket: str
    region: str
    path: str = ""
    custom_headers: tuple[tuple[str, str], ...] = ()

    def described(self) -> dict[str, Any]:
        """``request.origin`` of an origin-request event routed to this origin."""
        headers: dict[str, list[dict[str, str]]] = {}
        for name, value in self.custom_headers:
            headers.setdefault(name.lower(), []).append({"key": name, "value": value})
        return {
            "s3": {
                "authMethod": "origin-access-identity",
                "customHeaders": headers,
                "domainName": origin_domain(self.bucket),
                "path": self.path,
                "region": self.region,
            }
        }


@dataclass(frozen=True, slots=True)
class OriginGroup:
    """A primary origin and the one CloudFront fails over to."""

    primary: Origin
    failover: Origin
    statuses: frozenset[int] = field(default=FAILOVER_STATUSES)

    def fails_over(self, method: str, status: int | None) -> bool:
        """Whether CloudFront sends the request on to the failover origin (None: no connection)."""
        return method in FAILOVER_METHODS and (status is None or status in self.statuses)


def single_origin(bucket: str, region: str) -> Origin:
    """A distribution with the bucket as its only origin (no custom header)."""
    return Origin("s3", bucket, region)


def origin_group(bucket: str, region: str, statuses: frozenset[int] = FAILOVER_STATUSES) -> OriginGroup:
    """The origin group of docs/deploy.md: the bucket twice, each origin naming itself."""
    return OriginGroup(
        Origin("s3-primary", bucket, region, custom_headers=((ORIGIN_HEADER, "primary"),)),
        Origin("s3-failover", bucket, region, custom_headers=((ORIGIN_HEADER, "failover"),)),
        statuses,
    )
