"""Which pass a request is, and what the URL alone decides (``edge.request``): no S3 involved.

The events are CloudFront's recorded example with the origin's custom header
of docs/deploy.md; ``route`` is the code the Lambda runs before anything else.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.keys import RENDER_VERSION
from core.settings import Settings
from edge.config import EdgeConfig
from edge.request import Ask, route
from tests.cf_events import header, origin_request

CONFIG = EdgeConfig.from_settings(Settings())
KEY = f"_derivatives/photos/a.jpg/w120_q82.r{RENDER_VERSION}.jpg"


def event(uri: str, query: str = "", origin: str | None = None, **headers: str) -> dict[str, Any]:
    """An origin-request event routed to the ``origin`` of an origin group (None: the only origin)."""
    made = origin_request("media", uri, query, headers or None)
    if origin is not None:
        entry = [{"key": "X-Tachyon-Origin", "value": origin}]
        made["Records"][0]["cf"]["request"]["origin"]["s3"]["customHeaders"] = {"x-tachyon-origin": entry}
    return made


def test_the_primary_pass_rewrites_to_the_key_the_url_names() -> None:
    result = route(event("/photos/a.jpg", "w=120&acl", "primary"), CONFIG)
    assert not isinstance(result, Ask)
    assert (result["uri"], result["querystring"]) == (f"/{KEY}", "")
    assert header(result, "x-tachyon-outcome") == "hit"
    assert header(result, "x-tachyon-request") == "/photos/a.jpg?w=120&acl", "for a failover pass handed this"


@pytest.mark.parametrize(
    ("origin", "freshness"),
    [(None, "purge"), ("primary", "verify"), ("failover", "purge"), ("bogus", "purge")],
)
def test_every_other_pass_goes_on_to_s3(origin: str | None, freshness: str) -> None:
    config = EdgeConfig.from_settings(Settings(freshness=freshness))
    result = route(event("/photos/a.jpg", "w=120", origin), config)
    assert isinstance(result, Ask)
    assert (result.key, result.query) == ("photos/a.jpg", "w=120")
    assert result.passed == {"primary": "primary", "failover": "failover"}.get(origin or "")


@pytest.mark.parametrize("origin", [None, "primary", "failover"])
def test_the_url_decides_the_same_in_every_pass(origin: str | None) -> None:
    invalid = route(event("/a.jpg", "w=abc", origin), CONFIG)
    assert not isinstance(invalid, Ask)
    assert (invalid["status"], invalid["body"][:9]) == ("400", "Invalid w")
    for uri, query in (("/notes.txt", "w=10"), ("/a.jpg", "utm_source=x"), ("/bad%FF.jpg", "w=10")):
        passed = route(event(uri, query, origin), CONFIG)
        assert not isinstance(passed, Ask)
        assert (passed["uri"], passed["querystring"], header(passed, "x-tachyon-outcome")) == (
            uri,
            "",
            "passthrough",
        )


def test_the_failover_pass_undoes_the_primarys_rewrite() -> None:
    primary = route(event("/photos/a.jpg", "w=120", "primary"), CONFIG)
    assert not isinstance(primary, Ask)
    handed = event("/", "", "failover")
    handed["Records"][0]["cf"]["request"].update(
        uri=primary["uri"], querystring="", headers=primary["headers"]
    )
    result = route(handed, CONFIG)
    assert isinstance(result, Ask)
    assert (result.key, result.query, result.passed) == ("photos/a.jpg", "w=120", "failover")


@pytest.mark.parametrize(
    ("uri", "recorded"),
    [
        (f"/{KEY}", "/photos/other.jpg?w=120"),  # names another original
        (f"/{KEY}", "/photos/a.jpg?w=121"),  # another transform
        ("/photos/a.jpg", "/secret.jpg?w=5"),  # a viewer's own header on a plain URL
    ],
)
def test_a_recorded_request_that_is_not_this_rewrite_is_ignored(uri: str, recorded: str) -> None:
    handed = event(uri, "", "failover", **{"X-Tachyon-Request": recorded})
    result = route(handed, CONFIG)
    assert not isinstance(result, Ask), "nothing to transform: the uri is served as it is"
    assert (result["uri"], header(result, "x-tachyon-outcome")) == (uri, "passthrough")
