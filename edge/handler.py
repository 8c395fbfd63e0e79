"""Lambda@Edge entry points: ``origin_request(event, context)`` and ``origin_response(event, context)``.

Lambda runs one invocation at a time per container, and keeps the container
(and this module's globals) between invocations. So the module holds one
``Edge`` built from ``get_settings()`` (the bundled ``core/tachyon.toml``: Lambda@Edge
has no environment variables) and one event loop, reused by every invocation;
the S3 and Redis clients made inside that loop are reused with it.

``configure(settings)`` swaps the module's ``Edge`` (tests, local use);
``reload()`` rebuilds it from the configuration in force. The
async ``Edge`` itself (``edge.flow``) is what a long-running server should use.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from core.settings import get_settings
from edge import events
from edge.flow import Edge
from edge.trace import Trace

if TYPE_CHECKING:
    from core.settings import Settings

__all__ = ["Edge", "configure", "origin_request", "origin_response", "reload"]

_loop = asyncio.new_event_loop()


class _Container:
    """What lives as long as the Lambda container: the Edge, or why there is none."""

    edge: Edge | None = None
    settings_error: str | None = None


def _load() -> Edge | None:
    """The module's Edge, built on first need; None while the configuration is invalid."""
    if _Container.edge is None:
        try:
            _Container.edge = Edge(get_settings())
            _Container.settings_error = None
        except Exception as error:  # a bad bundled config must not take the site down
            _Container.settings_error = f"invalid configuration: {error}"[:500]
    return _Container.edge


def reload() -> str | None:
    """Drop the module's Edge so the next invocation builds it from ``get_settings()`` again.

    Returns why the configuration is unusable, or None when it loaded.
    """
    old, _Container.edge = _Container.edge, None
    if old is not None:
        with contextlib.suppress(Exception):
            _loop.run_until_complete(old.close())
    _load()
    return _Container.settings_error


def configure(settings: Settings, **clients: Any) -> Edge:
    """Replace the module's Edge (its old clients are closed); returns the new one."""
    old = _Container.edge
    _Container.edge = edge = Edge(settings, **clients)
    if old is not None:
        with contextlib.suppress(Exception):  # best effort: the old clients are dropped anyway
            _loop.run_until_complete(old.close())
    return edge


def _unconfigured(event: Any, trigger: str) -> dict[str, Any]:
    """Without a usable configuration: the original as it was asked, query cleared."""
    trace = Trace(trigger)
    trace.set(outcome="passthrough", reason=_Container.settings_error)
    trace.emit()
    if trigger == "origin-response":
        found = events.find_response(event)
    else:
        request = events.find_request(event)
        found = events.forward(request) if request is not None else None
    return found or events.generated(400, "Bad Request", "Bad request", {"Content-Type": "text/plain"})


def _invoke(trigger: str, event: Any) -> dict[str, Any]:
    """Run one trigger of the module's Edge on the module's loop; never raises."""
    edge = _load()
    if edge is None:
        return _unconfigured(event, trigger)
    method = edge.origin_request if trigger == "origin-request" else edge.origin_response
    try:
        return _loop.run_until_complete(method(event))
    except Exception:  # Edge never raises; this guards the loop itself
        return _unconfigured(event, trigger)


def origin_request(event: Any, context: Any = None) -> dict[str, Any]:
    """Lambda@Edge origin-request trigger."""
    return _invoke("origin-request", event)


def origin_response(event: Any, context: Any = None) -> dict[str, Any]:
    """Lambda@Edge origin-response trigger."""
    return _invoke("origin-response", event)


_load()
