"""Derivative keys: equivalent requests share one key, different renders never do."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from core.args import parse_query
from core.formats import output_format
from core.keys import (
    DEFAULT_PREFIX,
    MAX_KEY_BYTES,
    RENDER_VERSION,
    derivative_key,
    name_derivative,
    original_prefix,
    request_key,
)
from core.transform import Transform
from core.types import OutputFormat
from tests.helpers import LIMITS

ORIGINAL = "uploads/2018/02/photo.jpg"

sizes = st.integers(min_value=1, max_value=3000)
flags = st.sampled_from(["1", "true", "TRUE"])

# One logical request: a dict of argument → value, values in one spelling.
requests = st.fixed_dictionaries(
    {},
    optional={
        "w": sizes,
        "h": sizes,
        "crop": st.sampled_from(["1", "true", "10,10,50,50", "0px,5px,100px,80px"]),
        "sizing": st.tuples(st.sampled_from(["resize", "fit", "lb"]), sizes, sizes),
        "background": st.sampled_from(["#fff", "red", "#00ff00", "#00ff0080", "transparent"]),
        "gravity": st.sampled_from(["north", "southeast", "center"]),
        "crop_strategy": st.sampled_from(["entropy", "attention"]),
        "zoom": st.sampled_from(["0.5", "1", "1.5", "2"]),
        "quality": st.integers(min_value=1, max_value=100),
        "format": st.sampled_from(["webp", "png", "avif", "jpeg"]),
        "rotate": st.sampled_from(["0", "90", "180", "270"]),
        "flip": flags,
        "flop": flags,
        "negative": flags,
        "grayscale": flags,
        "strip": st.sampled_from(["all", "info", "color"]),
    },
)


def spellings(request: dict[str, object], rng: random.Random) -> str:
    """One of the many query strings a site may write for the same request."""
    pairs: list[tuple[str, str]] = []
    for name, value in request.items():
        if name == "sizing":
            assert isinstance(value, tuple)
            mode, width, height = value
            comma = rng.choice([",", "%2C", "%2c"])
            pairs.append((mode, f"{width}{comma}{height}"))
        elif name == "grayscale":
            pairs.append((rng.choice(["grayscale", "greyscale"]), str(value)))
        elif name == "format" and value == "webp" and rng.random() < 0.5:
            pairs.append(("webp", "1"))
        elif name == "format" and value == "jpeg" and rng.random() < 0.5:
            pairs.append(("format", "jpg"))
        elif name == "background":
            pairs.append((name, str(value).replace("#", "%23")))
        else:
            pairs.append((name, str(value)))
    if request and "gravity" not in request and rng.random() < 0.3:
        pairs.append(("gravity", "center"))  # a default written out
    if request and "strip" not in request and rng.random() < 0.3:
        pairs.append(("strip", "info"))
    if rng.random() < 0.5:
        pairs.append(("utm_campaign", "spring"))  # unknown arguments
    rng.shuffle(pairs)
    if pairs and rng.random() < 0.3:
        name, _ = rng.choice(pairs)
        pairs.insert(0, (name, "999"))  # an earlier value, overridden by the intended one after it
    ordered = pairs
    return "&".join(f"{n}={v}" for n, v in ordered)


def key_for(query: str) -> str | None:
    transform = parse_query(query, LIMITS)
    if transform is None:
        return None
    fmt = output_format(transform, "jpeg", animated=False)
    return derivative_key(ORIGINAL, transform, fmt)


@settings(max_examples=150, deadline=None)
@given(requests, st.integers(min_value=0, max_value=2**32))
def test_equivalent_requests_share_one_key(request: dict[str, object], seed: int) -> None:
    rng = random.Random(seed)
    first, second = spellings(request, rng), spellings(request, rng)
    try:
        expected = key_for(first)
    except Exception as error:  # an invalid request is invalid in every spelling
        try:
            key_for(second)
        except Exception as again:
            assert type(again) is type(error)
            return
        raise
    assert key_for(second) == expected


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            sorted(
                [
                    "w",
                    "h",
                    "resize",
                    "fit",
                    "lb",
                    "rotate",
                    "flip",
                    "negative",
                    "q",
                    "strip",
                    "gravity",
                    "grayscale",
                    "flop",
                    "zoom",
                    "crop",
                ]
            )
        ),
        min_size=1,
        max_size=6,
        unique=True,
    ),
    st.integers(0, 2**32),
)
def test_different_renders_never_share_a_key(names: list[str], seed: int) -> None:
    rng = random.Random(seed)
    queries = set()
    for _ in range(6):
        parts = []
        for name in names:
            if name in ("w", "h"):
                parts.append(f"{name}={rng.randint(1, 50)}")
            elif name in ("resize", "fit", "lb"):
                parts.append(f"{name}={rng.randint(1, 9)},{rng.randint(1, 9)}")
            elif name == "rotate":
                parts.append(f"rotate={rng.choice([0, 90, 180, 270])}")
            elif name == "q":
                parts.append(f"quality={rng.randint(1, 100)}")
            elif name == "strip":
                parts.append(f"strip={rng.choice(['all', 'info', 'color'])}")
            elif name == "gravity":
                parts.append(f"gravity={rng.choice(['north', 'south', 'center'])}")
            elif name == "zoom":
                parts.append(f"zoom={rng.choice(['0.5', '1', '2', '3'])}")
            elif name == "crop":
                parts.append(f"crop={rng.choice(['1', '10,10,50,50', '5px,5px,20px,20px'])}")
            else:
                parts.append(f"{name}={rng.choice(['0', '1'])}")
        queries.add("&".join(parts))
    by_transform: dict[Transform, str] = {}
    for query in queries:
        transform = parse_query(query, LIMITS)
        if transform is None:
            continue
        key = derivative_key(ORIGINAL, transform, "jpeg")
        by_transform[transform] = key
    keys = list(by_transform.values())
    assert len(set(keys)) == len(keys), by_transform


def test_key_is_readable_and_versioned() -> None:
    transform = parse_query("resize=150%2C150", LIMITS)
    assert transform is not None
    key = derivative_key(ORIGINAL, transform, "jpeg")
    assert key == f"_derivatives/{ORIGINAL}/resize150x150_q82.r{RENDER_VERSION}.jpg"
    assert key.startswith(original_prefix(ORIGINAL))


def test_background_alpha_is_in_the_key_only_when_not_opaque() -> None:
    def key(value: str) -> str:
        return derivative_key(
            ORIGINAL, parse_query(f"lb=10,10&background={value}", LIMITS) or Transform(), "png"
        )

    names = {value: key(value) for value in ("red", "%23ff0000ff", "%23ff000080", "transparent", "black")}
    assert "_bgff0000.r" in names["red"] and names["red"] == names["%23ff0000ff"]
    assert "_bgff000080.r" in names["%23ff000080"]
    assert "_bg00000000.r" in names["transparent"]
    assert "_bg" not in names["black"]


def test_quality_is_not_part_of_lossless_keys() -> None:
    low, high = parse_query("w=10&quality=10", LIMITS), parse_query("w=10&quality=90", LIMITS)
    assert low is not None and high is not None
    assert derivative_key(ORIGINAL, low, "png") == derivative_key(ORIGINAL, high, "png")
    assert derivative_key(ORIGINAL, low, "webp") != derivative_key(ORIGINAL, high, "webp")


def test_prefix_is_configurable_and_one_original_is_one_folder() -> None:
    transform = parse_query("w=10", LIMITS)
    assert transform is not None
    key = derivative_key("a.jpg", transform, "jpeg", prefix="cache/")
    assert key.startswith("cache/a.jpg/")
    other = derivative_key("a.jpg2", transform, "jpeg", prefix="cache/")
    assert not other.startswith(original_prefix("a.jpg", "cache/"))


def test_unsafe_original_keys_cannot_escape_the_prefix() -> None:
    transform = parse_query("w=10", LIMITS)
    assert transform is not None
    for original in ("../../etc/passwd.jpg", "a//b.jpg", "./a.jpg", "/lead.jpg", "a/\x00.jpg"):
        key = derivative_key(original, transform, "jpeg")
        assert key.startswith("_derivatives/_hash/")
        assert ".." not in key.split("/") and "" not in key.split("/")[:-1]


def test_keys_never_exceed_s3_limit() -> None:
    transform = parse_query("w=10&h=20&crop=10.1234,20.5,30,40&rotate=90&flip=1&flop=1&negative=1", LIMITS)
    assert transform is not None
    for original in ("x" * 1000 + ".jpg", "é/" * 300 + "a.jpg", "a.jpg"):
        key = derivative_key(original, transform, "jpeg")
        assert len(key.encode()) <= MAX_KEY_BYTES
        assert key.endswith(".jpg")


def names(transform: Transform, source: OutputFormat, accept: str | None = None) -> tuple[str, str, str]:
    """(key extension, format when the original is static, format when animated) of one request."""
    static, moving = (
        name_derivative("a.img", transform, source, animated=a, accept=accept, prefix=DEFAULT_PREFIX)
        for a in (False, True)
    )
    assert (
        static.key
        == moving.key
        == request_key("a.img", transform, source, accept=accept, prefix=DEFAULT_PREFIX)
    )
    return static.key.rsplit(".", 1)[-1], static.format, moving.format


def test_one_key_per_request_whether_the_original_animates_or_not() -> None:
    """The edge's primary pass names the key before reading the original: it must be exact."""
    w100 = parse_query("w=100", LIMITS)
    webp = parse_query("w=100&webp=1", LIMITS)
    assert w100 is not None and webp is not None
    assert names(w100, "gif") == ("gif", "png", "gif")  # a static GIF is a PNG under the GIF's name
    assert names(w100, "jpeg") == ("jpg", "jpeg", "jpeg")
    assert names(webp, "gif") == ("webp", "webp", "webp")
    both = "image/avif,image/webp,*/*"
    assert names(w100, "gif", accept=both) == ("avif", "avif", "webp")  # AVIF keeps one frame
    assert names(w100, "gif", accept="image/webp") == ("webp", "webp", "webp")
    assert names(w100, "gif", accept="image/avif") == ("avif", "avif", "gif")
    only = request_key("a.gif", w100, "gif", accept="image/avif", prefix=DEFAULT_PREFIX)
    assert only.endswith(f"w100_q82_anim-gif.r{RENDER_VERSION}.avif"), (
        "an AVIF name whose animation stays GIF is its own key"
    )
    assert request_key("a.gif", w100, "gif", accept=both, prefix=DEFAULT_PREFIX).endswith(
        f"w100_q82.r{RENDER_VERSION}.avif"
    )
    assert names(w100, "avif") == ("avif", "avif", "avif")  # an AVIF original, no auto-format
    assert request_key("a.avif", w100, "avif", accept=None, prefix=DEFAULT_PREFIX).endswith(
        f"_anim-avif.r{RENDER_VERSION}.avif"
    )
    assert names(w100, "jpeg", accept=both) == ("avif", "avif", "avif")  # a .jpg URL is always a still


ACCEPTS = [None, "", "image/webp", "image/avif", "image/avif,image/webp", "image/avif,image/webp,*/*", "*/*"]


@settings(max_examples=150, deadline=None)
@given(
    query=st.sampled_from(
        ["w=100", "w=100&webp=1", "resize=10,20&format=avif", "w=5&format=png", "h=7&quality=50"]
    ),
    source=st.sampled_from(["jpeg", "png", "gif", "webp", "avif"]),
    accepts=st.lists(st.sampled_from(ACCEPTS), min_size=2, max_size=2),
)
def test_requests_that_share_a_key_render_alike(
    query: str, source: OutputFormat, accepts: list[str | None]
) -> None:
    """Two requests naming one key get the same format whether the original is static or animated."""
    transform = parse_query(query, LIMITS)
    assert transform is not None
    seen: dict[str, tuple[str, str]] = {}
    for accept in accepts:
        extension, static, moving = names(transform, source, accept)
        key = request_key("a.img", transform, source, accept=accept, prefix=DEFAULT_PREFIX)
        assert key.endswith("." + extension)
        assert seen.setdefault(key, (static, moving)) == (static, moving)
