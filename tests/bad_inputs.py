"""A corpus of broken images, made the same way on every run, and the reason each is refused.

Every real test image (``tests/fixtures``) and a small seeded image of each
accepted format is cut short at several lengths and has bits flipped at seeded
places: the damage a truncated upload or a bad disk does. ``reasons()`` renders
each one as the service would and maps its name to the refusal reason (or
``ok``); run as ``python -m tests.bad_inputs`` it prints that map as JSON, so a
test can compare two separate processes.
"""

from __future__ import annotations

import io
import json
import random
import warnings
from collections.abc import Iterator
from pathlib import Path

from core.errors import TachyonError
from core.processing import render
from tests.helpers import LIMITS, noisy_image

FIXTURES = Path(__file__).parent / "fixtures"
#: The real files mutated (the large photos add time, not new decoder paths).
REAL = ("Website.png", "animated.gif", "animated.png", "animated.webp", "hdr.jpg")
GENERATED = ("JPEG", "PNG", "GIF", "WEBP", "AVIF")
CUTS = (8, 16, 24, 33, 64, 200, 0.3, 0.6, 0.95)
FLIPS = 12


def originals() -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each intact original the corpus is made from."""
    for name in REAL:
        yield name, (FIXTURES / name).read_bytes()
    for fmt in GENERATED:
        out = io.BytesIO()
        noisy_image(48, 32, seed=len(fmt)).save(out, fmt)
        yield f"generated.{fmt.lower()}", out.getvalue()


def corpus() -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every damaged file, in a fixed order."""
    for name, data in originals():
        for cut in CUTS:
            end = int(len(data) * cut) if isinstance(cut, float) else cut
            yield f"{name}:cut{cut}", data[:end]
        rng = random.Random(name)
        for flip in range(FLIPS):
            damaged = bytearray(data)
            span = rng.choice((64, 1024, len(data)))  # the header, the first chunks, anywhere
            for _ in range(rng.choice((1, 4, 16))):
                position = rng.randrange(min(span, len(data)))
                damaged[position] ^= 1 << rng.randrange(8)
            yield f"{name}:flip{flip}", bytes(damaged)


def reasons() -> dict[str, str]:
    """name → the refusal reason rendering it gives (``ok`` when it renders)."""
    out: dict[str, str] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about corrupt EXIF; the reason is what counts
        for name, data in corpus():
            try:
                render(data, "w=24", limits=LIMITS)
                out[name] = "ok"
            except TachyonError as error:
                out[name] = error.reason
    return out


if __name__ == "__main__":
    print(json.dumps(reasons(), indent=0, sort_keys=True))
