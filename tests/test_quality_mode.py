"""The two quality modes: what each decodes, how close each comes to a full-size resize, what it writes."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageStat
from pydantic import ValidationError

from core.args import parse_query
from core.limits import Limits
from core.processing import decode_pixels, probe, render, render_many, render_transform
from core.settings import Settings
from core.transform import Transform
from tests.test_render import encode, photo

FAST, BEST = Limits(quality_mode="fast"), Limits(quality_mode="best")


@pytest.fixture(scope="module")
def camera() -> bytes:
    """A seeded 12-megapixel camera-like JPEG (big enough for every DCT scale)."""
    return encode(photo(4240, 2832, seed=5), "JPEG", quality=90)


def luma(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("L")


def test_default_is_fast_and_a_setting_chooses_best() -> None:
    assert Limits().quality_mode == "fast"
    assert Settings(quality_mode="best").limits().quality_mode == "best"
    with pytest.raises(ValidationError):
        Settings(quality_mode="slow")


@pytest.mark.parametrize(
    ("query", "fast", "best"),
    [
        ("w=1024", (1060, 708), (2120, 1416)),  # fast: 1/4, down to about the output size; best: 1/2
        ("w=500", (530, 354), (1060, 708)),  # 1/8 against 1/4
        ("w=2048", (2120, 1416), (2120, 1416)),  # 1/2 in both
    ],
)
def test_fast_decodes_jpeg_down_to_the_output_size(
    camera: bytes, query: str, fast: tuple[int, int], best: tuple[int, int]
) -> None:
    info = probe(camera, FAST)
    transform = parse_query(query, FAST) or Transform()
    assert decode_pixels(info, transform, FAST) == fast[0] * fast[1]
    assert decode_pixels(info, transform, BEST) == best[0] * best[1]
    for limits in (FAST, BEST):
        result = render_transform(camera, transform, "png", limits)
        assert luma(result.data).size == (result.width, result.height)
        assert result.width == transform.width


@pytest.mark.parametrize("query", ["w=300", "w=1024", "resize=150,150", "crop=10,20,50,40&w=400"])
def test_both_modes_match_a_full_size_lanczos_resize(camera: bytes, query: str) -> None:
    full = Image.open(io.BytesIO(camera)).convert("L")
    errors = {}
    box: tuple[float, float, float, float]
    for limits in (FAST, BEST):
        out = luma(render(camera, f"{query}&format=png", limits=limits).data)
        if query.startswith("resize"):
            side = min(full.size)
            box = ((full.width - side) / 2, 0, (full.width + side) / 2, side)
        elif query.startswith("crop"):
            box = (0.1 * full.width, 0.2 * full.height, 0.6 * full.width, 0.6 * full.height)
        else:
            box = (0, 0, *full.size)
        reference = full.resize(out.size, Image.Resampling.LANCZOS, box=box)
        errors[limits.quality_mode] = ImageStat.Stat(ImageChops.difference(out, reference)).mean[0]
    assert errors["best"] < 1.0  # grey levels, mean absolute difference
    assert errors["fast"] < 1.5


def test_fast_writes_baseline_jpeg_best_progressive(camera: bytes) -> None:
    fast = Image.open(io.BytesIO(render(camera, "w=300", limits=FAST).data))
    best = Image.open(io.BytesIO(render(camera, "w=300", limits=BEST).data))
    assert not fast.info.get("progressive") and best.info.get("progressive")


def test_alpha_edges_have_no_dark_fringe() -> None:
    """Transparent pixels' colour must not bleed into the visible ones (alpha premultiplied)."""
    image = Image.new("RGBA", (900, 600), (0, 0, 0, 0))
    image.paste((255, 255, 255, 255), (301, 0, 900, 600))
    source = encode(image, "PNG")
    for limits in (FAST, BEST):
        out = Image.open(io.BytesIO(render(source, "w=300", limits=limits).data)).convert("RGBA")
        visible = [out.getpixel((x, 100)) for x in range(300)]
        assert all(p[:3] == (255, 255, 255) for p in visible if isinstance(p, tuple) and p[3] >= 8)
        assert out.getpixel((50, 100)) == (0, 0, 0, 0) and out.getpixel((250, 100)) == (255, 255, 255, 255)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA"])
def test_truecolour_png_outputs_are_lossless_in_fast_mode(mode: str) -> None:
    image = photo(240, 160).convert(mode)
    result = render(encode(image, "PNG"), "strip=all", limits=FAST)
    assert Image.open(io.BytesIO(result.data)).convert(mode).tobytes() == image.tobytes()


def test_a_size_set_rendered_together_is_as_close_to_a_full_size_resize_as_each_alone(camera: bytes) -> None:
    """render_many resamples each size from the next larger one (fast mode): no quality may be lost."""
    queries = ["fit=2048,2048", "fit=1024,1024", "w=768", "fit=300,300", "w=120&grayscale=1"]
    jobs = [(parse_query(q, FAST) or Transform(), "png") for q in queries]
    together = render_many(camera, jobs, FAST)  # type: ignore[arg-type]
    full = Image.open(io.BytesIO(camera)).convert("L")
    for (transform, fmt), output in zip(jobs, together, strict=True):
        alone = render_transform(camera, transform, fmt, FAST)  # type: ignore[arg-type]
        a, b = luma(output.data), luma(alone.data)
        assert a.size == b.size == (output.width, output.height)
        reference = full.resize(a.size, Image.Resampling.LANCZOS)
        error_together = ImageStat.Stat(ImageChops.difference(a, reference)).mean[0]
        error_alone = ImageStat.Stat(ImageChops.difference(b, reference)).mean[0]
        assert error_together <= error_alone + 0.05, (transform.width, error_together, error_alone)
