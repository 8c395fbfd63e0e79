"""Output bytes of still images against sharp (what Tachyon runs), at the quality each reaches.

Plain script (no pytest): prints a table and writes ``docs/benchmarks/bytes.json``
(``benchmarks/results/bytes.json`` with ``--quick``; see ``benchmarks/record.py``).

    (cd benchmarks/sharp && npm install)                  # sharp, for this benchmark only
    .venv/bin/python benchmarks/bench_bytes.py            # every case (about a minute)
    .venv/bin/python benchmarks/bench_bytes.py --quick    # the corpus only

Sources: the corpus photos (JPEG), graphics (a palette PNG with partial
transparency, a logo sheet with alpha, a truecolour illustration) and generated
ones (a 12-megapixel photo, a UI screenshot saved as truecolour, a palette
screenshot). Each at its own size and at ``w=300`` and ``w=768``, in its own
format and as WebP, quality 82.

- ours: ``core.processing.render`` with the same query;
- sharp: ``benchmarks/sharp/render.mjs``: resize ``inside``, never enlarged, the ICC
  profile kept (the metadata our default keeps), Tachyon's encoder options:
  ``jpeg({quality})``, ``webp({quality})``, ``png({palette: true})`` (lossy
  quantisation by libimagequant), and ``png()`` lossless beside it.

Quality: SSIM (luma, 7×7 windows, alpha laid over white) of each output against a
float LANCZOS resize of the upright original to the output's size. The ratio
column is ours ÷ sharp; the target is ≤ 1.05 where our SSIM is equal or better.
Needs numpy (``pip install -e '.[bench]'``) and node.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw, ImageOps  # noqa: E402

from benchmarks import record  # noqa: E402
from core.processing import render  # noqa: E402

CORPUS = ROOT / "tests" / "fixtures"
SHARP = ROOT / "benchmarks" / "sharp"
QUALITY = 82
WIDTHS = (None, 300, 768)


def photo(width: int, height: int, seed: int) -> Image.Image:
    rnd = random.Random(seed)
    ramps = [Image.linear_gradient("L").rotate(90 * i).resize((width, height)) for i in range(3)]
    base = Image.merge("RGB", ramps)
    blobs = Image.frombytes("RGB", (32, 24), rnd.randbytes(32 * 24 * 3))
    blobs = blobs.resize((width, height), Image.Resampling.BICUBIC)
    grain = Image.effect_noise((width, height), 24).convert("RGB")
    return Image.blend(Image.blend(base, blobs, 0.5), grain, 0.12)


def screenshot(width: int, height: int, seed: int) -> Image.Image:
    """A UI screenshot: flat panels, buttons and text-like bars in a few dozen colours."""
    rnd = random.Random(seed)
    image = Image.new("RGB", (width, height), (246, 247, 249))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, 56), fill=(32, 44, 64))
    for _ in range(60):
        x, y = rnd.randrange(width), rnd.randrange(60, height)
        colour = rnd.choice([(255, 255, 255), (220, 224, 230), (0, 115, 230), (40, 40, 40), (230, 80, 60)])
        box = (x, y, x + rnd.randint(40, 300), y + rnd.randint(8, 90))
        draw.rounded_rectangle(box, radius=6, fill=colour)
    for row in range(80, height, 22):
        draw.line((40, row, 40 + rnd.randint(100, width - 80), row), fill=(90, 90, 100), width=3)
    return image


def sources(folder: Path, quick: bool) -> list[tuple[str, Path]]:
    found = [
        ("hdr.jpg", CORPUS / "hdr.jpg"),
        ("briefing-copywriting.jpg", CORPUS / "briefing-copywriting.jpg"),
        ("Website.png (palette, partial alpha)", CORPUS / "Website.png"),
        ("icons.png (RGBA)", CORPUS / "icons.png"),
        ("humans.png (RGB)", CORPUS / "humans.png"),
    ]
    if quick:
        return found
    generated = {
        "photo-12mp.jpg": (photo(4240, 2832, 3), "JPEG", {"quality": 90}),
        "screenshot-rgb.png (truecolour, few colours)": (screenshot(1440, 900, 4), "PNG", {}),
        "screenshot-palette.png": (screenshot(1440, 900, 5).quantize(64), "PNG", {"optimize": True}),
    }
    for name, (image, fmt, options) in generated.items():
        path = folder / name.split(" ")[0]
        image.save(path, fmt, **options)
        found.append((name, path))
    return found


def cases(name: str, path: Path) -> list[tuple[int | None, str]]:
    width = Image.open(path).width
    own = "jpeg" if path.suffix == ".jpg" else "png"
    return [(w, fmt) for w in WIDTHS if w is None or w < width for fmt in (own, "webp")]


def sharp_jobs(path: Path, width: int | None, fmt: str, folder: Path, index: int) -> list[dict[str, Any]]:
    base = {"input": str(path), "width": width, "format": fmt}
    if fmt == "png":
        out = str(folder / f"{index}-palette.png")
        palette = {"options": {"palette": True}, "out": out, "label": "sharp"}
        lossless = {"options": {}, "out": str(folder / f"{index}-lossless.png"), "label": "sharp lossless"}
        return [{**base, **palette}, {**base, **lossless}]
    lossy = {"options": {"quality": QUALITY}, "out": str(folder / f"{index}.{fmt}"), "label": "sharp"}
    return [{**base, **lossy}]


def run_sharp(jobs: list[dict[str, Any]], folder: Path) -> list[dict[str, Any]]:
    if not (SHARP / "node_modules" / "sharp").is_dir():
        sys.exit("sharp is not installed: run (cd benchmarks/sharp && npm install)")
    listing = folder / "jobs.json"
    listing.write_text(json.dumps(jobs))
    command = ["node", str(SHARP / "render.mjs"), str(listing)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    answers: list[dict[str, Any]] = json.loads(done.stdout)
    return answers


def luma_over_white(image: Image.Image) -> Any:
    import numpy as np

    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.float64)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def reference(path: Path, size: tuple[int, int]) -> Any:
    import numpy as np

    full = ImageOps.exif_transpose(Image.open(path)).convert("RGBA")
    white = Image.new("RGBA", full.size, (255, 255, 255, 255))
    flat = Image.alpha_composite(white, full).convert("RGB")
    bands = [
        np.asarray(flat.getchannel(i).convert("F").resize(size, Image.Resampling.LANCZOS), dtype=np.float64)
        for i in range(3)
    ]
    return 0.299 * bands[0] + 0.587 * bands[1] + 0.114 * bands[2]


def ssim(a: Any, b: Any, window: int = 7) -> float:
    import numpy as np

    def box(x: Any) -> Any:
        c = np.cumsum(np.cumsum(np.pad(x, ((1, 0), (1, 0))), 0), 1)
        total = c[window:, window:] - c[:-window, window:] - c[window:, :-window] + c[:-window, :-window]
        return total / window**2

    if min(a.shape) < window:
        return float("nan")
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ma, mb = box(a), box(b)
    va, vb, cov = box(a * a) - ma**2, box(b * b) - mb**2, box(a * b) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
    return float(s.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the corpus only")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plan: list[tuple[str, Path, int | None, str]] = []
        jobs: list[dict[str, Any]] = []
        for name, path in sources(folder, args.quick):
            for width, fmt in cases(name, path):
                plan.append((name, path, width, fmt))
                jobs += sharp_jobs(path, width, fmt, folder, len(plan))
        answers = iter(zip(jobs, run_sharp(jobs, folder), strict=True))
        for name, path, width, fmt in plan:
            query = (f"w={width}&" if width else "") + f"format={fmt}&quality={QUALITY}"
            ours = render(path.read_bytes(), query)
            out = Image.open(io.BytesIO(ours.data))
            ref = reference(path, out.size)
            row: dict[str, Any] = {
                "source": name, "width": width or "full", "format": fmt, "size": f"{out.width}x{out.height}",
                "ours_bytes": len(ours.data), "ours_ssim": round(ssim(luma_over_white(out), ref), 4),
            }  # fmt: skip
            for _ in range(2 if fmt == "png" else 1):
                job, answer = next(answers)
                theirs = Image.open(job["out"])
                key = job["label"].replace(" ", "_")
                row[f"{key}_bytes"] = answer["bytes"]
                row[f"{key}_ssim"] = round(ssim(luma_over_white(theirs), reference(path, theirs.size)), 4)
            row["ratio"] = round(row["ours_bytes"] / row["sharp_bytes"], 3)
            rows.append(row)
    header = f"{'source':<46}{'w':>5} {'fmt':<5}{'ours B':>9}{'SSIM':>7}{'sharp B':>9}{'SSIM':>7}{'ratio':>7}"
    print(header + f"{'lossless B':>11}{'SSIM':>7}")
    for r in rows:
        line = (
            f"{r['source'][:45]:<46}{r['width']!s:>5} {r['format']:<5}"
            f"{r['ours_bytes']:>9}{r['ours_ssim']:>7.4f}{r['sharp_bytes']:>9}{r['sharp_ssim']:>7.4f}{r['ratio']:>7.2f}"
        )
        if "sharp_lossless_bytes" in r:
            line += f"{r['sharp_lossless_bytes']:>11}{r['sharp_lossless_ssim']:>7.4f}"
        print(line)
    record.write("bytes", {"quality": QUALITY, "rows": rows}, quick=args.quick)


if __name__ == "__main__":
    main()
