"""The canonical query string: one spelling per request, for CloudFront's cache key and for signing.

``canonical_query`` rewrites a raw query so that URLs the service answers alike
share one spelling, which is what the viewer-request CloudFront Function
(``edge/viewer/function.js``, a port of this module checked against it by
``tests/test_viewer_function.py``) puts into the cache key, and what a signature
covers (``core.signing``). Rules (docs/security.md, "Canonical query"):

- arguments are read exactly as ``core.args.parse_query`` reads them (``parse_qsl``,
  last value wins, aliases merged, values stripped, empty values absent);
- names outside ``KEPT`` (the arguments, the signature and the preset) are dropped;
- arguments that the parser never reads are dropped: a sizing rule below the first one
  present (``resize`` > ``fit`` > ``lb`` > ``w``/``h``), and ``webp`` beside ``format``;
- a value the parser accepts is written in one spelling (``w=0300px`` → ``w=300``,
  ``flip=TRUE`` → ``flip=1``, ``gravity=Centre`` → ``gravity=center``, ``crop=10.50,…``
  → ``crop=10.5,…``); a value it refuses is kept as it is, so the 400 says the same;
- names are sorted, values percent-encoded but for ``A-Za-z0-9-._~`` and ``,``;
- a query with a non-ASCII value (after decoding and stripping), or longer than
  ``MAX_QUERY``, is returned unchanged: every argument refuses a non-ASCII value, and
  the edge then answers what it would have.

``parse_query(canonical_query(q))`` equals ``parse_query(q)`` (the same transform, or
the same refusal, word for word), and ``canonical_query`` is idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, quote

from core.args.crop import GRAVITIES, STRATEGIES
from core.args.flags import FORMATS, STRIPS
from core.args.sizing import MAX_ZOOM
from core.args.values import FALSE, HEX, NUMBER, PIXELS, TRUE, too_long
from core.colours import CSS_COLOURS

#: Every argument name the parser understands; anything else is ignored.
KNOWN = frozenset(
    {
        "w", "h", "crop", "resize", "fit", "lb", "background", "gravity", "crop_strategy",
        "zoom", "quality", "webp", "format", "rotate", "flip", "flop", "negative",
        "grayscale", "greyscale", "strip",
    }
)  # fmt: skip
ALIASES = {"greyscale": "grayscale"}
#: The signed-URL argument (``core.signing``) and the size preset (``core.sizepolicy``).
SIGNATURE = "s"
PRESET = "preset"
#: What the canonical query keeps.
KEPT = KNOWN | {SIGNATURE, PRESET}
#: Longest query rewritten (characters): a longer one is returned as it is, which bounds the
#: viewer function's compute on any input (docs/security.md); site URLs are far shorter.
MAX_QUERY = 2048
#: The sizing rules by precedence (``core.args.sizing``): the first present shadows the rest.
PAIRED = ("resize", "fit", "lb")

BOOLEANS = ("flip", "flop", "negative", "grayscale", "webp")
CHOICES: dict[str, Mapping[str, str]] = {
    "gravity": GRAVITIES, "crop_strategy": STRATEGIES, "format": FORMATS, "strip": STRIPS
}  # fmt: skip


def read_args(query: str, names: frozenset[str] = KNOWN) -> dict[str, str]:
    """The arguments of ``query`` as the parser reads them: name (aliases merged) → stripped,
    non-empty value, last one winning; only names in ``names``."""
    raw: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in names:
            raw[ALIASES.get(name, name)] = value.strip()
    return {name: value for name, value in raw.items() if value != ""}


def canonical_query(query: str) -> str:
    """The canonical spelling of a raw query string (no ``?``); see the module's rules."""
    if len(query) > MAX_QUERY:
        return query
    args = read_args(query, KEPT)
    if not all(value.isascii() for value in args.values()):
        return query
    first = next((name for name in PAIRED if name in args), None)
    if first is not None:
        for name in (*PAIRED, "w", "h"):
            if name != first:
                args.pop(name, None)
    if "format" in args:
        args.pop("webp", None)
    return "&".join(f"{name}={quote(spelling(name, args[name]), safe=',')}" for name in sorted(args))


def spelling(name: str, value: str) -> str:
    """The one spelling of an accepted ``value`` of ``name``; a refused value unchanged."""
    lowered = value.lower()
    if name in BOOLEANS:
        return _boolean(lowered) or value
    if name == "crop":
        return _boolean(lowered) or _region(lowered) or value
    if name in ("w", "h"):
        return _whole(lowered, 1, None) or value
    if name == "quality":
        return _whole(lowered, 1, 100) or value
    if name in PAIRED:
        parts = value.split(",")
        sides = [_whole(p.strip().lower(), 0, None) or "" for p in parts]
        return ",".join(sides) if len(parts) == 2 and all(sides) else value
    if name == "zoom":
        number = _number(value)
        return number if number and 0 < float(number) <= MAX_ZOOM else value
    if name in CHOICES:
        return CHOICES[name].get(lowered, value)
    if name == "background":
        return _colour(lowered) or value
    return value  # rotate (exact values only), s, preset


def _boolean(lowered: str) -> str | None:
    return "1" if lowered in TRUE else "0" if lowered in FALSE else None


def _whole(lowered: str, low: int, high: int | None) -> str | None:
    match = PIXELS.match(lowered)
    if not match or too_long(match.group(1)):
        return None
    number = int(match.group(1).lstrip("0") or "0")  # int() refuses thousands of digits
    return str(number) if number >= low and (high is None or number <= high) else None


def _number(text: str) -> str | None:
    """A decimal number in its shortest spelling (``010.50`` → ``10.5``), if it is one."""
    if not NUMBER.match(text) or too_long(text):
        return None
    whole, _, fraction = text.partition(".")
    whole, fraction = whole.lstrip("0") or "0", fraction.rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


def _region(lowered: str) -> str | None:
    parts = [p.strip() for p in lowered.split(",")]
    if len(parts) != 4:
        return None
    out: list[str] = []
    for i, part in enumerate(parts):
        pixels = part.endswith("px")
        number = _number(part[:-2] if pixels else part)
        if number is None or (not pixels and float(number) > 100) or (i >= 2 and float(number) <= 0):
            return None
        out.append(number + ("px" if pixels else ""))
    return ",".join(out)


def _colour(lowered: str) -> str | None:
    """A CSS name as itself, a hex colour as eight digits (``#FFF`` → ``ffffffff``)."""
    if lowered in CSS_COLOURS:
        return lowered
    match = HEX.match(lowered)
    if not match:
        return None
    digits = match.group(1)
    if len(digits) <= 4:
        digits = "".join(c * 2 for c in digits)
    return digits + "ff" if len(digits) == 6 else digits
