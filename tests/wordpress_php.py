"""WordPress's size arithmetic, ported line by line from PHP for the property tests.

An independent port (floats and PHP's ``round`` as the PHP engine computes them),
kept apart from the product's exact integer arithmetic in ``core.processing.plan``:
the tests compare the two. Sources: ``wp_constrain_dimensions`` and
``image_resize_dimensions`` in wp-includes/media.php (WordPress 6.x), and
``_php_math_round`` in PHP's ext/standard/math.c.

PHP's ``round`` changed in PHP 8.4: up to 8.3 it "pre-rounds" the value to 15
significant digits first (so a product that lands at 168.49999999999997 rounds
to 169, as the exact 168.5 would); from 8.4 it compares the float itself with the
half (168). ``php`` selects the engine: ``"8.3"`` or ``"8.4"``.
"""

from __future__ import annotations

import math
from typing import Literal

Php = Literal["8.3", "8.4"]


def _round_helper(value: float) -> float:
    """PHP_ROUND_HALF_UP on a non-negative value (``php_round_helper``)."""
    return math.floor(value + 0.5) if value >= 0.0 else math.ceil(value - 0.5)


def php_round(value: float, php: Php) -> float:
    """PHP's ``round($value)`` (no precision argument, PHP_ROUND_HALF_UP)."""
    if not math.isfinite(value) or value == 0.0:
        return value
    if php == "8.4":  # no pre-rounding: the float is compared with integral + 0.5 exactly
        integral = math.floor(abs(value))
        result = integral + 1.0 if abs(value) >= integral + 0.5 else float(integral)
        return math.copysign(result, value)
    places = 0
    precision_places = 14 - math.floor(math.log10(abs(value)))  # php_intlog10abs
    if places < precision_places < places + 15:
        f2 = 10.0 ** abs(precision_places)
        tmp = value * f2 if precision_places >= 0 else value / f2
        tmp = _round_helper(tmp)  # pre-round to the precision a double guarantees
        tmp = tmp / 10.0 ** abs(places - precision_places)
    else:
        tmp = value
        if abs(tmp) >= 1e15:
            return value
    return _round_helper(tmp)


def php_int_round(value: float, php: Php) -> int:
    """``(int) round($value)``."""
    return int(php_round(value, php))


def wp_constrain_dimensions(cw: int, ch: int, mw: int, mh: int, php: Php) -> tuple[int, int]:
    """``wp_constrain_dimensions( $current_width, $current_height, $max_width, $max_height )``."""
    if not mw and not mh:
        return cw, ch
    width_ratio = height_ratio = 1.0
    did_width = did_height = False
    if mw > 0 and cw > 0 and cw > mw:
        width_ratio = mw / cw
        did_width = True
    if mh > 0 and ch > 0 and ch > mh:
        height_ratio = mh / ch
        did_height = True
    smaller_ratio = min(width_ratio, height_ratio)
    larger_ratio = max(width_ratio, height_ratio)
    if php_int_round(cw * larger_ratio, php) > mw or php_int_round(ch * larger_ratio, php) > mh:
        ratio = smaller_ratio  # the larger ratio is too big: it would overflow
    else:
        ratio = larger_ratio  # the larger ratio fits, and is likely a more "snug" fit
    w = max(1, php_int_round(cw * ratio, php))
    h = max(1, php_int_round(ch * ratio, php))
    if did_width and w == mw - 1:
        w = mw  # round it up
    if did_height and h == mh - 1:
        h = mh
    return w, h


def image_resize_dimensions(
    ow: int, oh: int, dw: int, dh: int, crop: bool, php: Php, *, identical_check: bool = True
) -> tuple[int, int] | None:
    """``image_resize_dimensions()``: the new size (``dst_w``, ``dst_h``), or None for false.

    ``identical_check=False`` leaves out the last rule (a result within 1 px of the
    original on both sides is "identical": WordPress then makes no sub-size file).
    """
    if ow <= 0 or oh <= 0 or (dw <= 0 and dh <= 0):
        return None
    if not dh:
        if ow < dw:
            return None
    elif not dw:
        if oh < dh:
            return None
    elif ow < dw and oh < dh:
        return None
    if crop:
        aspect_ratio = ow / oh
        new_w = min(dw, ow)
        new_h = min(dh, oh)
        if not new_w:
            new_w = php_int_round(new_h * aspect_ratio, php)
        if not new_h:
            new_h = php_int_round(new_w / aspect_ratio, php)
    else:
        new_w, new_h = wp_constrain_dimensions(ow, oh, dw, dh, php)
    if identical_check and abs(new_w - ow) <= 1 and abs(new_h - oh) <= 1:  # wp_fuzzy_number_match
        return None
    return int(new_w), int(new_h)
