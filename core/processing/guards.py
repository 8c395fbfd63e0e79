"""Security checks read from the header, before a single pixel is decoded.

Every refusal is ``ImageRefused`` with a reason a site owner can act on. The
order is cheapest first: byte count, magic bytes (never the file name), the
JPEG scan count (walked over the markers), then the dimensions and frame
counts from Pillow's lazy ``open`` — which reads headers only.
"""

from __future__ import annotations

import io
import re
import warnings

from PIL import Image

from core.errors import ImageRefused, error_text
from core.limits import Limits
from core.processing.model import SourceInfo
from core.processing.plan import Plan
from core.types import OutputFormat

# Pillow only warns between MAX_IMAGE_PIXELS and twice that; a bomb is a bomb.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

#: Our format name → the one Pillow plugin allowed to parse it.
PLUGIN: dict[OutputFormat, str] = {
    "jpeg": "JPEG", "png": "PNG", "gif": "GIF", "webp": "WEBP", "avif": "AVIF",
}  # fmt: skip
NOT_AN_IMAGE = "not a JPEG, PNG, GIF, WebP or AVIF image (the format is read from the bytes)"
_ORIENTATION_TAG = 0x0112
_PROGRESSIVE_SOF = frozenset({0xC2, 0xC6, 0xCA, 0xCE})


def sniff(source: bytes) -> OutputFormat | None:
    """The image format from the magic bytes, or None."""
    head = source[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        box = int.from_bytes(head[:4], "big")
        brands = source[8 : max(8, min(box, 256))]
        if any(brands[i : i + 4] in (b"avif", b"avis") for i in range(0, len(brands) - 3, 4)):
            return "avif"
    return None


def jpeg_scans(source: bytes) -> int:
    """Number of scans (SOS markers) of a progressive JPEG, found without decoding.

    A sequential JPEG reports 1 as soon as its first scan starts: each of its
    scans is one pass over distinct data, so only progressive files can make
    the decoder redo work per scan (the "too many scans" denial of service).

    Header segments are walked by their lengths up to the first SOS (so an EXIF
    thumbnail's markers are skipped). After it, entropy-coded data can never hold
    ``FF DA`` (every ``FF`` byte is stuffed), so counting that pair up to EOI
    counts the remaining scans at C speed. Returns 0 when no scan is present.
    """
    pos, end = 2, len(source)
    progressive = False
    while pos + 4 <= end:
        if source[pos] != 0xFF:  # stray bytes before a marker: libjpeg skips them, so do we
            pos = source.find(b"\xff", pos)
            if pos < 0:
                return 0
            continue
        marker = source[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:
            pos += 2
            continue
        if marker == 0xD9:
            return 0
        if marker in _PROGRESSIVE_SOF:
            progressive = True
        if marker == 0xDA:
            if not progressive:  # sequential: the scan count cannot blow up decoding work
                return 1
            stop = source.find(b"\xff\xd9", pos)
            return source.count(b"\xff\xda", pos, stop if stop >= 0 else end)
        pos += 2 + int.from_bytes(source[pos + 2 : pos + 4], "big")
    return 0


def probe(source: bytes, limits: Limits) -> SourceInfo:
    """Read the header and apply every guard that can be checked before decoding."""
    if len(source) > limits.max_source_bytes:
        raise ImageRefused(
            f"the original is {len(source):,} bytes; the largest accepted is {limits.max_source_bytes:,}"
        )
    fmt = sniff(source)
    if fmt is None:
        raise ImageRefused(NOT_AN_IMAGE)
    if fmt == "jpeg":
        scans = jpeg_scans(source)
        if scans == 0:
            raise ImageRefused("truncated or corrupt JPEG: no image data")
        if scans > limits.max_jpeg_scans:
            raise ImageRefused(
                f"progressive JPEG with {scans} scans; at most {limits.max_jpeg_scans} are accepted"
            )
    try:
        with Image.open(io.BytesIO(source), formats=[PLUGIN[fmt]]) as image:
            width, height = image.size
            _check_size(width, height, limits)
            frames = _frames(image, source, limits)
            orientation = _orientation(image)
            mode = image.mode
    except ImageRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as bomb:
        found = re.search(r"\((\d+) pixels\)", str(bomb))
        declared = f" ({int(found.group(1)):,} pixels)" if found else ""
        raise ImageRefused(
            f"the image declares more pixels than allowed{declared}; "
            f"at most {min(limits.max_pixels, Image.MAX_IMAGE_PIXELS or limits.max_pixels):,} are accepted"
        ) from None
    except Exception as error:  # any parser failure on hostile bytes is a refusal
        raise ImageRefused(f"unreadable {fmt.upper()} image: {_short(error)}") from None
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return SourceInfo(fmt, width, height, frames, len(source), orientation, mode)


def _check_size(width: int, height: int, limits: Limits) -> None:
    if width < 1 or height < 1:
        raise ImageRefused("the image declares no pixels")
    if max(width, height) > limits.max_side:
        raise ImageRefused(
            f"the image is {width}×{height} px; each side may be at most {limits.max_side:,} px"
        )
    if width * height > limits.max_pixels:
        raise ImageRefused(
            f"the image is {width}×{height} px ({width * height:,} pixels); "
            f"at most {limits.max_pixels:,} pixels are accepted"
        )


def gif_frames(source: bytes, cap: int) -> int:
    """Image descriptors in a GIF, counting stops after ``cap`` (bounded work).

    Pillow's ``n_frames`` walks every frame however many there are; a small file
    can hold millions of empty frames, so the count is capped before asking it.
    """
    end = len(source)
    pos = 13
    if end > 10 and source[10] & 0x80:
        pos += 3 << ((source[10] & 7) + 1)
    frames = 0
    while pos < end and frames <= cap:
        block = source[pos]
        if block == 0x3B:
            break
        if block == 0x21:
            pos += 2
        elif block == 0x2C:
            frames += 1
            if pos + 10 > end:
                break
            flags = source[pos + 9]
            pos += 10 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0) + 1
        else:
            break
        while pos < end and source[pos]:  # data sub-blocks
            pos += source[pos] + 1
        pos += 1
    return frames


def _frames(image: Image.Image, source: bytes, limits: Limits) -> int:
    """Frames of an animation; 1 for every JPEG.

    A multi-picture JPEG (MPO: stereo pairs, depth maps and previews from cameras and
    phones) holds several pictures but is one still photo: its first picture is the
    photo every viewer shows, so it renders (at the edge too) as a plain JPEG.
    """
    if image.format in ("JPEG", "MPO"):
        return 1
    width, height = image.size
    if image.format == "GIF" and gif_frames(source, limits.max_frames) > limits.max_frames:
        raise ImageRefused(
            f"the animation has more than {limits.max_frames} frames; at most {limits.max_frames} "
            "are accepted"
        )
    frames = int(getattr(image, "n_frames", 1))
    if frames > limits.max_frames:
        raise ImageRefused(f"the animation has {frames} frames; at most {limits.max_frames} are accepted")
    if frames > 1 and frames * width * height > limits.max_animation_pixels:
        raise ImageRefused(
            f"the animation holds {frames * width * height:,} pixels over {frames} frames; "
            f"at most {limits.max_animation_pixels:,} are accepted"
        )
    if frames > 1:
        image.seek(0)
    return frames


#: Source canvases (4 bytes per pixel) a streamed animation render holds at once: the
#: decoder's frame and the backdrop it composites onto, the working copy, and the
#: resampler's premultiplied copy. libwebp's animation decoder keeps two canvases of
#: its own and hands each frame over as a copy. Measured (benchmarks/bench_animation.py):
#: about 3.5 for APNG, 4 for GIF, 6.6 for WebP.
SOURCE_CANVASES: dict[OutputFormat, int] = {"gif": 4, "png": 4, "webp": 7}
#: Bytes per output pixel held by the shaping steps and the frame writer (the frame, the
#: writer's canvas of what is shown, its difference masks, the frame held back; libwebp's
#: encoder canvases). Measured: 5 (GIF) to 12 (WebP).
OUTPUT_BYTES_PER_PIXEL = 16


def animation_memory(info: SourceInfo, plan: Plan) -> int:
    """Bytes an animated render holds at its peak, from the header and the plan alone.

    Frames are streamed (``core.processing.animation``), so this does not grow
    with the frame count: the source canvas times the canvases decoding keeps,
    plus the largest output-side image times what shaping and writing keep.
    """
    resampled = max(plan.size[0] * plan.size[1], plan.output[0] * plan.output[1])
    canvases = SOURCE_CANVASES.get(info.format, max(SOURCE_CANVASES.values()))
    return info.width * info.height * 4 * canvases + resampled * OUTPUT_BYTES_PER_PIXEL


def check_animation(info: SourceInfo, plan: Plan, limits: Limits) -> int:
    """Refuse an animated render whose working set exceeds ``max_animation_memory``.

    Returns the bytes left for the encoded output (it is held in memory too, and
    copied once when finished), which the frame writers enforce as they go.
    """
    needed = animation_memory(info, plan)
    if needed > limits.max_animation_memory:
        raise ImageRefused(
            f"animating {info.width}×{info.height} px frames into {plan.output[0]}×{plan.output[1]} "
            f"needs about {_mb(needed)} of memory; at most {_mb(limits.max_animation_memory)} "
            "are allowed (max_animation_memory)"
        )
    return (limits.max_animation_memory - needed) // 3


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):,.0f} MiB"


def _orientation(image: Image.Image) -> int:
    """EXIF orientation from header data only (never forces a decode, unlike ``getexif``)."""
    raw = image.info.get("exif")
    if not isinstance(raw, bytes):
        return 1
    try:
        exif = Image.Exif()
        exif.load(raw)
        value = exif.get(_ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block is ignored, as browsers do
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _short(error: BaseException) -> str:
    return error_text(error)
