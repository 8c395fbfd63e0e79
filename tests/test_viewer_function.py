"""The viewer-request CloudFront Function (edge/viewer/function.js) against the core's canonical query.

The same JavaScript runs under node (one long-lived process fed JSON lines,
tests/js/viewer_cases.mjs) and under QuickJS (what the local CloudFront runs);
each must give exactly ``core.args.canonical_query``'s string for generated
queries: valid, invalid, repeated, percent-encoded (valid and invalid UTF-8),
aliases, odd commas, case. The canonical query must also mean what the raw one
meant: the same transform, or the same refusal word for word.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.args import canonical_query, parse_query
from core.args.canonical import CHOICES, KEPT, MAX_QUERY
from core.colours import CSS_COLOURS
from core.errors import InvalidArgument
from core.formats import FORMAT_BY_EXTENSION, format_of_path, normalise_accept
from core.transform import Transform
from edge.events import original_key
from edge.local.viewer import SOURCE, ViewerFunction
from tests.helpers import LIMITS

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "tests" / "js" / "viewer_cases.mjs"
#: CloudFront Functions' maximum function size.
MAX_FUNCTION_BYTES = 10 * 1024


class Node:
    """One node process running the function, one JSON case per line."""

    def __init__(self, node: str) -> None:
        self.process = subprocess.Popen(
            [node, str(HARNESS), str(SOURCE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )

    def ask(self, case: dict[str, Any]) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(case) + "\n")
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


class QuickJS:
    """The local CloudFront's engine, asked the same questions."""

    _CALLS: ClassVar[dict[str, str]] = {
        "query": "canonicalQuery", "accept": "normaliseAccept", "uri": "isImage"
    }  # fmt: skip

    def __init__(self) -> None:
        self.function = ViewerFunction()

    def ask(self, case: dict[str, Any]) -> Any:
        ((kind, value),) = case.items()
        if kind == "event":
            return self.function.handle(value)
        return self.function.call(self._CALLS[kind], value)


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    path = shutil.which("node")
    if path is None:
        pytest.skip("node is not installed (the QuickJS run of the same cases still compares)")
    engine = Node(path)
    yield engine
    engine.close()


@pytest.fixture(scope="module", params=["node", "quickjs"])
def engine(request: pytest.FixtureRequest) -> Node | QuickJS:
    if request.param == "node":
        found: Node = request.getfixturevalue("node")
        return found
    return QuickJS()


# --- generated queries -------------------------------------------------------------------------

_NAMES = [*sorted(KEPT), "W", "x", "utm_source", "ver", "%77", "gr%61yscale", "w%20", "__proto__", "s+"]
_WORDS = [
    "1", "0", "true", "TRUE", "Yes", "off", "px", "PX", "center", "Centre", "NORTHEAST", "attention",
    "jpg", "WebP", "colour", "ALL", "red", "RebeccaPurple", "transparent", "#FFF", "%23ff00aa", "abc",
    "1e3", "-1", "0x10", "..", ".", "100", "101", "9999999999", "0000000300", "8192", "90", "270",
]  # fmt: skip
_ODD = [
    ",", "%2C", "%2c", " ", "+", "%20", "%09", "%C2%A0", "%E3%80%80", "%FF", "%C3", "%E2%84%AA", "%",
    "%%", "%2", "&", "=", "é", "\u212a", "%00", "%7F",
]  # fmt: skip
_PIECES = st.one_of(
    st.sampled_from(_WORDS),
    st.integers(0, 10_000).map(str),
    st.from_regex(r"\A0{0,3}[0-9]{1,4}(\.[0-9]{0,3}0{0,2})?(px|PX)?\Z"),
    st.sampled_from(_ODD),
    st.binary(max_size=4).map(lambda b: "".join(f"%{x:02X}" for x in b)),
    st.text(max_size=4),
)
_VALUES = st.lists(_PIECES, max_size=6).map("".join)


@st.composite
def queries(draw: st.DrawFn) -> str:
    pairs = draw(st.lists(st.tuples(st.sampled_from(_NAMES), _VALUES, st.booleans()), max_size=8))
    pieces = [name if bare and not value else f"{name}={value}" for name, value, bare in pairs]
    return "&".join(pieces) + draw(st.sampled_from(["", "&", "&&"]))


def outcome(query: str) -> Transform | str | None:
    """What the edge makes of a query: its transform, or its refusal's words."""
    try:
        return parse_query(query, LIMITS)
    except InvalidArgument as error:
        return error.reason


# --- the tests ---------------------------------------------------------------------------------


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=queries())
def test_the_canonical_query_means_what_the_query_meant(query: str) -> None:
    canonical = canonical_query(query)
    assert outcome(canonical) == outcome(query)
    assert canonical_query(canonical) == canonical


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=queries())
def test_the_function_writes_the_cores_canonical_query(engine: Node | QuickJS, query: str) -> None:
    assert engine.ask({"query": query}) == canonical_query(query)


@given(accept=st.one_of(st.none(), st.text(max_size=30), st.sampled_from([
    "image/avif,image/webp,*/*", "IMAGE/WEBP", "text/html", "image/apng,image/avif", ""])))  # fmt: skip
def test_the_function_normalises_accept_as_the_core(engine: Node | QuickJS, accept: str | None) -> None:
    assert engine.ask({"accept": accept}) == normalise_accept(accept)


@pytest.mark.parametrize(
    "uri",
    ["/a.jpg", "/a.JPEG", "/b/c.webp", "/x.css", "/noext", "/dir.jpg/file", "/a.jpg.txt", "/a.", "/.png",
     "/a.avif", "/a.jpe", "/a.tiff"],
)  # fmt: skip
def test_the_function_knows_image_paths_as_the_core(engine: Node | QuickJS, uri: str) -> None:
    assert engine.ask({"uri": uri}) is (format_of_path(original_key(uri)) is not None)


def test_the_functions_tables_are_the_cores(node: Node) -> None:
    tables = node.ask({"tables": True})
    assert set(tables["KEPT"]) == set(KEPT)
    assert tables["CHOICES"] == {name: dict(choices) for name, choices in CHOICES.items()}
    assert set(tables["COLOURS"]) == set(CSS_COLOURS)
    assert set(tables["IMAGE"]) == set(FORMAT_BY_EXTENSION)


def _event(uri: str, querystring: dict[str, Any], accept: str | None = None) -> dict[str, Any]:
    headers = {"accept": {"value": accept}} if accept is not None else {}
    request = {"method": "GET", "uri": uri, "querystring": querystring, "headers": headers, "cookies": {}}
    return {"version": "1.0", "context": {"eventType": "viewer-request"}, "request": request}


def test_the_handler_rewrites_an_image_requests_query_and_accept(engine: Node | QuickJS) -> None:
    event = _event(
        "/uploads/photo.jpg",
        {
            "w": {"value": "0300", "multiValue": [{"value": "100"}, {"value": "0300"}]},
            "utm_source": {"value": "news"},
            "resize": {"value": "150%2C150"},
        },
        "image/webp,image/apng,*/*;q=0.8",
    )
    request = engine.ask({"event": event})
    assert request["querystring"] == {"resize": {"value": "150,150"}}
    assert request["headers"]["accept"] == {"value": "image/webp"}
    assert request["uri"] == "/uploads/photo.jpg"


def test_the_handler_leaves_other_paths_and_ambiguous_aliases_alone(engine: Node | QuickJS) -> None:
    css = _event("/wp-content/style.css", {"ver": {"value": "6.4"}}, "text/css")
    assert engine.ask({"event": css}) == css["request"]
    both = _event("/a.png", {"grayscale": {"value": "0"}, "greyscale": {"value": "1"}, "x": {"value": "1"}})
    assert engine.ask({"event": both})["querystring"] == both["request"]["querystring"]


def test_the_function_fits_cloudfront_functions_limits() -> None:
    source = SOURCE.read_text(encoding="utf-8")
    assert len(source.encode("utf-8")) <= MAX_FUNCTION_BYTES
    # Runtime 2.0: no modules but CloudFront's own, no async work, no timers, no eval.
    for banned in ("require(", "import ", "async ", "await ", "setTimeout", "eval(", "new Function"):
        assert banned not in source, banned
    assert "function handler(event)" in source


def worst_queries() -> dict[str, str]:
    """Queries of ``MAX_QUERY`` characters that make the function work hardest (docs/security.md)."""
    n = MAX_QUERY
    names = sorted(KEPT) * 20
    return {
        "600 unknown arguments": "&".join(f"x{i}=%E3%80%80{i}" for i in range(600))[:n],
        "repeated crop regions": "&".join(["crop=%2010.500%2C+20px%2C30%2C40%20"] * 200)[:n],
        "every kept name, padded": "&".join(f"{k}=%C2%A0{i:04d}px" for i, k in enumerate(names))[:n],
        "w with 2,045 leading zeros": "w=" + "0" * (n - 3) + "1",
        "bad escapes in values": "&".join(["w=%%ZZ%C3"] * 800)[:n],
        "bad escapes in names": "&".join(["%%ZZ%C3=1"] * 800)[:n],
        "escaped names": "&".join(["%77%20=1"] * 900)[:n],
        "one long bad value": ("w=" + "%%ZZ%C3" * 1100)[:n],
    }


def test_a_query_beyond_the_limit_is_left_as_sent(engine: Node | QuickJS) -> None:
    query = "w=0300&" + "x=1&" * (MAX_QUERY // 4)
    assert canonical_query(query) == query == engine.ask({"query": query})
    assert outcome(query) == outcome("w=300")


def test_the_function_is_fast_on_worst_case_queries(node: Node) -> None:
    """CloudFront Functions allow about a millisecond of compute per call: the worst queries take a
    fraction of it under node (QuickJS, an interpreter, figures in docs/security.md)."""
    for name, query in worst_queries().items():
        assert node.ask({"query": query}) == canonical_query(query)
        micros = node.ask({"time": query, "n": 200})
        assert micros < 500, (name, micros)
