"""Readers of single argument values: whole numbers, booleans, choices, colours.

Each raises ``InvalidArgument`` naming the argument, with a reason a site
owner can act on; nothing else leaves them for any string. Numbers are ASCII
digits of bounded length (a value of hundreds of digits is refused before any
arithmetic), and a value is quoted in a reason through ``shown``, which elides
a long one: the reason is the body of a 400 and a log line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar

from core.colours import CSS_COLOURS
from core.errors import InvalidArgument
from core.types import Colour

T = TypeVar("T")

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})
NUMBER = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")
PIXELS = re.compile(r"^([0-9]+)(?:px)?$")
#: Digits before the point of the largest number any argument takes: every limit is far below 10⁹.
MAX_DIGITS = 9
#: Longest value quoted whole in a reason.
SHOWN = 40
HEX = re.compile(r"^#?([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$")


def shown(value: str) -> str:
    """``value`` as a reason quotes it: whole when short, else its ends and its length."""
    if len(value) <= SHOWN:
        return repr(value)
    return f"{value[:16] + '…' + value[-8:]!r} ({len(value):,} characters)"


def too_long(number: str) -> bool:
    """Whether a string of digits (with an optional fraction) is beyond any accepted value."""
    return len(number.partition(".")[0].lstrip("0")) > MAX_DIGITS


def whole(name: str, value: str, low: int = 1, high: int | None = None) -> int:
    """A whole number (an optional ``px`` suffix is allowed) from ``low`` to ``high``."""
    match = PIXELS.match(value.lower())
    allowed = f"a whole number from {low} to {high}" if high else f"a whole number ≥ {low}"
    if match and too_long(match.group(1)):
        raise InvalidArgument(name, f"must be {allowed}; {shown(value)} is far too large.")
    number = int(match.group(1).lstrip("0") or "0") if match else None
    if number is None or number < low or (high is not None and number > high):
        raise InvalidArgument(name, f"must be {allowed}, got {shown(value)}.")
    return number


def pair(name: str, value: str, low: int = 1) -> tuple[int, int]:
    """Two sizes in pixels, ``W,H``, each at least ``low``."""
    parts = value.split(",")
    if len(parts) != 2:
        raise InvalidArgument(name, f"must be two sizes in pixels, 'W,H' (e.g. 300,200), got {shown(value)}.")
    return whole(name, parts[0].strip(), low), whole(name, parts[1].strip(), low)


def boolean(name: str, value: str) -> bool:
    """``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``."""
    lowered = value.lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise InvalidArgument(name, f"must be 1 or true (0 or false to turn it off), got {shown(value)}.")


def choice(name: str, value: str, options: Mapping[str, T]) -> T:
    """One of ``options`` (case-insensitive), mapped to its canonical value."""
    try:
        return options[value.lower()]
    except KeyError:
        allowed = ", ".join(sorted(set(options)))
        raise InvalidArgument(name, f"must be one of {allowed}; got {shown(value)}.") from None


def colour(name: str, value: str) -> Colour:
    """``#rgb``, ``#rrggbb``, with alpha ``#rgba``, ``#rrggbbaa`` (CSS hex; the ``#``
    optional), or a CSS colour name (``transparent`` too). Opaque unless alpha is given."""
    lowered = value.lower()
    hex_value = CSS_COLOURS.get(lowered, lowered)
    match = HEX.match(hex_value)
    if not match:
        raise InvalidArgument(
            name, f"must be #rgb, #rrggbb, #rrggbbaa (with alpha) or a CSS colour name, got {shown(value)}."
        )
    digits = match.group(1)
    if len(digits) <= 4:
        digits = "".join(c * 2 for c in digits)
    if len(digits) == 6:
        digits += "ff"
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16), int(digits[6:8], 16))
