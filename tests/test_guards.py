"""Guards: every refusal is ImageRefused with a reason, decided from the header before decoding."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from core.errors import ImageRefused
from core.limits import Limits
from core.processing import probe, render
from core.processing.guards import jpeg_scans
from tests.helpers import LIMITS


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width × height but carries one tiny IDAT (a bomb's header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def jpeg_bytes(size: tuple[int, int] = (64, 48), **options: object) -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize(size).convert("RGB").save(out, "JPEG", **options)
    return out.getvalue()


def many_scans(count: int) -> bytes:
    """A progressive JPEG whose last scan is repeated until it has ``count`` scans."""
    data = jpeg_bytes(progressive=True)
    last = data.rfind(b"\xff\xda")
    eoi = data.rfind(b"\xff\xd9")
    extra = count - jpeg_scans(data)
    return data[:eoi] + data[last:eoi] * extra + b"\xff\xd9"


def test_decompression_bomb_refused_from_header_quickly() -> None:
    bomb = png_header(30_000, 30_000)
    assert len(bomb) < 200
    started = time.perf_counter()
    with pytest.raises(ImageRefused, match="900,000,000 pixels"):
        probe(bomb, LIMITS)
    with pytest.raises(ImageRefused):
        render(bomb, "w=100")
    assert time.perf_counter() - started < 0.5  # 2.7 GB of pixels were never allocated


def test_pillow_bomb_warning_is_a_refusal_too() -> None:
    # 10,000 × 9,000 is above Pillow's own threshold (about 89 MP) but within our raised limits
    lenient = Limits(max_pixels=200_000_000, max_side=20_000)
    with pytest.raises(ImageRefused, match="more pixels than allowed"):
        probe(png_header(10_000, 9_000), lenient)


def test_pixel_and_side_limits() -> None:
    source = jpeg_bytes((300, 200))
    with pytest.raises(ImageRefused, match="at most 50,000 pixels"):
        probe(source, Limits(max_pixels=50_000))
    with pytest.raises(ImageRefused, match="each side may be at most 250"):
        probe(source, Limits(max_side=250))
    with pytest.raises(ImageRefused, match="each side"):
        probe(png_header(25_000, 10), LIMITS)
    assert probe(source, LIMITS).width == 300


def test_source_bytes_limit() -> None:
    source = jpeg_bytes((300, 200))
    with pytest.raises(ImageRefused, match="largest accepted"):
        probe(source, Limits(max_source_bytes=len(source) - 1))


def test_text_file_named_jpg_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("hello, this is not an image\n" * 10)
    with pytest.raises(ImageRefused, match="not a JPEG, PNG, GIF, WebP or AVIF"):
        render(path.read_bytes(), "w=100")


def test_unsupported_formats_are_refused_by_their_bytes() -> None:
    for fmt in ("BMP", "TIFF", "ICO"):
        out = io.BytesIO()
        Image.new("RGB", (16, 16)).save(out, fmt)
        with pytest.raises(ImageRefused, match="not a JPEG"):
            probe(out.getvalue(), LIMITS)


def test_progressive_jpeg_with_too_many_scans_refused_before_decoding() -> None:
    source = many_scans(150)
    assert jpeg_scans(source) == 150
    with pytest.raises(ImageRefused, match="150 scans"):
        probe(source, LIMITS)
    ordinary = jpeg_bytes(progressive=True)
    assert 1 < jpeg_scans(ordinary) <= 100
    assert probe(ordinary, LIMITS).format == "jpeg"
    with pytest.raises(ImageRefused, match="scans"):
        probe(ordinary, Limits(max_jpeg_scans=2))


def test_sequential_jpeg_with_an_exif_thumbnail_counts_one_scan() -> None:
    thumbnail = jpeg_bytes((16, 16))
    exif = b"Exif\x00\x00" + thumbnail  # a thumbnail's markers must not be counted
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    source = jpeg_bytes()
    assert jpeg_scans(source[:2] + app1 + source[2:]) == 1


def test_jpeg_with_extraneous_bytes_between_segments_is_rendered() -> None:
    # libjpeg skips stray bytes before a marker ("Corrupt JPEG data: 2 extraneous bytes
    # before marker"), so browsers show such files; the scan count must skip them too.
    source = jpeg_bytes()
    after_app0 = 4 + struct.unpack(">H", source[4:6])[0]
    padded = source[:after_app0] + b"\x00\x00" + source[after_app0:]
    assert jpeg_scans(padded) == 1
    assert render(padded, "w=32").width == 32


def test_animation_limits(fixtures: Path) -> None:
    source = (fixtures / "animated.gif").read_bytes()  # 48 frames of 256×256
    with pytest.raises(ImageRefused, match="more than 10 frames"):
        probe(source, Limits(max_frames=10))
    with pytest.raises(ImageRefused, match="over 48 frames"):
        probe(source, Limits(max_animation_pixels=1_000_000))
    assert probe(source, LIMITS).frames == 48


@pytest.mark.parametrize("name", ["hdr.jpg", "Website.png", "animated.gif", "animated.webp"])
def test_truncated_files_are_refused(fixtures: Path, name: str) -> None:
    source = (fixtures / name).read_bytes()
    with pytest.raises(ImageRefused):
        render(source[: len(source) // 2], "w=50")


def test_truncated_camera_jpeg_refused() -> None:
    source = jpeg_bytes((800, 600), quality=95)
    with pytest.raises(ImageRefused):
        render(source[: len(source) * 2 // 3], "w=100")


def _avif() -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize((96, 64)).convert("RGB").save(out, "AVIF", quality=60)
    return out.getvalue()


REAL = [
    (Path(__file__).parent / "fixtures" / name).read_bytes()
    for name in ("Website.png", "hdr.jpg", "animated.png", "animated.gif", "animated.webp", "icons.png")
] + [_avif()]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes_only_ever_raise_image_refused(data: bytes) -> None:
    for prefix in (b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP"):
        try:
            render(prefix + data, "w=40")
        except ImageRefused as error:
            assert error.reason


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, len(REAL) - 1),
    edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.floats(0.05, 1.0),
)
def test_mutated_real_images_only_ever_raise_image_refused(
    index: int, edits: list[tuple[float, int]], cut: float
) -> None:
    data = bytearray(REAL[index])
    for where, value in edits:
        data[min(len(data) - 1, int(where * len(data)))] = value
    mutated = bytes(data[: max(1, int(len(data) * cut))])
    try:
        render(mutated, "w=40&format=png")
    except ImageRefused as error:
        assert error.reason


def test_gif_with_too_many_frames_refused_without_walking_them_all() -> None:
    frames = [Image.new("P", (2, 2), i % 2) for i in range(700)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=10, optimize=False)
    with pytest.raises(ImageRefused, match="more than 500 frames"):
        probe(out.getvalue(), LIMITS)
    assert probe(out.getvalue(), Limits(max_frames=1000)).frames == 700
