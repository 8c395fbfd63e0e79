"""The derivative key: (original key, transform, output format) → S3 key.

``name_derivative`` is the one function that names a derivative (its output
format and its key); the edge (hit and miss), the worker and the CLI all call it.
The key is ``request_key``: a function of the URL (and the normalised Accept)
alone, so the edge can rewrite to it without asking S3. Its extension is the
format the URL names (``core.formats.named_format``); what is stored under it is
the output format, which may differ for an animation-dependent source (a static
GIF is a PNG under the ``.gif`` name; its Content-Type says so). Layout,
readable in the bucket::

    {prefix}{original key}/{tokens}.r{RENDER_VERSION}.{ext}
    _derivatives/uploads/2018/02/photo.jpg/resize150x150_q82.r4.jpg

All derivatives of one original share ``original_prefix(original)``, so a purge
is one prefix listing. ``Transform`` is canonical (``core.args``), so equal
renders give equal tokens. ``RENDER_VERSION`` is part of every key: bump it
whenever the pipeline's output changes and no old render is ever served.

Safety: an original key with an empty, ``.`` or ``..`` segment, a control
character, or one too long to leave room for the name, is replaced by a hash
(``{prefix}_hash/{sha256}/``); a name too long is hashed too. No key exceeds
S3's 1,024 bytes.
"""

from __future__ import annotations

from typing import NamedTuple

from core.formats import EXTENSION, animation_variant, named_format, output_format
from core.transform import BLACK, Transform
from core.types import OutputFormat

#: Bump when the pipeline's pixels or encoding change for any transform. One global
#: number, since a key is named before the original is read: a change that depends on
#: the original (its EXIF orientation, its palette) can only be told apart by all keys.
#: 2: WordPress's fit/w/h/lb sizes, EXIF orientation with DCT scaling, lb alpha, exact
#: palette PNGs, the crop strategies, MPO as a still (docs/rendering.md, "Render versions").
#: 3: animations written by the streaming GIF, APNG and WebP writers (core.processing.animation).
#: 4: the fast quality mode: JPEGs decoded down to the output size, one LANCZOS-3 convolution,
#: baseline JPEG, Z_RLE PNG; web-sized JPEGs decoded with more headroom.
RENDER_VERSION = 4
DEFAULT_PREFIX = "_derivatives/"
MAX_KEY_BYTES = 1024
_NAME_BUDGET = 200  # bytes kept for the derivative's own name under the original's prefix
_LOSSY = frozenset({"jpeg", "webp", "avif"})


def _sha256(text: str) -> str:
    import hashlib  # only for unsafe or very long names; the edge's primary pass rarely needs it

    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _number(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def tokens(transform: Transform, fmt: str) -> list[str]:
    """The canonical, readable description of a render, one token per effect."""
    t = transform
    out: list[str] = []
    if t.region is not None:
        out.append("crop" + "-".join(_number(v.value) + ("px" if v.pixels else "p") for v in t.region))
    if t.mode in ("resize", "fit", "lb"):
        out.append(f"{t.mode}{t.width}x{t.height}")
    elif t.mode == "wh":
        out += [f"w{t.width}"] if t.width else []
        out += [f"h{t.height}"] if t.height else []
        out += ["cover"] if t.crop else []
    if t.mode == "lb" and t.background != BLACK:
        *rgb, alpha = t.background
        out.append("bg" + "".join(f"{v:02x}" for v in rgb) + (f"{alpha:02x}" if alpha < 255 else ""))
    if t.crop_strategy is not None:
        out.append(f"auto-{t.crop_strategy}")
    elif t.gravity != "center":
        out.append(f"g-{t.gravity}")
    out += [f"rot{t.rotate}"] if t.rotate else []
    out += [name for name in ("flip", "flop", "negative", "grayscale") if getattr(t, name)]
    out += [f"strip-{t.strip}"] if t.strip != "info" else []
    out += [f"q{t.quality}"] if fmt in _LOSSY else []
    return out or ["full"]


def original_prefix(original_key: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The folder holding every derivative of one original (ends with ``/``)."""
    segments = original_key.split("/")
    unsafe = any(s in ("", ".", "..") for s in segments) or any(ord(c) < 32 for c in original_key)
    folder = f"{prefix}{original_key}/"
    if unsafe or len(folder.encode()) > MAX_KEY_BYTES - _NAME_BUDGET:
        folder = f"{prefix}_hash/{_sha256(original_key)}/"
    return folder


def derivative_key(
    original_key: str,
    transform: Transform,
    fmt: str,
    prefix: str = DEFAULT_PREFIX,
    *,
    extra: tuple[str, ...] = (),
) -> str:
    """The S3 key of the derivative of ``original_key`` by ``transform``, named ``fmt``
    (``extra`` tokens name what ``fmt`` and the transform leave open)."""
    name = "_".join([*tokens(transform, fmt), *extra])
    suffix = f".r{RENDER_VERSION}.{EXTENSION[fmt]}"
    folder = original_prefix(original_key, prefix)
    if len(name.encode()) + len(suffix) > _NAME_BUDGET:
        name = _sha256(name)
    return folder + name + suffix


def request_key(
    original_key: str, transform: Transform, source: OutputFormat, *, accept: str | None, prefix: str
) -> str:
    """The derivative key a request names, from the URL (and Accept) alone: the same whether
    the original turns out static or animated, so one lookup (or none) is exact."""
    named = named_format(transform, source, accept=accept)
    variant = animation_variant(transform, source, accept=accept)
    extra = (f"anim-{EXTENSION[variant]}",) if variant is not None else ()
    return derivative_key(original_key, transform, named, prefix, extra=extra)


class Derivative(NamedTuple):
    """One derivative: the format it is written in and its S3 key."""

    format: OutputFormat
    key: str


def name_derivative(
    original_key: str,
    transform: Transform,
    source: OutputFormat,
    *,
    animated: bool,
    accept: str | None,
    prefix: str,
) -> Derivative:
    """The derivative ``transform`` makes of ``original_key`` (``source``: the format its
    extension names, or the bytes' format when it names none): its output format, once it is
    known whether the original is animated, and its key (``request_key``, which is not)."""
    fmt = output_format(transform, source, animated=animated, accept=accept)
    return Derivative(fmt, request_key(original_key, transform, source, accept=accept, prefix=prefix))
