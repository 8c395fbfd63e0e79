"""Reading CloudFront events: bucket from the origin, URI ⇄ S3 key, headers, generated responses."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge import events
from tests.cf_events import origin_request, viewer_uri


@pytest.mark.parametrize(
    ("domain", "bucket"),
    [
        ("example-media.s3.amazonaws.com", "example-media"),
        ("example-media.s3.us-east-1.amazonaws.com", "example-media"),
        ("example-media.s3-eu-west-1.amazonaws.com", "example-media"),
        ("my.dotted.bucket.s3.eu-central-1.amazonaws.com", "my.dotted.bucket"),
        ("media.s3.dualstack.us-west-2.amazonaws.com", "media"),
        ("media.s3.cn-north-1.amazonaws.com.cn", "media"),
        ("example.org", None),
    ],
)
def test_bucket_from_the_s3_origin(domain: str, bucket: str | None) -> None:
    request = origin_request("x", "/a.jpg")["Records"][0]["cf"]["request"]
    request["origin"]["s3"]["domainName"] = domain
    assert events.bucket_of(request) == bucket


def test_custom_origin_has_no_bucket() -> None:
    assert events.bucket_of({"origin": {"custom": {"domainName": "example.org"}}}) is None
    assert events.bucket_of({}) is None


@pytest.mark.parametrize(
    ("uri", "key"),
    [
        ("/uploads/a%20b.jpg", "uploads/a b.jpg"),
        ("/uploads/a+b.jpg", "uploads/a+b.jpg"),  # + is a plus in a path
        ("/uploads/caf%C3%A9.jpg", "uploads/café.jpg"),
        ("/uploads/100%2525.jpg", "uploads/100%25.jpg"),
    ],
)
def test_original_key_decodes_the_uri(uri: str, key: str) -> None:
    assert events.original_key(uri) == key


def test_origin_uri_escapes_everything_ambiguous() -> None:
    assert events.uri_for_key("_derivatives/a b+c%/é.jpg") == "/_derivatives/a%20b%2Bc%25/%C3%A9.jpg"


@given(st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=60))
def test_keys_round_trip_through_uris(key: str) -> None:
    assert events.original_key(events.uri_for_key(key)) == key
    assert events.original_key(viewer_uri(key)) == key


def test_headers_and_forward() -> None:
    request: dict[str, Any] = origin_request("b", "/a.jpg", "acl&w=1", {"Accept": "image/webp"})
    request = request["Records"][0]["cf"]["request"]
    assert events.header(request, "accept") == "image/webp"
    assert events.header(request, "missing") is None
    events.set_header(request, "X-Tachyon-Outcome", "hit")
    assert request["headers"]["x-tachyon-outcome"] == [{"key": "X-Tachyon-Outcome", "value": "hit"}]
    forwarded = events.forward(request, "/b.jpg")
    assert (forwarded["uri"], forwarded["querystring"]) == ("/b.jpg", "")


def test_generated_response_shape() -> None:
    response = events.generated(400, "Bad Request", "Invalid w", {"Content-Type": "text/plain"})
    assert response == {
        "status": "400",
        "statusDescription": "Bad Request",
        "headers": {"content-type": [{"key": "Content-Type", "value": "text/plain"}]},
        "body": "Invalid w",
        "bodyEncoding": "text",
    }


@pytest.mark.parametrize("event", [None, {}, {"Records": []}, {"Records": [{"cf": 3}]}, {"Records": [{}]}])
def test_malformed_events_have_no_request(event: Any) -> None:
    assert events.find_request(event) is None
    assert events.find_response(event) is None


def test_origin_path_prefixes_the_key_and_a_rewrite_clears_it() -> None:
    request = origin_request("b", "/a.jpg")["Records"][0]["cf"]["request"]
    assert events.origin_path(request) == ""
    request["origin"]["s3"]["path"] = "/site/media/"
    assert events.origin_path(request) == "site/media/"
    events.rewrite_to_key(request, "_derivatives/site/media/a.jpg/w1.r1.jpg")
    assert (request["uri"], request["origin"]["s3"]["path"]) == (
        "/_derivatives/site/media/a.jpg/w1.r1.jpg",
        "",
    )
