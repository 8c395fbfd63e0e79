"""PNG: what decoding costs (the floor of a PNG render) and what each zlib setting costs to encode.

Plain script (no pytest): prints two tables and writes ``docs/benchmarks/png.json``
(``benchmarks/results/png.json`` with ``--quick``; see ``benchmarks/record.py``).

    .venv/bin/python benchmarks/bench_png.py
    .venv/bin/python benchmarks/bench_png.py --candidates DIR   # + decoders in DIR (pip install --target)

Sources: a seeded 12-megapixel graphic (flat shapes, strokes, a photo panel),
a seeded 4-megapixel photo, and ``humans.png`` from the corpus.

- Decode, CPU ms (best of 3): Pillow's ``open`` + ``load``; zlib's inflate of the
  IDAT data alone (what no PNG decoder using zlib can go below); and, when
  ``--candidates`` holds them, pyspng's ``load`` and the same followed by
  ``Image.fromarray`` (what our pipeline would need).
- Encode: each source resized to 300 and 768 px wide, written with zlib level 6
  (Pillow's default), level 7 (``quality_mode = "best"``), the run-length strategy
  Z_RLE at level 6 (``fast``) and level 9: bytes and CPU ms.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from benchmarks import record  # noqa: E402
from benchmarks.bench_render import graphic, photo  # noqa: E402

SETTINGS: dict[str, dict[str, int]] = {
    "level 6": {"compress_level": 6},
    "level 7 (best)": {"compress_level": 7},
    "Z_RLE (fast)": {"compress_level": 6, "compress_type": 3},
    "level 9": {"compress_level": 9},
}


def best_ms(call: Callable[[], object], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.process_time()
        call()
        times.append((time.process_time() - start) * 1000)
    return round(min(times), 1)


def idat(data: bytes) -> bytes:
    """The concatenated IDAT payloads of a PNG."""
    out, at = [], 8
    while at < len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        if data[at + 4 : at + 8] == b"IDAT":
            out.append(data[at + 8 : at + 8 + length])
        at += 12 + length
    return b"".join(out)


def sources(quick: bool) -> dict[str, bytes]:
    made: dict[str, Image.Image] = {"photo-4mp.png": photo(2400, 1600, seed=7)}
    if not quick:
        made["graphic-12mp.png"] = graphic(4000, 3000, seed=12)
    found = {}
    for name, image in made.items():
        out = io.BytesIO()
        image.save(out, "PNG")
        found[name] = out.getvalue()
    found["humans.png"] = (ROOT / "tests" / "fixtures" / "humans.png").read_bytes()
    return found


def decoders(data: bytes) -> dict[str, float]:
    row = {
        "pillow": best_ms(lambda: Image.open(io.BytesIO(data)).load()),
        "zlib inflate alone": best_ms(lambda: zlib.decompress(idat(data))),
    }
    try:
        import numpy  # noqa: F401
        import pyspng  # type: ignore[import-not-found]
    except ImportError:
        return row
    row["pyspng"] = best_ms(lambda: pyspng.load(data))
    row["pyspng + fromarray"] = best_ms(lambda: Image.fromarray(pyspng.load(data)))
    return row


def encoders(data: bytes) -> list[dict[str, Any]]:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    rows = []
    for width in (300, 768):
        small = image.resize((width, round(width * image.height / image.width)), Image.Resampling.LANCZOS)
        for name, options in SETTINGS.items():
            out = io.BytesIO()
            small.save(out, "PNG", **options)
            ms = best_ms(lambda small=small, options=options: small.save(io.BytesIO(), "PNG", **options))
            rows.append({"width": width, "setting": name, "bytes": len(out.getvalue()), "cpu_ms": ms})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small sources only (not committed)")
    parser.add_argument("--candidates", type=Path, help="a folder of decoders installed with pip --target")
    args = parser.parse_args()
    if args.candidates:
        sys.path.insert(0, str(args.candidates))
    results: dict[str, Any] = {"decode": {}, "encode": {}}
    for name, data in sources(args.quick).items():
        results["decode"][name] = decoders(data)
        results["encode"][name] = encoders(data)
        print(name, "decode CPU ms:", results["decode"][name])
        for row in results["encode"][name]:
            print(f"  {row['width']:>4} px  {row['setting']:15} {row['bytes']:>9} B {row['cpu_ms']:>7} ms")
    meta = {"note": "CPU ms: best of 3 process-time runs; machine shared with other work (see load_average)",
            "pillow": Image.__version__}  # type: ignore[attr-defined]  # fmt: skip
    record.write("png", {"meta": meta, **results}, quick=args.quick)


if __name__ == "__main__":
    main()
