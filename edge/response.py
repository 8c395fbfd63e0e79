"""origin-response: a short lifetime for an original standing in for a derivative, and ``x-tachyon``.

Pure header work on the event, read from ``EdgeConfig``, so the origin-response
function loads no S3 or queue client either. origin-request names the path it
took in ``OUTCOME_HEADER`` on the request it forwards; origin-response sees that
request as sent to the origin and copies the name to ``DIAGNOSTIC_HEADER``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edge import events
from edge.events import DIAGNOSTIC_HEADER, OUTCOME_HEADER
from edge.trace import Trace

if TYPE_CHECKING:
    from core.types import Outcome
    from edge.config import EdgeConfig

#: Outcomes whose response is the original standing in for a derivative.
SHORT_LIVED: frozenset[Outcome] = frozenset({"queued", "fallback"})


def origin_response(event: Any, config: EdgeConfig) -> dict[str, Any]:
    """S3's response, with a short lifetime for fallbacks and the diagnostic header; never raises."""
    trace = Trace("origin-response", events.request_id(event))
    response = events.find_response(event)
    if response is None:
        trace.set(outcome="passthrough", reason="malformed event: no response")
        trace.emit()
        return events.generated(400, "Bad Request", "Bad request", {"Content-Type": "text/plain"})
    try:
        request = events.find_request(event) or {}
        outcome = events.header(request, OUTCOME_HEADER) or "passthrough"
        status = str(response.get("status", ""))
        trace.set(outcome=outcome, uri=request.get("uri"), status=status)
        # 304 too: CloudFront revalidates an expired fallback and takes the lifetime from the 304.
        if outcome in SHORT_LIVED and (status.startswith("2") or status == "304"):
            events.set_header(response, "Cache-Control", f"public, max-age={config.fallback_ttl}")
        events.set_header(response, DIAGNOSTIC_HEADER, outcome)
    except Exception as error:  # a response we cannot read is returned as it came
        trace.set(reason=repr(error)[:500])
    trace.emit()
    return response
