"""The edge's origin-request / origin-response flow against moto's S3 over HTTP.

Every test looks at what a viewer would get: the request CloudFront forwards to
S3 (uri, query string), a generated response, or the derivative written to S3
(bytes that decode to the right size, its headers and metadata).
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from core.keys import RENDER_VERSION
from core.objects import IMMUTABLE
from core.settings import Settings
from edge import handler
from edge.events import original_key
from edge.flow import Edge
from tests.cf_events import header, origin_request, origin_response, viewer_uri


@pytest.fixture
def settings(s3_endpoint: str, redis_url: str) -> Settings:
    return Settings(s3_endpoint=s3_endpoint, broker_url=redis_url, region="us-east-1")


def run(settings: Settings, *events: dict[str, Any], trigger: str = "origin_request") -> list[dict[str, Any]]:
    """Send events one after another through one Edge, as one Lambda container would."""

    async def main() -> list[dict[str, Any]]:
        edge = Edge(settings)
        try:
            return [await getattr(edge, trigger)(event) for event in events]
        finally:
            await edge.close()

    return asyncio.run(main())


def upload(s3: Any, bucket: str, key: str, path: Path) -> str:
    """Put an original; returns its ETag."""
    answer = s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType="image/jpeg")
    return str(answer["ETag"])


def stored(s3: Any, bucket: str, uri: str) -> tuple[Image.Image, dict[str, Any]]:
    """The object a rewritten uri names, decoded, with its S3 headers."""
    answer = s3.get_object(Bucket=bucket, Key=original_key(uri))
    image = Image.open(io.BytesIO(answer["Body"].read()))
    image.load()
    return image, answer


def keys(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


# pass-through ---------------------------------------------------------------------


def test_non_image_path_passes_through_with_query_cleared(settings: Settings, bucket: str) -> None:
    (result,) = run(settings, origin_request(bucket, "/docs/readme.txt", "acl&versionId=3"))
    assert result["uri"] == "/docs/readme.txt"
    assert result["querystring"] == ""
    assert header(result, "x-tachyon-outcome") == "passthrough"


def test_image_without_transform_argument_passes_through(
    settings: Settings, bucket: str, s3_client: Any, fixtures: Path
) -> None:
    upload(s3_client, bucket, "a.jpg", fixtures / "hdr.jpg")
    (result,) = run(settings, origin_request(bucket, "/a.jpg", "response-content-type=text/html&utm=1"))
    assert (result["uri"], result["querystring"]) == ("/a.jpg", "")
    assert keys(s3_client, bucket) == ["a.jpg"]  # nothing rendered


def test_missing_original_passes_through_so_s3_answers(settings: Settings, bucket: str) -> None:
    (result,) = run(settings, origin_request(bucket, "/nope/missing.jpg", "w=100"))
    assert (result["uri"], result["querystring"]) == ("/nope/missing.jpg", "")
    assert header(result, "x-tachyon-outcome") == "passthrough"


def test_missing_original_answered_403_passes_through(
    settings: Settings, bucket: str, s3_client: Any
) -> None:
    """Without s3:ListBucket, S3 says 403 for a missing key: still "absent", not a failure."""
    deny_head(s3_client, bucket, "private/*")
    (result,) = run(settings, origin_request(bucket, "/private/missing.jpg", "w=100"))
    assert (result["uri"], result["querystring"]) == ("/private/missing.jpg", "")
    assert header(result, "x-tachyon-outcome") == "passthrough"


def test_derivative_answered_403_is_a_miss_and_renders(
    settings: Settings, bucket: str, s3_client: Any, fixtures: Path
) -> None:
    deny_head(s3_client, bucket, "_derivatives/*", ("Head",))  # the test itself reads it back
    upload(s3_client, bucket, "p.jpg", fixtures / "hdr.jpg")
    (result,) = run(settings, origin_request(bucket, "/p.jpg", "w=200"))
    assert header(result, "x-tachyon-outcome") == "rendered"
    image, _ = stored(s3_client, bucket, result["uri"])
    assert image.width == 200


def deny_head(s3: Any, bucket: str, pattern: str, actions: tuple[str, ...] = ("Get", "Head")) -> None:
    """A bucket policy making S3 answer 403 (as without ListBucket) for keys under ``pattern``."""
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": [f"s3:{action}Object" for action in actions],
        "Resource": f"arn:aws:s3:::{bucket}/{pattern}",
    }
    s3.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )


# invalid arguments ------------------------------------------------------------------


def test_invalid_argument_gets_a_short_lived_plain_400(settings: Settings, bucket: str) -> None:
    (result,) = run(settings, origin_request(bucket, "/a.jpg", "w=abc"))
    assert result["status"] == "400"
    assert header(result, "content-type") == "text/plain; charset=utf-8"
    assert header(result, "cache-control") == "public, max-age=10"
    assert "\n" not in result["body"]
    assert result["body"].startswith("Invalid w")
    assert "abc" in result["body"]


# render, hit, stale -----------------------------------------------------------------


def test_small_miss_renders_stores_and_rewrites_then_hits(
    settings: Settings, bucket: str, s3_client: Any, fixtures: Path
) -> None:
    etag = upload(s3_client, bucket, "uploads/2018/02/photo.jpg", fixtures / "briefing-copywriting.jpg")
    event = origin_request(bucket, "/uploads/2018/02/photo.jpg", "w=300&utm_source=x")
    first, second = run(settings, event, origin_request(bucket, "/uploads/2018/02/photo.jpg", "w=300"))

    assert header(first, "x-tachyon-outcome") == "rendered"
    assert first["querystring"] == ""
    assert first["uri"].startswith("/_derivatives/uploads/2018/02/photo.jpg/")
    assert first["uri"].endswith(".jpg")
    image, answer = stored(s3_client, bucket, first["uri"])
    assert (image.format, image.size) == ("JPEG", (300, 195))
    assert answer["ContentType"] == "image/jpeg"
    assert answer["CacheControl"] == IMMUTABLE
    assert answer["Metadata"]["original-etag"] == etag.strip('"')

    assert header(second, "x-tachyon-outcome") == "hit"
    assert (second["uri"], second["querystring"]) == (first["uri"], "")


def test_wordpress_plugin_forms(settings: Settings, bucket: str, s3_client: Any, fixtures: Path) -> None:
    upload(s3_client, bucket, "wp.jpg", fixtures / "briefing-copywriting.jpg")
    resize, fit = run(
        settings,
        origin_request(bucket, "/wp.jpg", "resize=150%2C150"),
        origin_request(bucket, "/wp.jpg", "fit=300%2C300"),
    )
    assert stored(s3_client, bucket, resize["uri"])[0].size == (150, 150)
    assert stored(s3_client, bucket, fit["uri"])[0].size == (300, 195)
    # the comma written plainly is the same derivative
    (plain,) = run(settings, origin_request(bucket, "/wp.jpg", "resize=150,150"))
    assert header(plain, "x-tachyon-outcome") == "hit"
    assert plain["uri"] == resize["uri"]


@pytest.mark.parametrize(
    "key",
    ["uploads/my photo.jpg", "uploads/a+b.jpg", "uploads/été/café ☕.jpg", "uploads/100%25 done%2F.jpg"],
)
def test_awkward_keys_round_trip(
    settings: Settings, bucket: str, s3_client: Any, fixtures: Path, key: str
) -> None:
    upload(s3_client, bucket, key, fixtures / "hdr.jpg")
    rendered, hit = run(
        settings,
        origin_request(bucket, viewer_uri(key), "w=100"),
        origin_request(bucket, viewer_uri(key), "w=100"),
    )
    assert header(rendered, "x-tachyon-outcome") == "rendered"
    assert original_key(rendered["uri"]).startswith(f"_derivatives/{key}/")
    assert "+" not in rendered["uri"] and " " not in rendered["uri"]  # escaped for the origin
    assert stored(s3_client, bucket, rendered["uri"])[0].width == 100
    assert header(hit, "x-tachyon-outcome") == "hit"
    assert hit["uri"] == rendered["uri"]


def test_original_overwritten_in_place_is_rendered_again(
    settings: Settings, bucket: str, s3_client: Any, fixtures: Path
) -> None:
    upload(s3_client, bucket, "same.jpg", fixtures / "briefing-copywriting.jpg")
    (first,) = run(settings, origin_request(bucket, "/same.jpg", "w=400"))
    assert stored(s3_client, bucket, first["uri"])[0].size == (400, 260)

    new_etag = upload(s3_client, bucket, "same.jpg", fixtures / "hdr.jpg")  # 899×446
    (second,) = run(settings, origin_request(bucket, "/same.jpg", "w=400"))
    assert header(second, "x-tachyon-outcome") == "rendered"
    image, answer = stored(s3_client, bucket, second["uri"])
    assert image.size == (400, 198)
    assert answer["Metadata"]["original-etag"] == new_etag.strip('"')


def test_static_gif_renders_to_png_under_the_gif_urls_one_key_and_then_hits(
    settings: Settings, bucket: str, s3_client: Any, fixtures: Path
) -> None:
    still = io.BytesIO()
    Image.open(fixtures / "hdr.jpg").convert("P").save(still, format="GIF")  # 899×446
    s3_client.put_object(Bucket=bucket, Key="still.gif", Body=still.getvalue())
    first, second = run(
        settings, origin_request(bucket, "/still.gif", "w=120"), origin_request(bucket, "/still.gif", "w=120")
    )
    assert first["uri"].endswith(f"/w120.r{RENDER_VERSION}.gif"), "the key the URL names, static or animated"
    image, answer = stored(s3_client, bucket, first["uri"])
    assert (image.format, image.width, answer["ContentType"]) == ("PNG", 120, "image/png")
    assert header(second, "x-tachyon-outcome") == "hit"


def test_explicit_format_and_auto_format(
    settings: Settings, bucket: str, s3_client: Any, fixtures: Path
) -> None:
    upload(s3_client, bucket, "f.jpg", fixtures / "hdr.jpg")
    accept = {"Accept": "image/avif,image/webp,*/*"}
    (explicit,) = run(settings, origin_request(bucket, "/f.jpg", "w=90&format=webp", accept))
    assert stored(s3_client, bucket, explicit["uri"])[0].format == "WEBP"
    (ignored,) = run(settings, origin_request(bucket, "/f.jpg", "w=90", accept))
    assert stored(s3_client, bucket, ignored["uri"])[0].format == "JPEG"  # auto-format is off
    auto = settings.model_copy(update={"auto_format": True})
    (chosen,) = run(auto, origin_request(bucket, "/f.jpg", "w=91", accept))
    assert stored(s3_client, bucket, chosen["uri"])[0].format == "AVIF"
    (webp,) = run(auto, origin_request(bucket, "/f.jpg", "w=91", {"Accept": "image/webp,*/*"}))
    assert stored(s3_client, bucket, webp["uri"])[0].format == "WEBP"


def test_srcset_full_width_above_the_output_limit_serves_the_original(
    settings: Settings, bucket: str, s3_client: Any, fixtures: Path
) -> None:
    # WordPress's srcset names the full size as its largest entry (w=<full width>); on an
    # original wider than the output limit that is the original itself, not a 400.
    upload(s3_client, bucket, "big.jpg", fixtures / "hdr.jpg")  # 899×446
    narrow = settings.model_copy(update={"max_output_side": 800})
    full, wider, smaller = run(
        narrow,
        origin_request(bucket, "/big.jpg", "w=899"),
        origin_request(bucket, "/big.jpg", "w=1200"),
        origin_request(bucket, "/big.jpg", "w=400"),
    )
    for served in (full, wider):
        assert (served["uri"], served["querystring"]) == ("/big.jpg", "")
        assert header(served, "x-tachyon-outcome") == "passthrough"  # the original's own caching
    assert header(smaller, "x-tachyon-outcome") == "rendered"
    assert stored(s3_client, bucket, smaller["uri"])[0].size == (400, 198)
    assert len(keys(s3_client, bucket)) == 2  # the original and the one real derivative
    (response,) = run(narrow, origin_response(full, Cache_Control="max-age=86400"), trigger="origin_response")
    assert header(response, "cache-control") == "max-age=86400"  # not the short fallback lifetime


def test_multi_picture_jpeg_renders_at_the_edge(settings: Settings, bucket: str, s3_client: Any) -> None:
    photo, second = Image.new("RGB", (800, 600), "red"), Image.new("RGB", (800, 600), "blue")
    body = io.BytesIO()
    photo.save(body, "MPO", save_all=True, append_images=[second])
    s3_client.put_object(Bucket=bucket, Key="phone.jpg", Body=body.getvalue())
    (result,) = run(settings, origin_request(bucket, "/phone.jpg", "w=200&webp=1"))
    assert header(result, "x-tachyon-outcome") == "rendered"  # a still photo: not queued
    image, _ = stored(s3_client, bucket, result["uri"])
    assert (image.format, image.size, getattr(image, "n_frames", 1)) == ("WEBP", (200, 150), 1)


# failures of ours -------------------------------------------------------------------


def test_corrupt_original_falls_back_to_the_original(settings: Settings, bucket: str, s3_client: Any) -> None:
    s3_client.put_object(Bucket=bucket, Key="broken.jpg", Body=b"\xff\xd8\xff not really a jpeg")
    (result,) = run(settings, origin_request(bucket, "/broken.jpg", "w=100"))
    assert (result["uri"], result["querystring"]) == ("/broken.jpg", "")
    assert header(result, "x-tachyon-outcome") == "fallback"
    assert keys(s3_client, bucket) == ["broken.jpg"]


def test_s3_unreachable_falls_back_without_exception(settings: Settings, bucket: str) -> None:
    down = settings.model_copy(update={"s3_endpoint": "http://127.0.0.1:1", "s3_timeout": 1.0})
    (result,) = run(down, origin_request(bucket, "/a.jpg", "w=100"))
    assert (result["uri"], result["querystring"]) == ("/a.jpg", "")
    assert header(result, "x-tachyon-outcome") == "fallback"


def test_original_above_the_source_limit_is_served_as_is(
    settings: Settings, bucket: str, s3_client: Any, fixtures: Path, redis_url: str
) -> None:
    upload(s3_client, bucket, "huge.png", fixtures / "humans.png")
    tight = settings.model_copy(update={"max_source_bytes": 1_000_000, "sync_max_bytes": 500_000})
    (result,) = run(tight, origin_request(bucket, "/huge.png", "w=100"))
    assert (result["uri"], header(result, "x-tachyon-outcome")) == ("/huge.png", "fallback")


def test_no_bucket_anywhere_falls_back(settings: Settings) -> None:
    event = origin_request("unused", "/a.jpg", "w=10")
    event["Records"][0]["cf"]["request"]["origin"] = {"custom": {"domainName": "example.org"}}
    (result,) = run(settings, event)
    assert (result["uri"], result["querystring"]) == ("/a.jpg", "")
    assert header(result, "x-tachyon-outcome") == "fallback"


def test_malformed_events_never_raise(settings: Settings) -> None:
    odd_request = {"Records": [{"cf": {"request": {"uri": 7, "querystring": "w=1"}}}]}
    results = run(settings, {}, {"Records": []}, odd_request)
    assert [r["status"] for r in results[:2]] == ["400", "400"]
    assert results[2] == {"uri": 7, "querystring": "w=1"}  # returned unchanged
    responses = run(
        settings, {}, {"Records": [{"cf": {"response": {"status": "200"}}}]}, trigger="origin_response"
    )
    assert responses[0]["status"] == "400"
    assert responses[1]["status"] == "200"


# origin-response --------------------------------------------------------------------


def test_origin_response_short_ttl_for_fallback_untouched_hit(settings: Settings) -> None:
    forwarded = origin_request("b", "/a.jpg")["Records"][0]["cf"]["request"]
    fallback = dict(
        forwarded, headers={"x-tachyon-outcome": [{"key": "X-Tachyon-Outcome", "value": "fallback"}]}
    )
    queued = dict(forwarded, headers={"x-tachyon-outcome": [{"key": "X-Tachyon-Outcome", "value": "queued"}]})
    hit = dict(forwarded, headers={"x-tachyon-outcome": [{"key": "X-Tachyon-Outcome", "value": "hit"}]})
    long = "public, max-age=31536000, immutable"
    out = run(
        settings,
        origin_response(fallback, 200, Cache_Control="max-age=86400"),
        origin_response(queued, 200),
        origin_response(hit, 200, Cache_Control=long),
        origin_response(fallback, 403),
        origin_response(forwarded, 200),
        trigger="origin_response",
    )
    assert header(out[0], "cache-control") == "public, max-age=10"
    assert header(out[0], "x-tachyon") == "fallback"
    assert header(out[1], "cache-control") == "public, max-age=10"
    assert header(out[1], "x-tachyon") == "queued"
    assert header(out[2], "cache-control") == long
    assert header(out[2], "x-tachyon") == "hit"
    assert header(out[3], "cache-control") is None  # S3's 403 is left as S3 sent it
    assert out[3]["status"] == "403"
    assert header(out[4], "x-tachyon") == "passthrough"
    assert header(out[4], "content-length") == "2456301"  # other headers kept


def test_fallback_revalidated_with_304_keeps_the_short_ttl(settings: Settings) -> None:
    # When a cached fallback expires, CloudFront revalidates it with If-None-Match; while the
    # job is still queued S3 answers 304, and CloudFront refreshes the object's lifetime from
    # that response: without the short Cache-Control the original would stay for the default TTL.
    forwarded = origin_request("b", "/a.jpg")["Records"][0]["cf"]["request"]
    forwarded["headers"]["x-tachyon-outcome"] = [{"key": "X-Tachyon-Outcome", "value": "queued"}]
    (out,) = run(settings, origin_response(forwarded, 304), trigger="origin_response")
    assert out["status"] == "304"
    assert header(out, "cache-control") == "public, max-age=10"


def test_fallback_ttl_is_configurable(settings: Settings) -> None:
    forwarded = origin_request("b", "/a.jpg")["Records"][0]["cf"]["request"]
    forwarded["headers"]["x-tachyon-outcome"] = [{"key": "X-Tachyon-Outcome", "value": "fallback"}]
    (out,) = run(
        settings.model_copy(update={"fallback_ttl": 3}), origin_response(forwarded), trigger="origin_response"
    )
    assert header(out, "cache-control") == "public, max-age=3"


# Lambda entry points ----------------------------------------------------------------


def test_lambda_entry_points_reuse_one_edge(
    settings: Settings, bucket: str, s3_client: Any, fixtures: Path
) -> None:
    upload(s3_client, bucket, "l.jpg", fixtures / "hdr.jpg")
    edge = handler.configure(settings)
    try:
        first = handler.origin_request(origin_request(bucket, "/l.jpg", "w=50"), None)
        client = edge.storage._client
        second = handler.origin_request(origin_request(bucket, "/l.jpg", "w=50"), None)
        assert edge.storage._client is client  # made once, reused
        response = handler.origin_response(origin_response(second, 200), None)
    finally:
        handler.configure(Settings(s3_endpoint="http://127.0.0.1:1"))
    assert header(first, "x-tachyon-outcome") == "rendered"
    assert header(second, "x-tachyon-outcome") == "hit"
    assert header(response, "x-tachyon") == "hit"


def test_origin_path_is_part_of_the_key(
    settings: Settings, bucket: str, s3_client: Any, fixtures: Path
) -> None:
    """A distribution with origin path /media: the original is media/a.jpg; the rewrite leaves the path."""
    upload(s3_client, bucket, "media/a.jpg", fixtures / "hdr.jpg")
    event = origin_request(bucket, "/a.jpg", "w=64")
    event["Records"][0]["cf"]["request"]["origin"]["s3"]["path"] = "/media"
    (result,) = run(settings, event)
    assert header(result, "x-tachyon-outcome") == "rendered"
    assert result["uri"].startswith("/_derivatives/media/a.jpg/")
    assert result["origin"]["s3"]["path"] == ""
    assert stored(s3_client, bucket, result["uri"])[0].width == 64

    missing = origin_request(bucket, "/b.jpg", "w=64")
    missing["Records"][0]["cf"]["request"]["origin"]["s3"]["path"] = "/media"
    (passed,) = run(settings, missing)
    assert (passed["uri"], passed["origin"]["s3"]["path"]) == ("/b.jpg", "/media")


def test_one_json_log_line_per_invocation(
    settings: Settings, bucket: str, s3_client: Any, fixtures: Path, caplog: pytest.LogCaptureFixture
) -> None:
    upload(s3_client, bucket, "log.jpg", fixtures / "hdr.jpg")
    with caplog.at_level("INFO", logger="tachyon.edge"):
        run(settings, origin_request(bucket, "/log.jpg", "w=30"), origin_request(bucket, "/log.jpg", "w=30"))
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tachyon.edge"]
    assert [line["outcome"] for line in lines] == ["rendered", "hit"]
    rendered, hit = lines
    assert rendered["key"] == hit["key"]
    assert hit["key"].startswith("_derivatives/log.jpg/")
    assert {"s3_head", "s3_get", "render", "s3_put"} <= set(rendered["ms"])
    assert set(hit["ms"]) <= {"s3_client", "s3_head"}  # a hit reads no image bytes
    assert hit["total_ms"] >= hit["ms"]["s3_head"]


def test_s3_that_never_answers_times_out_to_fallback(settings: Settings, bucket: str) -> None:
    """A connection accepted but never answered: bounded by s3_timeout, then the original."""
    import socket
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        host, port = silent.getsockname()
        slow = settings.model_copy(update={"s3_endpoint": f"http://{host}:{port}", "s3_timeout": 0.5})
        began = time.monotonic()
        (result,) = run(slow, origin_request(bucket, "/t.jpg", "w=10"))
        elapsed = time.monotonic() - began
    finally:
        silent.close()
    assert (result["uri"], header(result, "x-tachyon-outcome")) == ("/t.jpg", "fallback")
    assert elapsed < 5


def test_invalid_bundled_configuration_passes_requests_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bucket: str
) -> None:
    """A broken config file must not take the site down: requests go to S3 as asked, query cleared."""
    from core.settings import get_settings

    bad = tmp_path / "tachyon.toml"
    bad.write_text("fallback_ttl = -5\n")
    monkeypatch.setenv("TACHYON_CONFIG", str(bad))
    get_settings.cache_clear()
    try:
        error = handler.reload()
        result = handler.origin_request(origin_request(bucket, "/a.jpg", "w=10&acl"), None)
        response = handler.origin_response(origin_response({"uri": "/a.jpg"}, 200), None)
    finally:
        monkeypatch.delenv("TACHYON_CONFIG")
        get_settings.cache_clear()
        handler.configure(Settings(s3_endpoint="http://127.0.0.1:1"))
    assert (result["uri"], result["querystring"]) == ("/a.jpg", "")
    assert response["status"] == "200"
    assert "fallback_ttl" in (error or "")


@pytest.mark.parametrize(("uri", "method"), [("/bad%FF.jpg", "GET"), ("/a.jpg", "OPTIONS")])
def test_unusable_keys_and_methods_pass_through(
    settings: Settings, bucket: str, s3_client: Any, fixtures: Path, *, uri: str, method: str
) -> None:
    upload(s3_client, bucket, "a.jpg", fixtures / "hdr.jpg")  # present: only the method or key stops it
    event = origin_request(bucket, uri, "w=10")
    event["Records"][0]["cf"]["request"]["method"] = method
    (result,) = run(settings, event)
    assert (result["uri"], result["querystring"]) == (uri, "")
    assert header(result, "x-tachyon-outcome") == "passthrough"
