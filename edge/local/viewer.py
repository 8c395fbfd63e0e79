"""The viewer-request CloudFront Function, run in-process by the local CloudFront.

``edge/viewer/function.js`` is what production attaches to the distribution's
viewer request (docs/deploy.md); here the same file runs under QuickJS (the
``quickjs`` wheel, in the ``local`` extra), so ``tachyon-edge dev``, compose
and the tests see the cache keys and requests CloudFront would, with no node.
``viewer_event`` builds the CloudFront Functions event from a raw request
target; ``apply`` turns the function's result back into a target and headers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: The function's source: the one file production deploys.
SOURCE = Path(__file__).resolve().parent.parent / "viewer" / "function.js"

Event = dict[str, Any]


def engine_available() -> bool:
    """Whether the JavaScript engine is installed (its wheels stop at CPython 3.12)."""
    import importlib.util

    return importlib.util.find_spec("quickjs") is not None


class ViewerFunction:
    """One QuickJS context holding the function; ``handle`` runs it on one event.

    A context is not thread-safe; the local CloudFront calls it from its one event
    loop. ``invocations`` counts calls, as CloudFront's metrics would.
    """

    def __init__(self, source: Path = SOURCE) -> None:
        import quickjs  # type: ignore[import-untyped]

        self._context = quickjs.Context()
        self._context.eval(source.read_text(encoding="utf-8"))
        # Values cross as JSON text: the binding's strings stop at a NUL.
        self._context.eval(
            "function __call(name, text) {"
            " return JSON.stringify(globalThis[name].apply(null, JSON.parse(text))); }"
        )
        self._call = self._context.get("__call")
        self.invocations = 0

    def handle(self, event: Event) -> Event:
        """The function's returned request for ``event`` (a CloudFront Functions viewer event)."""
        self.invocations += 1
        result: Event = self.call("handler", event)
        return result

    def call(self, name: str, *args: Any) -> Any:
        """A top-level function of the source by name (the tests compare them with the core's)."""
        return json.loads(self._call(name, json.dumps(args)))


def viewer_event(method: str, raw_path: str, headers: list[tuple[str, str]], client_ip: str) -> Event:
    """The viewer-request event CloudFront Functions passes for this request (runtime 2.0)."""
    uri, _, query = raw_path.partition("?")
    querystring: dict[str, dict[str, Any]] = {}
    for piece in query.split("&") if query else []:
        name, _, value = piece.partition("=")
        item = querystring.setdefault(name, {"value": value, "multiValue": []})
        item["multiValue"].append({"value": value})
    for item in querystring.values():
        item["value"] = item["multiValue"][0]["value"]
        if len(item["multiValue"]) == 1:
            del item["multiValue"]
    lowered: dict[str, dict[str, str]] = {}
    for name, value in headers:
        lowered.setdefault(name.lower(), {"value": value})
    return {
        "version": "1.0",
        "context": {"eventType": "viewer-request"},
        "viewer": {"ip": client_ip},
        "request": {
            "method": method,
            "uri": uri or "/",
            "querystring": querystring,
            "headers": lowered,
            "cookies": {},
        },
    }


def apply(result: Event, headers: list[tuple[str, str]]) -> tuple[str, list[tuple[str, str]]]:
    """The request target and viewer headers after the function: its query and the headers it set."""
    request = result
    pieces = [
        f"{name}={item['value']}"
        for name, spec in (request.get("querystring") or {}).items()
        for item in (spec.get("multiValue") or [spec])
    ]
    target = str(request.get("uri") or "/") + ("?" + "&".join(pieces) if pieces else "")
    returned = request.get("headers") or {}
    kept = [(k, v) for k, v in headers if k.lower() not in returned]
    kept += [(name, str(spec.get("value", ""))) for name, spec in returned.items()]
    return target, kept
