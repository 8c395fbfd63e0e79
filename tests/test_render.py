"""The render core on real and seeded generated images: sizes, formats, modes, metadata, animation."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageCms, ImageOps, ImageStat

from core.args import parse_query
from core.errors import ImageRefused
from core.limits import Limits
from core.processing import decode_pixels, probe, render, render_many, render_transform
from core.transform import Transform
from tests.helpers import LIMITS

GPS_IFD = 0x8825


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def photo(width: int, height: int, seed: int = 1) -> Image.Image:
    """Seeded photo-like pixels: gradients, soft blobs and fine texture."""
    rnd = random.Random(seed)

    def noise(w: int, h: int) -> Image.Image:
        return Image.frombytes("RGB", (w, h), rnd.randbytes(w * h * 3))

    grad = Image.merge(
        "RGB",
        [Image.linear_gradient("L").rotate(90 * i).resize((width, height)) for i in range(3)],
    )
    smooth = Image.Resampling.BICUBIC
    blobs = noise(max(2, width // 128), max(2, height // 128)).resize((width, height), smooth)
    texture = noise(max(2, width // 8), max(2, height // 8)).resize((width, height), smooth)
    return Image.blend(Image.blend(grad, blobs, 0.5), texture, 0.25)


def halves(size: tuple[int, int], first: str, second: str, vertical: bool = False) -> Image.Image:
    """Left/right (or top/bottom) halves in two colours: orientation becomes visible."""
    image = Image.new("RGB", size, second)
    box = (0, 0, size[0], size[1] // 2) if vertical else (0, 0, size[0] // 2, size[1])
    image.paste(first, box)
    return image


def near(pixel: object, colour: object, slack: int = 40) -> bool:
    """Whether two pixels (as ``getpixel`` returns them) differ by at most ``slack`` per channel."""
    assert isinstance(pixel, tuple) and isinstance(colour, tuple), (pixel, colour)
    return all(abs(a - b) <= slack for a, b in zip(pixel, colour, strict=False))


def rgb(pixel: object) -> tuple[int, ...]:
    """A pixel ``getpixel`` returned, as a tuple of channels."""
    assert isinstance(pixel, tuple), pixel
    return pixel


@pytest.fixture(scope="module")
def wide_jpeg() -> bytes:
    """1280×719: the WordPress rounding example."""
    return encode(photo(1280, 719), "JPEG", quality=90)


@pytest.fixture(scope="module")
def camera_jpeg() -> bytes:
    """A seeded camera-sized (24 megapixel) JPEG."""
    return encode(photo(6000, 4000, seed=24), "JPEG", quality=88)


SIZES = [
    ("fit=300,300", (300, 169)),
    ("fit=300%2C300", (300, 169)),
    ("w=300", (300, 169)),
    ("h=100", (178, 100)),
    ("w=300&h=200", (300, 169)),
    ("w=300&h=200&crop=1", (300, 200)),
    ("resize=150,150", (150, 150)),
    ("resize=2000,100", (1280, 100)),
    ("lb=400,400", (400, 400)),
    ("w=5000", (1280, 719)),
    ("fit=4000,4000", (1280, 719)),
    ("zoom=2&w=100", (200, 112)),
    ("rotate=90&w=300", (300, 534)),
    ("rotate=270&resize=100,200", (100, 200)),
    ("rotate=180&w=300", (300, 169)),
    ("crop=0,0,50,50", (640, 360)),
    ("crop=10px,20px,100px,50px", (100, 50)),
    ("crop=50,50,80,80", (640, 359)),  # clamped to the image
    ("crop=0,0,50,50&w=100", (100, 56)),
    ("strip=all", (1280, 719)),
]


@pytest.mark.parametrize(("query", "size"), SIZES)
def test_output_sizes_for_every_mode(wide_jpeg: bytes, query: str, size: tuple[int, int]) -> None:
    result = render(wide_jpeg, query)
    assert (result.width, result.height) == size
    assert decoded(result.data).size == size


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "avif", "gif"])
def test_every_output_format_decodes(wide_jpeg: bytes, fmt: str) -> None:
    result = render(wide_jpeg, f"w=200&format={fmt}")
    image = decoded(result.data)
    assert image.format == fmt.upper()
    assert image.size == (200, 112) == (result.width, result.height)
    assert result.format == fmt


def test_webp_argument_and_accept_choose_modern_formats(wide_jpeg: bytes) -> None:
    assert decoded(render(wide_jpeg, "w=100&webp=1").data).format == "WEBP"
    assert render(wide_jpeg, "w=100", accept="image/avif,image/webp,*/*").format == "avif"
    assert render(wide_jpeg, "w=100", accept="image/webp,*/*").format == "webp"


def test_never_enlarges_small_images() -> None:
    small = encode(photo(120, 80), "PNG")
    for query in ("w=1000", "h=900", "fit=1000,1000", "resize=500,500", "w=500&h=500&crop=1"):
        result = render(small, query)
        assert result.width <= 120 and result.height <= 80, query


@pytest.mark.parametrize(("orientation", "top"), [(6, "red"), (8, "blue")])
def test_exif_rotated_jpeg_comes_out_upright(orientation: int, top: str) -> None:
    # Stored landscape, left half red: orientation 6 turns it clockwise (red on top), 8 the other way.
    exif = Image.Exif()
    exif[0x0112] = orientation
    source = encode(halves((400, 200), "red", "blue"), "JPEG", exif=exif.tobytes(), quality=95)
    info = probe(source, LIMITS)
    assert (info.width, info.height) == (200, 400)
    result = render(source, "w=100")
    image = decoded(result.data).convert("RGB")
    assert image.size == (100, 200)
    assert near(image.getpixel((50, 10)), Image.new("RGB", (1, 1), top).getpixel((0, 0)))
    assert "exif" not in image.info or Image.Exif().get(0x0112) in (None, 1)


def test_exif_rotation_then_rotate_argument() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    source = encode(halves((400, 200), "red", "blue"), "JPEG", exif=exif.tobytes(), quality=95)
    image = decoded(render(source, "rotate=90&w=200").data).convert("RGB")
    # upright is portrait red-over-blue; turned clockwise it is landscape, red on the right
    assert image.size == (200, 100)
    assert near(image.getpixel((190, 50)), (255, 0, 0))


def test_cmyk_jpeg_renders_as_rgb() -> None:
    source = encode(Image.new("CMYK", (200, 100), (0, 255, 255, 0)), "JPEG", quality=95)
    image = decoded(render(source, "w=50").data)
    assert image.mode == "RGB"
    assert near(image.getpixel((25, 12)), (255, 0, 0), 60)


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    width, height = 256, 32
    row = b"".join((v * 257).to_bytes(2, "little") for v in range(width))
    values = row * height
    source = encode(Image.frombytes("I;16", (width, height), values), "PNG")
    image = decoded(render(source, "w=128").data)
    assert image.size == (128, 16)
    assert image.mode == "L"
    low, high = image.getpixel((2, 8)), image.getpixel((125, 8))
    assert isinstance(low, int) and isinstance(high, int)
    assert low < 20 and high > 230  # a clipped conversion would be white almost everywhere


def test_palette_png_with_transparency_stays_palette_and_transparent() -> None:
    image = Image.new("P", (200, 100), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (100, 0, 200, 100))
    source = encode(image, "PNG", transparency=1)
    out = decoded(render(source, "w=100").data)
    assert out.mode == "P"
    assert out.size == (100, 50)
    rgba = out.convert("RGBA")
    assert rgb(rgba.getpixel((90, 25)))[3] == 0  # the transparent half is still transparent
    assert near(rgba.getpixel((10, 25)), (255, 0, 0, 255))
    flat = decoded(render(source, "w=100&format=jpeg").data)
    assert near(flat.getpixel((90, 25)), (255, 255, 255))  # JPEG: alpha flattened onto white


def test_alpha_kept_by_png_webp_avif_flattened_by_jpeg(fixtures: Path) -> None:
    image = Image.new("RGBA", (200, 100), (0, 128, 0, 255))
    image.paste((0, 0, 0, 0), (100, 0, 200, 100))
    source = encode(image, "PNG")
    for fmt in ("png", "webp", "avif"):
        out = decoded(render(source, f"w=100&format={fmt}").data).convert("RGBA")
        assert rgb(out.getpixel((90, 25)))[3] < 10, fmt
        assert rgb(out.getpixel((10, 25)))[3] > 245, fmt
    jpeg = decoded(render(source, "w=100&format=jpeg").data)
    assert near(jpeg.getpixel((90, 25)), (255, 255, 255))
    letterboxed = decoded(render(source, "lb=100,100&background=red&format=jpeg").data)
    assert near(letterboxed.getpixel((50, 2)), (255, 0, 0))  # padding
    assert near(letterboxed.getpixel((90, 50)), (255, 0, 0))  # transparent part shows the background


@pytest.mark.parametrize("mode", ["1", "L", "LA", "RGBA", "P", "I;16", "CMYK"])
def test_any_input_mode_renders_to_every_format(mode: str) -> None:
    base = photo(120, 90).convert("RGBA" if mode in ("LA", "RGBA") else "RGB")
    image = base.convert(mode) if mode != "I;16" else base.convert("L").convert("I").convert("I;16")
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    source = encode(image, fmt)
    for out in ("jpeg", "png", "webp"):
        result = render(source, f"w=60&format={out}")
        assert decoded(result.data).size == (60, 45), (mode, out)


def test_gravity_and_letterbox_background() -> None:
    source = encode(halves((200, 400), "red", "blue", vertical=True), "PNG")
    north = decoded(render(source, "resize=100,100&gravity=north").data).convert("RGB")
    south = decoded(render(source, "resize=100,100&gravity=south").data).convert("RGB")
    assert near(north.getpixel((50, 50)), (255, 0, 0))
    assert near(south.getpixel((50, 50)), (0, 0, 255))
    boxed = decoded(render(source, "lb=300,100&background=%23ffff00").data).convert("RGB")
    assert boxed.size == (300, 100)
    assert near(boxed.getpixel((5, 50)), (255, 255, 0))
    assert near(boxed.getpixel((150, 10)), (255, 0, 0))


def logo() -> bytes:
    """A transparent logo: a green disc-ish square in the middle, fully transparent around it."""
    image = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    image.paste((0, 160, 0, 255), (70, 20, 130, 80))
    image.paste((0, 160, 0, 128), (130, 20, 150, 80))  # a half-transparent edge
    return encode(image, "PNG")


@pytest.mark.parametrize("fmt", ["png", "webp", "avif"])
def test_letterbox_keeps_the_images_alpha_and_bars_take_the_background(fmt: str) -> None:
    out = decoded(render(logo(), f"lb=200,200&format={fmt}").data).convert("RGBA")
    assert out.size == (200, 200)
    assert rgb(out.getpixel((100, 10)))[3] == 255 and near(out.getpixel((100, 10)), (0, 0, 0, 255))  # bar
    assert rgb(out.getpixel((20, 100)))[3] < 10  # the logo's transparent part stays transparent
    assert near(out.getpixel((100, 100)), (0, 160, 0, 255))
    assert abs(rgb(out.getpixel((140, 100)))[3] - 128) < 20  # partial alpha kept
    tinted = decoded(render(logo(), f"lb=200,200&background=%23ff000080&format={fmt}").data).convert("RGBA")
    assert near(tinted.getpixel((100, 10)), (255, 0, 0, 128), 12)  # a bar with alpha: #rrggbbaa
    clear = decoded(render(logo(), f"lb=200,200&background=transparent&format={fmt}").data).convert("RGBA")
    assert rgb(clear.getpixel((100, 10)))[3] < 10


def test_letterbox_of_an_opaque_photo_stays_opaque() -> None:
    out = decoded(render(encode(photo(200, 100), "PNG"), "lb=200,200&background=white").data)
    assert out.mode == "RGB"
    assert near(out.getpixel((100, 10)), (255, 255, 255))


def test_flip_flop_negative_grayscale() -> None:
    source = encode(halves((200, 100), "red", "blue"), "PNG")
    flopped = decoded(render(source, "flop=1").data).convert("RGB")
    assert near(flopped.getpixel((10, 50)), (0, 0, 255))
    flipped = decoded(render(encode(halves((100, 200), "red", "blue", True), "PNG"), "flip=1").data)
    assert near(flipped.convert("RGB").getpixel((50, 10)), (0, 0, 255))
    negative = decoded(render(source, "negative=1").data).convert("RGB")
    assert near(negative.getpixel((10, 50)), (0, 255, 255))
    grey = decoded(render(source, "grayscale=1&format=jpeg").data)
    assert grey.mode == "L"


@pytest.mark.parametrize("strategy", ["entropy", "attention", "smart"])
def test_crop_strategy_keeps_the_busy_part(strategy: str) -> None:
    image = Image.new("RGB", (400, 100), (128, 128, 128))
    image.paste(photo(100, 100, seed=3).convert("RGB"), (300, 0))
    result = render(encode(image, "PNG"), f"resize=100,100&crop_strategy={strategy}")
    out = decoded(result.data).convert("RGB")
    assert out.size == (100, 100)
    assert len(out.getcolors(1 << 16) or []) > 200  # the textured square, not flat grey


def test_empty_region_is_refused(wide_jpeg: bytes) -> None:
    with pytest.raises(ImageRefused, match="crop region"):
        render(wide_jpeg, "crop=2000px,10px,100px,100px")


def test_output_side_limit(wide_jpeg: bytes) -> None:
    with pytest.raises(ImageRefused, match="largest output side"):
        render(wide_jpeg, "strip=all", limits=Limits(max_output_side=1000))


def test_icc_kept_gps_dropped_by_default() -> None:
    exif = Image.Exif()
    exif[0x010F] = "Camera"
    exif[GPS_IFD] = {1: "N", 2: (52.0, 31.0, 0.0), 3: "E", 4: (13.0, 24.0, 0.0)}
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = encode(photo(400, 300), "JPEG", exif=exif.tobytes(), icc_profile=icc)
    out = decoded(render(source, "w=200").data)
    assert out.info.get("icc_profile") == icc
    assert not out.getexif().get_ifd(GPS_IFD)
    assert "exif" not in out.info
    for fmt in ("png", "webp"):
        assert decoded(render(source, f"w=200&format={fmt}").data).info.get("icc_profile") == icc
    stripped = decoded(render(source, "w=200&strip=all").data)
    assert "icc_profile" not in stripped.info and "exif" not in stripped.info
    colourless = decoded(render(source, "w=200&strip=color").data)
    assert "icc_profile" not in colourless.info
    assert colourless.getexif().get(0x010F) == "Camera"
    assert not colourless.getexif().get_ifd(GPS_IFD)


def test_real_icc_profile_kept(fixtures: Path) -> None:
    source = (fixtures / "hdr.jpg").read_bytes()
    original = Image.open(io.BytesIO(source)).info["icc_profile"]
    assert decoded(render(source, "w=300").data).info.get("icc_profile") == original


def frame_durations(image: Image.Image) -> list[int]:
    durations = []
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        durations.append(int(image.info.get("duration", 0)))
    return durations


@pytest.mark.parametrize(
    ("name", "query"),
    [("animated.gif", "w=128"), ("animated.webp", "resize=100,100"), ("animated.png", "w=50")],
)
def test_animation_keeps_frames_durations_and_loop(fixtures: Path, name: str, query: str) -> None:
    source = (fixtures / name).read_bytes()
    original = Image.open(io.BytesIO(source))
    result = render(source, query)
    out = Image.open(io.BytesIO(result.data))
    assert out.format == original.format
    assert getattr(out, "n_frames", 1) == getattr(original, "n_frames", 1) == result.frames
    assert frame_durations(out) == frame_durations(original)
    assert out.info.get("loop", 0) == original.info.get("loop", 0)
    assert out.size == (result.width, result.height)
    assert max(out.size) < max(original.size)


def test_animated_to_static_format_keeps_first_frame(fixtures: Path) -> None:
    source = (fixtures / "animated.gif").read_bytes()
    result = render(source, "w=100&format=jpeg")
    assert result.frames == 1
    assert decoded(result.data).size == (100, 100)


def mpo(size: tuple[int, int] = (1200, 800)) -> bytes:
    """A multi-picture JPEG as cameras and phones write it: the photo, then a second picture."""
    out = io.BytesIO()
    first = halves(size, "red", "blue")
    first.save(out, "MPO", save_all=True, append_images=[Image.new("RGB", size, "green")], quality=90)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["webp", "png", "gif", "jpeg"])
def test_multi_picture_jpeg_is_a_still_photo(fmt: str) -> None:
    source = mpo()
    assert probe(source, LIMITS).frames == 1
    result = render(source, f"w=300&format={fmt}")
    out = decoded(result.data)
    assert result.frames == getattr(out, "n_frames", 1) == 1  # no flashing to the second picture
    assert out.size == (300, 200)
    assert near(out.convert("RGB").getpixel((10, 100)), (255, 0, 0))  # the first picture
    small = parse_query("w=300", LIMITS) or Transform()
    assert decode_pixels(probe(source, LIMITS), small, LIMITS) == 600 * 400  # DCT-scaled like a JPEG


def test_static_gif_becomes_png() -> None:
    source = encode(photo(100, 50).convert("P"), "GIF")
    result = render(source, "w=50")
    assert result.format == "png"
    assert decoded(result.data).format == "PNG"


def test_camera_sized_jpeg_uses_dct_scaling(camera_jpeg: bytes) -> None:
    info = probe(camera_jpeg, LIMITS)
    transform = parse_query("w=300", LIMITS)
    assert transform is not None
    assert decode_pixels(info, transform, LIMITS) == 750 * 500  # decoded at 1/8 scale
    assert decode_pixels(info, parse_query("w=2048", LIMITS) or transform, LIMITS) == 3000 * 2000
    assert decode_pixels(info, parse_query("strip=all", LIMITS) or transform, LIMITS) == 6000 * 4000
    result = render_transform(camera_jpeg, transform, "jpeg", LIMITS)
    assert (result.width, result.height) == (300, 200)


def test_render_many_wordpress_size_set(camera_jpeg: bytes) -> None:
    queries = ["resize=150,150", "w=300", "w=768", "w=1024", "w=2048"]
    transforms = [parse_query(q, LIMITS) or Transform() for q in queries]
    results = render_many(camera_jpeg, [(t, "jpeg") for t in transforms], LIMITS)
    assert [(r.width, r.height) for r in results] == [
        (150, 150), (300, 200), (768, 512), (1024, 683), (2048, 1365),
    ]  # fmt: skip
    for result in results:
        assert decoded(result.data).size == (result.width, result.height)


def test_unscaled_palette_png_stays_pixel_identical() -> None:
    image = photo(64, 48).quantize(200)
    image.info["transparency"] = 5
    source = encode(image, "PNG", transparency=5)
    out = decoded(render(source, "strip=all").data)
    assert out.mode == "P"
    original = Image.open(io.BytesIO(source)).convert("RGBA")
    backdrop = Image.new("RGBA", original.size, (255, 0, 255, 255))
    seen = Image.alpha_composite(backdrop, out.convert("RGBA"))  # hidden colours under alpha 0 don't count
    assert seen.tobytes() == Image.alpha_composite(backdrop, original).tobytes()
    assert out.convert("RGBA").getchannel("A").tobytes() == original.getchannel("A").tobytes()


def partially_transparent_palette_png() -> bytes:
    """An 8-bit palette PNG whose tRNS gives many entries partial alpha (anti-aliased icons)."""
    image = photo(160, 120).quantize(200)
    alphas = bytes((i * 37) % 256 for i in range(200))
    return encode(image, "PNG", transparency=alphas)


@pytest.mark.parametrize(
    ("query", "same"),
    [
        ("strip=all", lambda im: im),
        ("w=600", lambda im: im),  # at or above its size: not resized
        ("flop=1", lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
        ("rotate=90", lambda im: im.transpose(Image.Transpose.ROTATE_270)),
        ("crop=10px,10px,100px,100px", lambda im: im.crop((10, 10, 110, 110))),
    ],
)
@pytest.mark.parametrize("name", ["partial", "Website.png"])
def test_palette_png_not_resized_stays_pixel_exact(
    fixtures: Path, name: str, query: str, same: Callable[[Image.Image], Image.Image]
) -> None:
    source = partially_transparent_palette_png() if name == "partial" else (fixtures / name).read_bytes()
    result = render(source, query)
    out = decoded(result.data)
    expected = same(decoded(source).convert("RGBA"))
    assert out.mode == "P" and out.size == expected.size
    assert out.convert("RGBA").tobytes() == expected.tobytes()  # colours and alpha, every pixel


def test_dct_scaled_decode_keeps_edges_in_place() -> None:
    # 2699 px at 1/2 decodes to 1350 px covering 2700: mapping by the size ratio would move
    # this edge by a quarter of an output pixel; the output must match a full-size resize.
    # (Over 2 megapixels: smaller originals are decoded at full size down to 3×.)
    image = Image.new("L", (2699, 1338), 0)
    image.paste(255, (2100, 0, 2699, 1338))
    source = encode(image.convert("RGB"), "JPEG", quality=95)
    transform = parse_query("w=900", LIMITS)
    assert transform is not None
    assert decode_pixels(probe(source, LIMITS), transform, LIMITS) == 1350 * 669  # decoded at 1/2
    out = decoded(render_transform(source, transform, "png", LIMITS).data).convert("L")
    reference = decoded(source).convert("L").resize((900, 446), Image.Resampling.LANCZOS)
    worst = max(abs(out.getpixel((x, 200)) - reference.getpixel((x, 200))) for x in range(900))  # type: ignore[operator]
    assert worst <= 8


ORIENTED = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}  # fmt: skip


@pytest.mark.parametrize("orientation", sorted(ORIENTED))
def test_exif_orientation_and_dct_scaling_compose_exactly(orientation: int) -> None:
    # 2699×1341 at 1/2 decodes to 1350×671 covering 2700×1342: once orientation flips an axis,
    # the padding comes first, so the picture starts half a decoded pixel in. The render of
    # a rotated original must be the render of the unrotated one, turned the same way (to a
    # level: a swap of axes changes the order of the resampling passes).
    rnd = random.Random(orientation)
    stored = Image.frombytes("L", (2699, 1341), rnd.randbytes(2699 * 1341)).convert("RGB")
    stored.paste((255, 255, 255), (0, 0, 120, 1341))
    exif = Image.Exif()
    exif[0x0112] = orientation
    source = encode(stored, "JPEG", quality=95, exif=exif.tobytes())
    plain = encode(stored, "JPEG", quality=95)
    transform = parse_query("fit=900,900", LIMITS)
    assert transform is not None
    assert decode_pixels(probe(source, LIMITS), transform, LIMITS) == 1350 * 671  # the DCT shortcut
    out = decoded(render_transform(source, transform, "png", LIMITS).data).convert("L")
    turned = decoded(render_transform(plain, transform, "png", LIMITS).data).convert("L")
    turned = turned.transpose(ORIENTED[orientation])
    _low, high = ImageChops.difference(out, turned).getextrema()
    # swapped axes: a dozen of 400,000 noise pixels differ by up to 4, the 8-bit rounding
    # between the two resampling passes taken in the other order
    assert isinstance(high, int) and high <= (0 if orientation in (2, 3, 4) else 4)  # shifted: 37-71
    # and it is as close to a full-size resize as the unrotated render is (shifted: 2-3× worse)
    upright = ImageOps.exif_transpose(decoded(source)).convert("L")
    reference = upright.resize(out.size, Image.Resampling.LANCZOS)
    unrotated = decoded(render_transform(plain, transform, "png", LIMITS).data).convert("L")
    baseline = decoded(plain).convert("L").resize(unrotated.size, Image.Resampling.LANCZOS)
    error = ImageStat.Stat(ImageChops.difference(out, reference)).mean[0]
    plain_error = ImageStat.Stat(ImageChops.difference(unrotated, baseline)).mean[0]
    assert error <= plain_error * 1.1
