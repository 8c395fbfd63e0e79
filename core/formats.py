"""Output format choice, in one place.

Rule, in order: an explicit ``format=``/``webp=``; else, when the caller passes
an Accept header (auto-format on), AVIF > WebP (WebP for an animation, which
AVIF output would flatten); else the source's format, where a static GIF
becomes PNG. A URL whose extension cannot animate (``.jpg``) is made as a
still, whatever its bytes are.

The source format used for the default is the one the URL names (its file
extension), not the bytes: the edge must compute the derivative key before it
has read the original, and the key ends with the output extension. A PNG saved
as ``photo.jpg`` therefore renders to JPEG, as the URL promises. The bytes'
real format is still what decodes (see ``core.processing.probe``).

For a ``.gif`` URL the output is PNG when the GIF is static and GIF when it is
animated. The derivative key must not wait for that: it is named after
``named_format``, what the URL (and Accept) ask for before the original is read
(docs/edge.md, "One key per URL").
"""

from __future__ import annotations

from core.transform import Transform
from core.types import OutputFormat

FORMAT_BY_EXTENSION: dict[str, OutputFormat] = {
    "jpg": "jpeg", "jpeg": "jpeg", "jpe": "jpeg", "png": "png", "gif": "gif",
    "webp": "webp", "avif": "avif",
}  # fmt: skip
EXTENSION: dict[str, str] = {
    "jpeg": "jpg",
    "png": "png",
    "gif": "gif",
    "webp": "webp",
    "avif": "avif",
}
CONTENT_TYPE: dict[str, str] = {
    "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp",
    "avif": "image/avif",
}  # fmt: skip
#: Output formats that keep every frame of an animation.
ANIMATED_FORMATS = frozenset({"gif", "webp", "png"})
#: Formats a URL's extension may name for an animated original (a ``.jpg`` URL is always a still).
ANIMATED_SOURCES = frozenset({"gif", "webp", "png", "avif"})


def format_of_path(path: str) -> OutputFormat | None:
    """The image format a path's extension names, or None for a non-image path."""
    name = path.rsplit("/", 1)[-1]
    if "." not in name:
        return None
    return FORMAT_BY_EXTENSION.get(name.rsplit(".", 1)[-1].lower())


def accepted(accept: str | None) -> OutputFormat | None:
    """The best modern format an Accept header allows: AVIF, then WebP."""
    if not accept:
        return None
    lowered = accept.lower()
    if "image/avif" in lowered:
        return "avif"
    if "image/webp" in lowered:
        return "webp"
    return None


#: The Accept values auto-format can tell apart, in the order ``normalise_accept`` writes them.
AUTO_TYPES = ("image/avif", "image/webp")


def normalise_accept(accept: str | None) -> str:
    """The one spelling of an Accept header that keeps what ``output_format`` reads from it:
    ``image/avif,image/webp``, ``image/avif``, ``image/webp`` or empty. The viewer-request
    function puts this into the cache key (edge/viewer/function.js, docs/edge.md)."""
    lowered = (accept or "").lower()
    return ",".join(t for t in AUTO_TYPES if t in lowered)


def named_format(transform: Transform, source: OutputFormat, *, accept: str | None = None) -> OutputFormat:
    """The format a request names before the original is read: explicit, else auto-format's
    choice, else the extension's (a ``.gif`` URL names GIF, even when a static GIF renders to PNG)."""
    return transform.format or accepted(accept) or source


def animation_variant(
    transform: Transform, source: OutputFormat, *, accept: str | None = None
) -> OutputFormat | None:
    """What an animated original becomes when ``named_format`` alone does not say it, else None.

    Usually it does: an animation keeps the named format, except under an AVIF
    name, where it becomes WebP (AVIF output keeps one frame). The exceptions
    (an explicit ``format=avif``, an AVIF original without auto-format, an Accept
    with AVIF but not WebP) get their own derivative key (``core.keys``).
    """
    if source not in ANIMATED_SOURCES:
        return None
    named = named_format(transform, source, accept=accept)
    moving = output_format(transform, source, animated=True, accept=accept)
    return None if moving == ("webp" if named == "avif" else named) else moving


def output_format(
    transform: Transform,
    source: OutputFormat,
    *,
    animated: bool,
    accept: str | None = None,
) -> OutputFormat:
    """The output format of a render, once it is known whether the source is animated."""
    animated = animated and source in ANIMATED_SOURCES
    if transform.format is not None:
        return transform.format
    auto = accepted(accept)
    if animated and auto == "avif":  # AVIF output keeps one frame: prefer WebP, which animates
        auto = "webp" if "image/webp" in (accept or "").lower() else None
    if auto is not None:
        return auto
    if source == "gif" and not animated:
        return "png"
    return source
