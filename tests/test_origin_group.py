"""The production path: the local CloudFront's origin group, with every S3 request counted at S3.

Real parts: the edge's own triggers, moto's S3 over HTTP behind a request log
(``tests.s3log``: the S3 server's view of who asked what), Redis as broker and
lock store. Each outcome is checked for both readings of CloudFront's "the same
request" on failover (the viewer's request again, or the primary pass's
rewritten one) and for both freshness modes. On a hit, the log shows one
request, CloudFront's, and none from the function.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from multidict import CIMultiDictProxy
from PIL import Image

from core.jobs import RENDER_TASK
from core.keys import RENDER_VERSION
from core.settings import Settings
from edge.flow import Edge
from edge.local.origins import FailoverRequest
from tests.helpers import messages
from tests.local import Distribution, Recorder, exact, run
from tests.local import cloudfront as launch
from tests.s3log import S3Log, round_trips

DERIVATIVE = f"_derivatives/hdr.jpg/w120_q82.r{RENDER_VERSION}.jpg"


@pytest.fixture(params=["viewer", "rewritten"])
def sent(request: pytest.FixtureRequest) -> FailoverRequest:
    """What CloudFront hands the failover pass: undocumented, so the edge must take either."""
    reading: FailoverRequest = request.param
    return reading


@pytest.fixture
def settings(s3log: S3Log, bucket: str, redis_url: str) -> Settings:
    return Settings(
        bucket=bucket, s3_endpoint=s3log.endpoint, broker_url=redis_url, lock_url=redis_url, fallback_ttl=1
    )


class Gated(Recorder):
    """The real edge; while ``gate`` is closed, origin-request waits (to hold a miss in flight)."""

    def __init__(self, edge: Edge) -> None:
        super().__init__(edge)
        self.gate = asyncio.Event()
        self.gate.set()

    async def origin_request(self, event: dict[str, Any]) -> dict[str, Any]:
        await self.gate.wait()
        return await super().origin_request(event)


@dataclass
class View:
    """A running distribution, its triggers and the S3 request log."""

    distribution: Distribution
    recorder: Gated
    log: S3Log
    bucket: str


@dataclass(frozen=True)
class Miss:
    """One CloudFront miss: what the viewer got and what it cost S3."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    function: list[str]  # requests the edge function sent S3, as "METHOD key status"
    cloudfront: list[str]  # CloudFront's own origin fetches
    round_trips: int
    runs: int  # origin-request invocations
    failover: bool

    @property
    def outcome(self) -> str | None:
        return self.headers.get("X-Tachyon")


@asynccontextmanager
async def distribution(
    settings: Settings, log: S3Log, sent: FailoverRequest = "viewer"
) -> AsyncIterator[View]:
    recorder = Gated(Edge(settings))
    async with launch(settings, recorder, failover_request=sent) as running:
        assert settings.bucket is not None
        yield View(running, recorder, log, settings.bucket)


async def miss(view: View, target: str) -> Miss:
    """Ask ``target`` with CloudFront's cache emptied first, so it is a miss."""
    view.distribution.local.cache.clear()
    view.log.clear()
    runs = len(view.recorder.requests)
    client = view.distribution.client
    response = await client.session.get(exact(client, target))
    body = await response.read()
    requests = view.log.of(view.bucket)
    return Miss(
        response.status,
        response.headers,
        body,
        [r.line for r in requests if r.by_function],
        [r.line for r in requests if not r.by_function],
        round_trips(requests),
        len(view.recorder.requests) - runs,
        view.distribution.served[-1].failover,
    )


def image(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


def upload(s3_client: Any, bucket: str, key: str, data: bytes, **extra: Any) -> None:
    s3_client.put_object(Bucket=bucket, Key=key, Body=data, **extra)


def failover_request(view: View) -> dict[str, Any]:
    """The request of the last failover pass, as the function received it."""
    request: dict[str, Any] = view.recorder.requests[-1]["Records"][0]["cf"]["request"]
    assert request["origin"]["s3"]["customHeaders"]["x-tachyon-origin"][0]["value"] == "failover"
    return request


# --- hit and rendered -----------------------------------------------------------------


def test_a_miss_renders_on_failover_then_a_hit_costs_s3_one_request_cloudfronts(
    settings: Settings, s3log: S3Log, s3_client: Any, bucket: str, fixtures: Path, sent: FailoverRequest
) -> None:
    upload(s3_client, bucket, "hdr.jpg", (fixtures / "hdr.jpg").read_bytes(), ContentType="image/jpeg")

    async def test() -> None:
        async with distribution(settings, s3log, sent) as view:
            rendered = await miss(view, "/hdr.jpg?w=120")
            assert (rendered.status, rendered.outcome, rendered.failover, rendered.runs) == (
                200, "rendered", True, 2,
            )  # fmt: skip
            assert image(rendered.body).size == (120, 60)
            assert rendered.cloudfront == [f"GET {DERIVATIVE} 404", f"GET {DERIVATIVE} 200"]
            assert rendered.function == ["GET hdr.jpg 200", f"PUT {DERIVATIVE} 200"]
            assert rendered.round_trips == 4
            second = failover_request(view)
            if sent == "viewer":
                assert (second["uri"], second["querystring"]) == ("/hdr.jpg", "w=120")
            else:  # the primary's rewrite, recognised and undone by the failover pass
                assert (second["uri"], second["querystring"]) == (f"/{DERIVATIVE}", "")
                assert second["headers"]["x-tachyon-request"][0]["value"] == "/hdr.jpg?w=120"

            hit = await miss(view, "/hdr.jpg?w=120")
            assert (hit.status, hit.outcome, hit.failover, hit.runs) == (200, "hit", False, 1)
            assert hit.headers["X-Cache"] == "Miss from cloudfront"
            assert hit.body == rendered.body
            assert hit.function == [], "on a hit the function sends S3 nothing"
            assert hit.cloudfront == [f"GET {DERIVATIVE} 200"]
            assert hit.round_trips == 1

    run(test)


def test_a_static_gif_has_one_key_so_the_primary_pass_finds_its_png(
    settings: Settings, s3log: S3Log, s3_client: Any, bucket: str, fixtures: Path, sent: FailoverRequest
) -> None:
    still = io.BytesIO()
    Image.open(fixtures / "hdr.jpg").convert("P").save(still, format="GIF")
    upload(s3_client, bucket, "still.gif", still.getvalue(), ContentType="image/gif")

    async def test() -> None:
        async with distribution(settings, s3log, sent) as view:
            first = await miss(view, "/still.gif?w=120")
            assert (first.outcome, image(first.body).format, first.headers["Content-Type"]) == (
                "rendered", "PNG", "image/png",
            )  # fmt: skip
            hit = await miss(view, "/still.gif?w=120")
            assert (hit.outcome, hit.function, hit.runs) == ("hit", [], 1)
            assert hit.cloudfront == [f"GET _derivatives/still.gif/w120.r{RENDER_VERSION}.gif 200"]
            assert (image(hit.body).format, hit.headers["Content-Type"]) == ("PNG", "image/png")

    run(test)


# --- queued ---------------------------------------------------------------------------------


def test_a_large_original_is_queued_once_by_the_failover_pass_without_reading_it(
    settings: Settings,
    s3log: S3Log,
    s3_client: Any,
    bucket: str,
    fixtures: Path,
    broker: redis.Redis,
    sent: FailoverRequest,
) -> None:
    original = (fixtures / "briefing-copywriting.jpg").read_bytes()  # 453 KB: "large" below
    upload(s3_client, bucket, "big.jpg", original, ContentType="image/jpeg")
    small = settings.model_copy(update={"sync_max_bytes": 100_000})

    async def test() -> None:
        async with distribution(small, s3log, sent) as view:
            queued = await miss(view, "/big.jpg?w=400")
            assert (queued.status, queued.outcome, queued.failover) == (200, "queued", True)
            assert queued.body == original, "the viewer gets the original meanwhile"
            assert queued.headers["Cache-Control"] == "public, max-age=1"
            derivative = f"_derivatives/big.jpg/w400_q82.r{RENDER_VERSION}.jpg"
            assert queued.cloudfront == [f"GET {derivative} 404", "GET big.jpg 200"]
            assert queued.function == ["GET big.jpg 200"]  # size and ETag from the headers
            again = await miss(view, "/big.jpg?w=400")
            assert again.outcome == "queued"
        assert [(m["task"], m["kwargs"]["original_key"]) for m in messages(broker)] == [
            (RENDER_TASK, "big.jpg")
        ]

    run(test)


# --- what the URL decides: passthrough and invalid -------------------------------------------


def test_passthrough_and_invalid_are_answered_on_the_primary_pass(
    settings: Settings, s3log: S3Log, s3_client: Any, bucket: str, fixtures: Path, sent: FailoverRequest
) -> None:
    upload(s3_client, bucket, "hdr.jpg", (fixtures / "hdr.jpg").read_bytes(), ContentType="image/jpeg")
    upload(s3_client, bucket, "docs/a.txt", b"text", ContentType="text/plain")

    async def test() -> None:
        async with distribution(settings, s3log, sent) as view:
            for target, key in (("/docs/a.txt?w=10", "docs/a.txt"), ("/hdr.jpg?utm_source=x", "hdr.jpg")):
                passed = await miss(view, target)
                assert (passed.status, passed.outcome, passed.runs, passed.failover) == (
                    200, "passthrough", 1, False,
                ), target  # fmt: skip
                assert (passed.function, passed.cloudfront) == ([], [f"GET {key} 200"])
            responses = len(view.recorder.responses)
            invalid = await miss(view, "/hdr.jpg?w=abc")
            assert (invalid.status, invalid.runs, invalid.function, invalid.cloudfront) == (400, 1, [], [])
            assert invalid.body.decode().startswith("Invalid w")
            assert len(view.recorder.responses) == responses, "origin-response never runs for a 400"

    run(test)


# --- missing originals ------------------------------------------------------------------------


def test_a_missing_original_gets_s3s_own_404_or_403(
    settings: Settings, s3log: S3Log, s3_client: Any, bucket: str, sent: FailoverRequest
) -> None:
    from tests.test_handler import deny_head

    deny_head(s3_client, bucket, "*secret/*")  # S3 says 403 there, as without s3:ListBucket

    async def test() -> None:
        async with distribution(settings, s3log, sent) as view:
            missing = await miss(view, "/nope.jpg?w=10")
            assert (missing.status, missing.outcome, missing.failover, missing.runs) == (
                404,
                "passthrough",
                True,
                2,
            )
            assert b"NoSuchKey" in missing.body
            assert missing.cloudfront == [
                f"GET _derivatives/nope.jpg/w10_q82.r{RENDER_VERSION}.jpg 404",
                "GET nope.jpg 404",
            ]
            assert missing.function == ["GET nope.jpg 404"]
            forbidden = await miss(view, "/secret/gone.jpg?w=10")
            assert (forbidden.status, forbidden.failover, forbidden.function) == (
                403, True, ["GET secret/gone.jpg 403"],
            )  # fmt: skip
            plain = await miss(view, "/nope.txt")
            assert (plain.status, plain.failover, plain.function) == (404, True, [])

    run(test)


# --- freshness: purge and verify -------------------------------------------------------------


def test_purge_mode_serves_a_replaced_original_until_its_derivatives_are_purged(
    settings: Settings, s3log: S3Log, s3_client: Any, bucket: str, fixtures: Path
) -> None:
    from worker.purge import purge_original

    upload(s3_client, bucket, "hdr.jpg", (fixtures / "hdr.jpg").read_bytes(), ContentType="image/jpeg")

    async def test() -> None:
        async with distribution(settings, s3log) as view:
            before = await miss(view, "/hdr.jpg?w=120")
            assert image(before.body).size == (120, 60)
            replacement = (fixtures / "briefing-copywriting.jpg").read_bytes()
            upload(s3_client, bucket, "hdr.jpg", replacement, ContentType="image/jpeg")
            stale = await miss(view, "/hdr.jpg?w=120")
            assert (stale.outcome, stale.body, stale.function) == ("hit", before.body, [])
            assert purge_original(settings, bucket, "hdr.jpg") == 1  # what the S3 event triggers
            fresh = await miss(view, "/hdr.jpg?w=120")
            assert (fresh.outcome, image(fresh.body).size) == ("rendered", (120, 78))

    run(test)


def test_verify_mode_asks_s3_on_every_miss_and_never_serves_a_replaced_original(
    settings: Settings, s3log: S3Log, s3_client: Any, bucket: str, fixtures: Path
) -> None:
    upload(s3_client, bucket, "hdr.jpg", (fixtures / "hdr.jpg").read_bytes(), ContentType="image/jpeg")
    verify = settings.model_copy(update={"freshness": "verify"})

    async def test() -> None:
        async with distribution(verify, s3log) as view:
            rendered = await miss(view, "/hdr.jpg?w=120")
            assert (rendered.outcome, rendered.failover, rendered.runs) == ("rendered", False, 1)
            assert sorted(rendered.function[:2]) == [f"HEAD {DERIVATIVE} 404", "HEAD hdr.jpg 200"]
            hit = await miss(view, "/hdr.jpg?w=120")
            assert (hit.outcome, hit.cloudfront, hit.runs) == ("hit", [f"GET {DERIVATIVE} 200"], 1)
            assert sorted(hit.function) == [f"HEAD {DERIVATIVE} 200", "HEAD hdr.jpg 200"]
            assert hit.round_trips == 2, "the two HEADs go together, then CloudFront's GET"
            replacement = (fixtures / "briefing-copywriting.jpg").read_bytes()
            upload(s3_client, bucket, "hdr.jpg", replacement, ContentType="image/jpeg")
            again = await miss(view, "/hdr.jpg?w=120")
            assert (again.outcome, image(again.body).size) == ("rendered", (120, 78))
            missing = await miss(view, "/nope.jpg?w=10")
            assert (missing.status, missing.failover) == (404, True)

    run(test)


# --- request collapsing ------------------------------------------------------------------------


@pytest.mark.parametrize(("cache_control", "runs"), [("public, max-age=60", 1), ("no-store", 4)])
def test_concurrent_misses_wait_for_the_first_and_share_it_when_cacheable(
    settings: Settings, s3log: S3Log, s3_client: Any, bucket: str, cache_control: str, runs: int
) -> None:
    upload(s3_client, bucket, "live.txt", b"live", ContentType="text/plain", CacheControl=cache_control)

    async def test() -> None:
        async with distribution(settings, s3log) as view:
            view.recorder.gate.clear()
            client = view.distribution.client
            asked = [asyncio.create_task(client.get("/live.txt")) for _ in range(4)]
            await asyncio.sleep(0.3)
            assert len(view.recorder.requests) == 0 and len(view.distribution.local.collapser) == 1
            view.recorder.gate.set()
            answers = await asyncio.gather(*asked)
            assert [await a.read() for a in answers] == [b"live"] * 4
            assert len(view.recorder.requests) == runs, (
                "the held requests reach the origin only if not shared"
            )
            states = sorted(a.headers["X-Cache"] for a in answers)
            shared = ["Hit from cloudfront"] * 3 if runs == 1 else ["Miss from cloudfront"] * 3
            assert states == sorted(["Miss from cloudfront", *shared])

    run(test)


def test_concurrent_misses_on_a_new_derivative_render_it_once(
    settings: Settings, s3log: S3Log, s3_client: Any, bucket: str, fixtures: Path
) -> None:
    upload(s3_client, bucket, "hdr.jpg", (fixtures / "hdr.jpg").read_bytes(), ContentType="image/jpeg")

    async def test() -> None:
        async with distribution(settings, s3log) as view:
            client = view.distribution.client
            answers = await asyncio.gather(*(client.get("/hdr.jpg?w=120") for _ in range(8)))
            bodies = {await a.read() for a in answers}
            assert len(bodies) == 1 and image(bodies.pop()).size == (120, 60)
            assert len(view.recorder.requests) == 2, "one primary and one failover pass for all eight"
            puts = [r for r in s3log.of(bucket) if r.method == "PUT"]
            assert len(puts) == 1

    run(test)
