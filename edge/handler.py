"""Lambda@Edge entry points: ``origin_request(event, context)`` and ``origin_response(event, context)``.

A CloudFront miss on a derivative that exists should cost what a plain S3 origin
costs. So importing this module loads only the URL-only part of the edge
(``edge.request``, ``edge.response``, ``edge.config``): no botocore, Pillow,
queue client, pydantic or asyncio. The primary pass of an origin group and
origin-response are answered from that alone (docs/edge.md, "Two passes").

Everything else — the failover pass, a single-origin distribution,
``freshness = "verify"`` — loads ``edge.flow`` on first need: one ``Edge`` built
from ``get_settings()`` and one event loop, kept with the module's globals for
the container's life (Lambda runs one invocation at a time per container), so
the S3 and Redis clients made inside that loop are reused.

The settings come from ``edge/settings.json`` when the package bundles it
(``edge.config``), else from ``get_settings()`` (the bundled ``core/tachyon.toml``:
Lambda@Edge has no environment variables). ``configure(settings)`` swaps the
module's edge (tests, local use); ``reload()`` rebuilds it from the
configuration in force. The async ``Edge`` itself is what a long-running
server should use.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from edge import events
from edge.config import EdgeConfig, load
from edge.request import Ask, route
from edge.response import origin_response as respond
from edge.trace import Trace

if TYPE_CHECKING:
    import asyncio

    from core.settings import Settings
    from edge.flow import Edge

__all__ = ["Edge", "configure", "origin_request", "origin_response", "reload"]


class _Container:
    """What lives as long as the Lambda container."""

    config: EdgeConfig | None = None
    edge: Edge | None = None  # the full edge, made on the first request that needs S3
    loop: asyncio.AbstractEventLoop | None = None
    settings_error: str | None = None


def _config() -> EdgeConfig | None:
    """The settings in force, read on first need; None while the configuration is invalid."""
    if _Container.config is None:
        try:
            _Container.config = load()
            _Container.settings_error = None
        except Exception as error:  # a bad bundled config must not take the site down
            _Container.settings_error = f"invalid configuration: {error}"[:500]
    return _Container.config


def _loop() -> asyncio.AbstractEventLoop:
    if _Container.loop is None:
        import asyncio

        _Container.loop = asyncio.new_event_loop()
    return _Container.loop


def _edge() -> Edge:
    """The full edge (S3, queue, rendering), built on first need and kept."""
    if _Container.edge is None:
        from core.settings import get_settings
        from edge.flow import Edge

        _Container.edge = Edge(get_settings())
    return _Container.edge


def _close(edge: Edge | None) -> None:
    if edge is not None:
        with contextlib.suppress(Exception):  # best effort: the old clients are dropped anyway
            _loop().run_until_complete(edge.close())


def reload() -> str | None:
    """Forget the settings and the edge, so the next invocation reads the configuration again.

    Returns why the configuration is unusable, or None when it loaded.
    """
    old, _Container.edge, _Container.config = _Container.edge, None, None
    _close(old)
    _config()
    return _Container.settings_error


def configure(settings: Settings, **clients: Any) -> Edge:
    """Replace the module's settings and edge (its old clients are closed); returns the new edge."""
    from edge.flow import Edge

    old = _Container.edge
    _Container.edge = edge = Edge(settings, **clients)
    _Container.config, _Container.settings_error = edge.config, None
    _close(old)
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


def origin_request(event: Any, context: Any = None) -> dict[str, Any]:
    """Lambda@Edge origin-request trigger."""
    config = _config()
    if config is None:
        return _unconfigured(event, "origin-request")
    routed = route(event, config)
    if not isinstance(routed, Ask):
        return routed
    from edge.deadline import platform_ends_in

    remaining = getattr(context, "get_remaining_time_in_millis", None)
    try:
        with platform_ends_in(remaining() / 1000 if remaining is not None else None):  # function timeout
            return _loop().run_until_complete(_edge().serve(routed))
    except Exception as error:  # serve never raises; this guards building the edge and the loop
        _Container.settings_error = f"edge unavailable: {error!r}"[:500]
        return _unconfigured(event, "origin-request")


def origin_response(event: Any, context: Any = None) -> dict[str, Any]:
    """Lambda@Edge origin-response trigger."""
    config = _config()
    if config is None:
        return _unconfigured(event, "origin-response")
    return respond(event, config)


def __getattr__(name: str) -> Any:
    """``edge.handler.Edge`` still names the full edge, imported only when asked for."""
    if name == "Edge":
        from edge.flow import Edge

        return Edge
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_config()
