"""Signed URLs: tampering attempts through the local CloudFront, in front of moto's S3.

Real parts: the edge's own triggers, moto's S3 server over HTTP, Redis, and the
viewer-request function (on, and off: the edge checks the signature on its own).
A refused request is a 403 with a short reason and a short lifetime, and stores nothing.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydantic import ValidationError

from core.settings import Settings
from core.signing import message, sign_url, signature, verify
from edge.flow import Edge
from tests.local import Recorder, exact, run
from tests.local import cloudfront as launch

KEY = "k1-" + "a" * 40
NEXT = "k2-" + "b" * 40
RETIRED = "k0-" + "c" * 40


@pytest.fixture(params=[True, False], ids=["viewer-function", "no-viewer-function"])
def settings(request: pytest.FixtureRequest, s3_endpoint: str, bucket: str, redis_url: str) -> Settings:
    return Settings(
        bucket=bucket,
        s3_endpoint=s3_endpoint,
        broker_url=redis_url,
        lock_url=redis_url,
        signing_keys=[NEXT, KEY],
        viewer_function=request.param,
    )


def test_a_signature_covers_the_decoded_path_and_the_canonical_query() -> None:
    assert message("/a%20b.jpg", "w=0300&x=1", None) == b"\n/a b.jpg\nw=300"
    assert signature(KEY, "/a.jpg", "w=300&h=2") == signature(KEY, "/a.jpg", "h=2&w=300&utm=1")
    assert signature(KEY, "/a.jpg", "w=300") != signature(KEY, "/a.jpg", "w=301")
    assert signature(KEY, "/a.jpg", "w=300", 100).startswith("100.")
    signed = sign_url("https://cdn.example.com/a.jpg?w=300&s=old", KEY)
    assert signed.startswith("https://cdn.example.com/a.jpg?w=300&s=") and "old" not in signed
    assert verify("/a.jpg", signed.split("?")[1], [KEY]) is None


def test_short_keys_are_refused_by_the_settings() -> None:
    with pytest.raises(ValidationError, match="shorter than 32"):
        Settings(signing_keys=["secret"])


def _seed(s3_client: Any, bucket: str, fixtures: Path) -> None:
    body = (fixtures / "hdr.jpg").read_bytes()
    s3_client.put_object(Bucket=bucket, Key="hdr.jpg", Body=body, ContentType="image/jpeg")
    s3_client.put_object(Bucket=bucket, Key="other.jpg", Body=body, ContentType="image/jpeg")


def _stored(s3_client: Any, bucket: str) -> list[str]:
    listed = s3_client.list_objects_v2(Bucket=bucket, Prefix="_derivatives/")
    return [item["Key"] for item in listed.get("Contents", [])]


def test_tampered_urls_are_refused_and_signed_ones_served(
    settings: Settings, s3_client: Any, bucket: str, fixtures: Path
) -> None:
    _seed(s3_client, bucket, fixtures)
    good = sign_url("/hdr.jpg?w=120&h=80&crop=1", NEXT)
    sig = good.rsplit("s=", 1)[1]
    later = int(time.time()) + 3600
    refused = {
        "/hdr.jpg?w=120&h=80&crop=1": "Missing signature.",
        "/hdr.jpg?w=121&h=80&crop=1&s=" + sig: "Invalid signature.",  # a changed argument
        "/hdr.jpg?w=120&h=80&crop=1&quality=90&s=" + sig: "Invalid signature.",  # an added one
        "/hdr.jpg?w=120&h=80&s=" + sig: "Invalid signature.",  # a removed one
        "/hdr.jpg?W=120&h=80&crop=1&s=" + sig: "Invalid signature.",  # a name's case (W is unknown)
        "/hdr.jpg?w=120&h=80&crop=1&s=" + sig.swapcase(): "Invalid signature.",
        "/hdr.jpg?w=120&h=80&crop=1&s=" + sig[:-2]: "Invalid signature.",  # truncated
        "/hdr.jpg?w=120&h=80&crop=1&s=" + sig + sig: "Invalid signature.",  # doubled
        "/hdr.jpg?w=120&h=80&crop=1&s=" + sig + "&s=x": "Invalid signature.",  # the last s counts
        "/other.jpg?w=120&h=80&crop=1&s=" + sig: "Invalid signature.",  # another path
        "/hdr.jpg?w=120&h=80&crop=1&s=" + f"{later}.{sig}": "Invalid signature.",  # an expiry added
        sign_url("/hdr.jpg?w=120&h=80&crop=1", NEXT, expires=int(time.time()) - 1): "Signature expired.",
        sign_url("/hdr.jpg?w=120&h=80&crop=1", RETIRED): "Invalid signature.",  # a retired key
    }
    accepted = [
        good,
        sign_url("/hdr.jpg?w=120&h=80&crop=1", KEY),  # the second key still verifies
        sign_url("/hdr.jpg?w=120&h=80&crop=1", NEXT, expires=later),
        f"/hdr.jpg?crop=1&s={sig}&h=80&w=120",  # reordered: the same canonical query, by design
        f"/hdr.jpg?w=%31%32%30&h=080&crop=true&s={sig}",  # re-encoded: the same values
        f"/hdr.jpg?w=120&h=80&crop=1&utm_source=x&s={sig}",  # an argument the edge never reads
        f"/hdr.jpg?w=120&h=80&crop=1&s=x&s={sig}",
    ]

    async def test() -> None:
        async with launch(settings, Recorder(Edge(settings))) as cdn:
            for target, reason in refused.items():
                response = await cdn.client.session.get(exact(cdn.client, target))
                assert response.status == 403, target
                assert await response.text() == reason, target
                assert response.headers["Cache-Control"] == f"public, max-age={settings.error_ttl}"
                assert response.headers["x-tachyon"] == "forbidden"
            assert _stored(s3_client, bucket) == [], "a refused request renders and stores nothing"
            for target in accepted:
                response = await cdn.client.session.get(exact(cdn.client, target))
                assert response.status == 200, target
                assert Image.open(io.BytesIO(await response.read())).size == (120, 80)
            assert len(_stored(s3_client, bucket)) == 1
            original = await cdn.client.get("/hdr.jpg")  # the original needs no signature
            assert original.status == 200
            assert await original.read() == (fixtures / "hdr.jpg").read_bytes()

    run(test)


def test_the_sign_command_signs_with_the_first_configured_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from cli import main
    from core.settings import get_settings

    def invoke(*args: str) -> Any:
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(main, ["sign", *args])
        finally:
            get_settings.cache_clear()

    monkeypatch.setenv("TACHYON_SIGNING_KEYS", "[]")
    missing = invoke("/a.jpg?w=1")
    assert missing.exit_code != 0 and "no signing key" in missing.output
    monkeypatch.setenv("TACHYON_SIGNING_KEYS", f'["{NEXT}", "{KEY}"]')
    done = invoke("https://cdn.example.com/uploads/a%20b.jpg?resize=150%2C150")
    assert done.exit_code == 0, done.output
    url = done.output.strip()
    assert url.startswith("https://cdn.example.com/uploads/a%20b.jpg?resize=150%2C150&s=")
    query = url.split("?", 1)[1]
    assert verify("/uploads/a%20b.jpg", query, [NEXT]) is None
    assert verify("/uploads/a%20b.jpg", query, [KEY]) == "Invalid signature."
    timed = invoke("/a.jpg?w=1", "--key", KEY, "--expires", "60")
    expires = int(timed.output.split("s=")[1].split(".")[0])
    assert time.time() < expires <= time.time() + 61


def _as_the_mu_plugin_signs(path: str, args: dict[str, str], key: str) -> str:
    """docs/security.md's WordPress snippet, line by line: known names, aliases merged, trimmed,
    sorted, rawurlencode with commas kept, HMAC over "\\n" path "\\n" query, base64url."""
    import base64
    import hashlib
    import hmac
    from urllib.parse import quote, unquote

    from core.args.canonical import KNOWN, PRESET

    pairs = {}
    for given, value in args.items():
        name = "grayscale" if given == "greyscale" else given
        if name in KNOWN | {PRESET} and value.strip():
            pairs[name] = quote(value.strip(), safe="~").replace("%2C", ",")
    query = "&".join(f"{name}={pairs[name]}" for name in sorted(pairs))
    digest = hmac.new(key.encode(), f"\n{unquote(path)}\n{query}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "args",
    [
        {"resize": "150,150"},
        {"fit": "300,300"},
        {"w": "1024"},
        {"w": "300", "h": "200", "crop": "1"},
        {"resize": "768,512", "gravity": "north", "quality": "80"},
        {"crop": "10,20,50,50", "resize": "300,200"},
        {"fit": "1200,1200", "zoom": "2"},
        {"lb": "300,300", "background": "red"},
    ],
)
def test_what_the_wordpress_plugin_writes_is_signed_alike_by_the_snippet(args: dict[str, str]) -> None:
    """The snippet does not port canonical_query: it relies on the plugin writing each value in
    its canonical spelling already; these are the plugin's shapes (sizes, crops, zoom)."""
    path = "/uploads/2018/02/a%20photo.jpg"
    query = "&".join(f"{k}={v.replace(',', '%2C')}" for k, v in args.items())
    assert _as_the_mu_plugin_signs(path, args, KEY) == signature(KEY, path, query)


def test_the_keys_reach_the_lambda_package_settings_and_verify_from_there() -> None:
    import json

    from edge.config import EdgeConfig

    bundled = json.loads(EdgeConfig.from_settings(Settings(signing_keys=[NEXT, KEY])).to_json())
    assert bundled["signing_keys"] == [NEXT, KEY]
    config = EdgeConfig(bundled)
    query = sign_url("/a.jpg?w=300", KEY).split("?")[1]
    assert verify("/a.jpg", query, config.signing_keys) is None
