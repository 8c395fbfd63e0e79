"""URL arguments: what a site owner writes and what the service understands."""

from __future__ import annotations

import pytest

from core.args import parse_query, zoom_quality
from core.errors import InvalidArgument
from core.limits import Limits
from core.transform import Length, Transform
from tests.helpers import LIMITS


def test_no_recognised_argument_means_pass_through() -> None:
    assert parse_query("", LIMITS) is None
    assert parse_query("utm_source=news&ver=6.4", LIMITS) is None
    assert parse_query("w=&h=", LIMITS) is None  # empty values count as absent


def test_wordpress_plugin_commas_and_plain_commas_are_the_same() -> None:
    assert parse_query("resize=150%2C150", LIMITS) == parse_query("resize=150,150", LIMITS)
    assert parse_query("fit=300%2C300", LIMITS) == parse_query("fit=300,300", LIMITS)
    transform = parse_query("resize=150%2C150", LIMITS)
    assert transform is not None
    assert (transform.mode, transform.width, transform.height) == ("resize", 150, 150)


def test_repeated_argument_takes_its_last_value() -> None:
    transform = parse_query("w=100&w=300", LIMITS)
    assert transform is not None and transform.width == 300


def test_plus_and_percent_escapes_in_values() -> None:
    transform = parse_query("background=%23ff0000&lb=10,10", LIMITS)
    assert transform is not None and transform.background == (255, 0, 0, 255)
    assert parse_query("gravity=+north+&resize=10,10", LIMITS) == parse_query(
        "gravity=north&resize=10,10", LIMITS
    )


def test_one_sizing_mode_by_precedence() -> None:
    transform = parse_query("w=50&fit=300,200&resize=100,100&lb=20,20", LIMITS)
    assert transform is not None
    assert (transform.mode, transform.width, transform.height) == ("resize", 100, 100)
    fit = parse_query("w=50&fit=300,200&lb=20,20", LIMITS)
    assert fit is not None and fit.mode == "fit"


def test_zoom_multiplies_sizes_and_lowers_default_quality() -> None:
    transform = parse_query("w=300&zoom=2", LIMITS)
    assert transform is not None
    assert transform.width == 600
    assert transform.quality == zoom_quality(2) < 82
    explicit = parse_query("w=300&zoom=2&quality=90", LIMITS)
    assert explicit is not None and explicit.quality == 90
    half = parse_query("resize=150,150&zoom=0.5", LIMITS)
    assert half is not None and (half.width, half.height, half.quality) == (75, 75, 82)


def test_zoom_quality_matches_tachyon() -> None:
    # Tachyon's documented points for a default of 80: zoom 2 → 50, zoom 1.5 → 68
    assert zoom_quality(2, 80) == 50
    assert zoom_quality(1.5, 80) == 68
    assert zoom_quality(1, 80) == 80


def test_crop_region_in_percent_and_pixels() -> None:
    transform = parse_query("crop=10,20,50,50", LIMITS)
    assert transform is not None and transform.region is not None
    assert [v.resolve(1000) for v in transform.region] == [100, 200, 500, 500]
    pixels = parse_query("crop=160px,160px,788px,788px", LIMITS)
    assert pixels is not None and pixels.region == (Length(160, True),) * 2 + (Length(788, True),) * 2


def test_crop_true_is_cover_only_with_both_sides() -> None:
    cover = parse_query("w=300&h=200&crop=1", LIMITS)
    assert cover is not None and cover.covers
    alone = parse_query("w=300&crop=1", LIMITS)
    assert alone is not None and not alone.covers
    assert alone == parse_query("w=300", LIMITS)


def test_aliases_give_equal_transforms() -> None:
    assert parse_query("greyscale=1&w=5", LIMITS) == parse_query("grayscale=true&w=5", LIMITS)
    assert parse_query("webp=1&w=5", LIMITS) == parse_query("format=webp&w=5", LIMITS)
    assert parse_query("format=jpg&w=5", LIMITS) == parse_query("format=jpeg&w=5", LIMITS)
    assert parse_query("gravity=centre&resize=5,5", LIMITS) == parse_query("resize=5,5", LIMITS)
    assert parse_query("strip=info&w=5", LIMITS) == parse_query("w=5", LIMITS)
    assert parse_query("quality=82&w=5", LIMITS) == parse_query("w=5", LIMITS)


def test_arguments_that_cannot_change_pixels_are_dropped() -> None:
    # gravity only matters when cropping; background only with lb
    assert parse_query("w=300&gravity=north", LIMITS) == parse_query("w=300", LIMITS)
    assert parse_query("fit=30,30&background=red", LIMITS) == parse_query("fit=30,30", LIMITS)
    lb = parse_query("lb=30,30&background=red", LIMITS)
    assert lb is not None and lb.background == (255, 0, 0, 255)


def test_background_colours_with_alpha() -> None:
    def background(value: str) -> tuple[int, int, int, int]:
        transform = parse_query(f"lb=10,10&background={value}", LIMITS)
        assert transform is not None
        return transform.background

    assert background("%23f008") == (255, 0, 0, 136)
    assert background("ff000080") == (255, 0, 0, 128)
    assert background("transparent") == (0, 0, 0, 0)
    assert background("%23ff0000ff") == background("red") == (255, 0, 0, 255)  # alpha ff is opaque
    assert parse_query("lb=10,10&background=%23000", LIMITS) == parse_query("lb=10,10", LIMITS)


def test_rotation_and_flags() -> None:
    transform = parse_query("rotate=90&flip=1&flop=true&negative=1&grayscale=1&strip=all", LIMITS)
    assert transform == Transform(rotate=90, flip=True, flop=True, negative=True, grayscale=True, strip="all")


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("w=abc", "w"),
        ("w=0", "w"),
        ("h=-5", "h"),
        ("w=20001", "w"),
        ("w=15000&zoom=2", "w"),
        ("resize=150", "resize"),
        ("fit=a,b", "fit"),
        ("lb=-1,10", "lb"),
        ("crop=1,2,3", "crop"),
        ("crop=10,10,0,50", "crop"),
        ("crop=10,10,150,50", "crop"),
        ("crop=0px,0px," + "9" * 400 + "px,10px", "crop"),  # a float that overflows to inf
        ("quality=0", "quality"),
        ("quality=101", "quality"),
        ("zoom=0", "zoom"),
        ("zoom=11", "zoom"),
        ("zoom=abc", "zoom"),
        ("rotate=45", "rotate"),
        ("flip=maybe", "flip"),
        ("webp=yes please", "webp"),
        ("format=bmp", "format"),
        ("gravity=up", "gravity"),
        ("crop_strategy=magic&resize=5,5", "crop_strategy"),
        ("background=notacolour&lb=5,5", "background"),
        ("strip=everything", "strip"),
    ],
)
def test_invalid_values_name_the_argument_and_what_is_allowed(query: str, name: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse_query(query, LIMITS)
    assert raised.value.name == name
    assert raised.value.reason.startswith(f"Invalid {name}: must") or "no original is larger" in (
        raised.value.reason
    )


def test_sizes_are_bounded_by_the_largest_original_not_the_output_limit() -> None:
    # w=<full width> from WordPress's srcset on an original above the output limit is a
    # valid request (the edge serves the original); no original is larger than max_side.
    transform = parse_query("w=9000", Limits(max_output_side=8192))
    assert transform is not None and transform.width == 9000
    with pytest.raises(InvalidArgument, match="no original is larger than 500 px"):
        parse_query("w=600", Limits(max_side=500))


def test_unknown_arguments_are_ignored() -> None:
    assert parse_query("w=300&ver=6.4.2&W=5", LIMITS) == parse_query("w=300", LIMITS)


def test_thousands_of_leading_zeros_are_a_number_not_a_crash() -> None:
    transform = parse_query("w=" + "0" * 7990 + "300", LIMITS)
    assert transform is not None and transform.width == 300
