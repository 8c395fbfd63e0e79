"""Readers of single argument values: whole numbers, booleans, choices, colours.

Each raises ``InvalidArgument`` naming the argument, with a reason a site
owner can act on; nothing else leaves them for any string.
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
NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_PIXELS = re.compile(r"^(\d+)(?:px)?$")
_HEX = re.compile(r"^#?([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$")


def whole(name: str, value: str, low: int = 1, high: int | None = None) -> int:
    """A whole number (an optional ``px`` suffix is allowed) from ``low`` to ``high``."""
    match = _PIXELS.match(value.lower())
    number = int(match.group(1)) if match else None
    if number is None or number < low or (high is not None and number > high):
        allowed = f"a whole number from {low} to {high}" if high else f"a whole number ≥ {low}"
        raise InvalidArgument(name, f"must be {allowed}, got {value!r}.")
    return number


def pair(name: str, value: str, low: int = 1) -> tuple[int, int]:
    """Two sizes in pixels, ``W,H``, each at least ``low``."""
    parts = value.split(",")
    if len(parts) != 2:
        raise InvalidArgument(name, f"must be two sizes in pixels, 'W,H' (e.g. 300,200), got {value!r}.")
    return whole(name, parts[0].strip(), low), whole(name, parts[1].strip(), low)


def boolean(name: str, value: str) -> bool:
    """``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``."""
    lowered = value.lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise InvalidArgument(name, f"must be 1 or true (0 or false to turn it off), got {value!r}.")


def choice(name: str, value: str, options: Mapping[str, T]) -> T:
    """One of ``options`` (case-insensitive), mapped to its canonical value."""
    try:
        return options[value.lower()]
    except KeyError:
        allowed = ", ".join(sorted(set(options)))
        raise InvalidArgument(name, f"must be one of {allowed}; got {value!r}.") from None


def colour(name: str, value: str) -> Colour:
    """``#rgb``, ``#rrggbb``, with alpha ``#rgba``, ``#rrggbbaa`` (CSS hex; the ``#``
    optional), or a CSS colour name (``transparent`` too). Opaque unless alpha is given."""
    lowered = value.lower()
    hex_value = CSS_COLOURS.get(lowered, lowered)
    match = _HEX.match(hex_value)
    if not match:
        raise InvalidArgument(
            name, f"must be #rgb, #rrggbb, #rrggbbaa (with alpha) or a CSS colour name, got {value!r}."
        )
    digits = match.group(1)
    if len(digits) <= 4:
        digits = "".join(c * 2 for c in digits)
    if len(digits) == 6:
        digits += "ff"
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16), int(digits[6:8], 16))
