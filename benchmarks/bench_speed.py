"""Render CPU, bytes and SSIM side by side with sharp (libvips, what Tachyon runs), in one run.

Plain script (no pytest): prints a table and writes ``docs/benchmarks/speed.json``
(``benchmarks/results/speed.json`` with ``--quick``; see ``benchmarks/record.py``).

    (cd benchmarks/sharp && npm ci)                       # sharp, for benchmarks only
    .venv/bin/python benchmarks/bench_speed.py            # every case (a few minutes on 2 cores)
    .venv/bin/python benchmarks/bench_speed.py --quick    # one width per source, one repeat
    .venv/bin/python benchmarks/bench_speed.py --only camera --mode best

Cases: a seeded 24-megapixel photo-like JPEG → 150×150 crop, 300, 768, 1024 and
2048 px as JPEG, WebP and AVIF; the web-sized corpus JPEGs and PNGs; a seeded
12-megapixel graphic PNG and a 4-megapixel photo PNG; the WordPress size set
(``render_many`` against the sum of sharp's six renders).

CPU is one render's process time (single-threaded: ours is one Python thread,
sharp runs with ``VIPS_CONCURRENCY=1``), the median of a few repeats after one
warm-up. Each case runs ours and then sharp before the next case starts, so both
see the same load on a shared machine; the load average is recorded.

Quality is SSIM (luma, 7×7 windows, alpha laid over white) against a float LANCZOS
resize of the full decode to the same box and size:

- ``resize SSIM``: both pipelines writing lossless PNG, so only decode shrinking
  and resampling differ (the bar: ours ≥ sharp's);
- ``SSIM``: the encoded output, where the encoder adds its own loss.

sharp's encoders are driven as Tachyon drives them (``jpeg({quality})``,
``webp({quality})``, ``avif({quality})``); PNG is compared lossless (``png()``),
since ours never quantises a truecolour PNG. Needs numpy and node.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageOps  # noqa: E402

from benchmarks import record  # noqa: E402
from benchmarks.bench_render import _ssim, graphic, photo  # noqa: E402
from core.args import parse_query  # noqa: E402
from core.limits import Limits  # noqa: E402
from core.processing import make_plan, probe, render_many  # noqa: E402
from core.transform import Transform  # noqa: E402
from core.types import OutputFormat  # noqa: E402

CORPUS = ROOT / "tests" / "fixtures"
SHARP = ROOT / "benchmarks" / "sharp"
QUALITY = 82
WIDTHS = (150, 300, 768, 1024, 2048)
SSIM_TIE = 0.0005  # resize SSIMs this close count as equal (the 5th decimal is noise)
DECODE_MS = [0.0]  # the last ``ours`` run's decode step (wall ms, median): the floor of a PNG
MODE = [Limits()]  # the limits ours renders with (``--mode`` sets the quality mode)
#: The WordPress image sizes (thumbnail, medium, medium_large, large, 1536x1536, 2048x2048)
#: as the Tachyon plugin asks for them.
WORDPRESS = ("resize=150,150", "fit=300,300", "w=768", "fit=1024,1024", "fit=1536,1536", "fit=2048,2048")


def sources(folder: Path, quick: bool) -> list[Path]:
    camera = folder / "camera-24mp.jpg"
    photo(6000, 4000, seed=24).save(camera, "JPEG", quality=90)
    found = [camera]
    if not quick:
        png = folder / "graphic-12mp.png"
        graphic(4000, 3000, seed=12).save(png, "PNG")
        photo_png = folder / "photo-4mp.png"
        photo(2400, 1600, seed=7).save(photo_png, "PNG")
        found += [png, photo_png]
    found += [CORPUS / name for name in ("hdr.jpg", "briefing-copywriting.jpg", "humans.png", "Website.png")]
    return found


def cases(path: Path, quick: bool) -> list[tuple[str, str]]:
    """(query, output format) pairs for one source."""
    with Image.open(path) as image:
        width, fmt = image.width, image.format
    own = "jpeg" if fmt == "JPEG" else "png"
    if path.name == "camera-24mp.jpg":
        widths = (300, 1024) if quick else WIDTHS
        formats = (own, "webp", "avif")
    else:
        widths = tuple(w for w in ((300,) if quick else (150, 300, 768)) if w < width)
        formats = (own, "webp")
    return [(query_for(w), f) for w in widths for f in formats]


def query_for(width: int) -> str:
    return "resize=150,150" if width == 150 else f"w={width}"


def sharp_job(path: Path, query: str, fmt: str, out: Path | None, repeats: int) -> dict[str, Any]:
    """The same request as sharp sees it (Tachyon: ``resize`` is ``cover``, ``w`` is ``inside``)."""
    transform = parse_query(query, MODE[0]) or Transform()
    cover = query.startswith("resize=")
    job: dict[str, Any] = {
        "input": str(path), "width": transform.width, "height": transform.height,
        "fit": "cover" if cover else "inside", "format": fmt, "repeats": repeats,
        "options": {} if fmt == "png" else {"quality": QUALITY},
    }  # fmt: skip
    if out is not None:
        job["out"] = str(out)
    return job


def run_sharp(jobs: list[dict[str, Any]], folder: Path) -> list[dict[str, Any]]:
    if not (SHARP / "node_modules" / "sharp").is_dir():
        sys.exit("sharp is not installed: run (cd benchmarks/sharp && npm ci)")
    listing = folder / "jobs.json"
    listing.write_text(json.dumps(jobs))
    command = ["node", str(SHARP / "render.mjs"), str(listing)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    answers: list[dict[str, Any]] = json.loads(done.stdout)
    return answers


def ours(source: bytes, queries: list[str], fmt: OutputFormat, repeats: int) -> tuple[float, list[bytes]]:
    """Median CPU ms of ``render_many`` over ``repeats`` (after one warm-up), and its outputs."""
    jobs = [(parse_query(q, MODE[0]) or Transform(), fmt) for q in queries]
    data = [r.data for r in render_many(source, jobs, MODE[0])]
    cpu, decode = [], []
    for _ in range(repeats):
        start = time.process_time()
        results = render_many(source, jobs, MODE[0])
        cpu.append((time.process_time() - start) * 1000)
        data = [r.data for r in results]
        decode.append(dict(results[0].timings).get("decode", 0.0))
    DECODE_MS[0] = statistics.median(decode) if decode else 0.0
    return (statistics.median(cpu) if cpu else 0.0), data


def over_white(image: Image.Image) -> Image.Image:
    """RGB as a page shows it: any alpha laid over white (transparent pixels' hidden colours don't count)."""
    rgba = image.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")


class Reference:
    """Float LANCZOS luma of the upright full decode, per (box, size); the full decode is kept."""

    def __init__(self, source: bytes) -> None:
        import numpy as np

        self.source = source
        full = over_white(ImageOps.exif_transpose(Image.open(io.BytesIO(source))))
        self.bands = [full.getchannel(i).convert("F") for i in range(3)]
        self.np = np

    def ssim(self, query: str, data: bytes) -> float | None:
        np = self.np
        transform = parse_query(query, MODE[0]) or Transform()
        plan = make_plan(probe(self.source, MODE[0]), transform, MODE[0])
        bands = [np.asarray(b.resize(plan.size, Image.Resampling.LANCZOS, box=plan.box)) for b in self.bands]
        reference = (0.299 * bands[0] + 0.587 * bands[1] + 0.114 * bands[2]).astype(np.float64)
        rgb = np.asarray(over_white(Image.open(io.BytesIO(data))), dtype=np.float64)
        luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
        return round(_ssim(luma, reference), 5) if luma.shape == reference.shape else None


def measure(
    path: Path, query: str, fmt: OutputFormat, ref: Reference, *, folder: Path, repeats: int
) -> dict[str, Any]:
    source = path.read_bytes()
    our_cpu, (our_data,) = ours(source, [query], fmt, repeats)
    decode_ms = DECODE_MS[0]
    encoded, lossless = folder / f"sharp.{fmt}", folder / "sharp-lossless.png"
    timing, plain = run_sharp(
        [sharp_job(path, query, fmt, encoded, repeats), sharp_job(path, query, "png", lossless, 0)], folder
    )
    _cpu, (our_png,) = ours(source, [query], "png", 0)
    row: dict[str, Any] = {
        "source": path.name, "query": query, "format": fmt,
        "size": "x".join(map(str, Image.open(io.BytesIO(our_data)).size)),
        "ours": {"cpu_ms": round(our_cpu, 1), "decode_ms": round(decode_ms, 1), "bytes": len(our_data),
                 "ssim": ref.ssim(query, our_data), "resize_ssim": ref.ssim(query, our_png)},
        "sharp": {"cpu_ms": round(timing["cpu_ms"], 1), "bytes": timing["bytes"],
                  "ssim": ref.ssim(query, encoded.read_bytes()),
                  "resize_ssim": ref.ssim(query, lossless.read_bytes())},
    }  # fmt: skip
    assert plain["width"], plain
    return ratios(row)


def wordpress(path: Path, ref: Reference, folder: Path, repeats: int) -> dict[str, Any]:
    """The six WordPress sizes: ours in one ``render_many``, sharp as six renders (summed)."""
    source = path.read_bytes()
    our_cpu, our_data = ours(source, list(WORDPRESS), "jpeg", repeats)
    outs = [folder / f"wp-{i}.jpg" for i in range(len(WORDPRESS))]
    jobs = [sharp_job(path, q, "jpeg", o, repeats) for q, o in zip(WORDPRESS, outs, strict=True)]
    answers = run_sharp(jobs, folder)
    sizes = []
    for query, data, out, answer in zip(WORDPRESS, our_data, outs, answers, strict=True):
        sizes.append({"query": query, "size": "x".join(map(str, Image.open(io.BytesIO(data)).size)),
                      "ours_bytes": len(data), "ours_ssim": ref.ssim(query, data),
                      "sharp_cpu_ms": round(answer["cpu_ms"], 1), "sharp_bytes": answer["bytes"],
                      "sharp_ssim": ref.ssim(query, out.read_bytes())})  # fmt: skip
    sharp_sum = sum(answer["cpu_ms"] for answer in answers)
    return {
        "source": path.name, "ours_cpu_ms": round(our_cpu, 1), "sharp_sum_cpu_ms": round(sharp_sum, 1),
        "cpu_ratio": round(our_cpu / sharp_sum, 3),
        "bytes_ratio": round(sum(s["ours_bytes"] for s in sizes) / sum(s["sharp_bytes"] for s in sizes), 3),
        "sizes": sizes,
    }  # fmt: skip


def ratios(row: dict[str, Any]) -> dict[str, Any]:
    o, s = row["ours"], row["sharp"]
    row["cpu_ratio"] = round(o["cpu_ms"] / max(s["cpu_ms"], 0.01), 3)
    row["bytes_ratio"] = round(o["bytes"] / max(s["bytes"], 1), 3)
    ours_q, sharp_q = o["resize_ssim"], s["resize_ssim"]
    resize_ok = ours_q is None or sharp_q is None or ours_q >= sharp_q - SSIM_TIE
    row["met"] = row["cpu_ratio"] <= 1.0 and row["bytes_ratio"] <= 1.05 and resize_ok
    return row


HEADER = (
    f"{'source':24} {'args':15} {'fmt':5} {'size':>10} {'ours ms':>8} {'sharp ms':>8} {'CPU×':>6} "
    f"{'bytes×':>6} {'SSIM ours':>9} {'sharp':>7} {'resize ours':>11} {'sharp':>7}  bar"
)


def print_row(row: dict[str, Any]) -> None:
    o, s = row["ours"], row["sharp"]

    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.4f}"

    print(
        f"{row['source'][:24]:24} {row['query']:15} {row['format']:5} {row['size']:>10} {o['cpu_ms']:8.1f} "
        f"{s['cpu_ms']:8.1f} {row['cpu_ratio']:6.2f} {row['bytes_ratio']:6.2f} {f(o['ssim']):>9} "
        f"{f(s['ssim']):>7} {f(o['resize_ssim']):>11} {f(s['resize_ssim']):>7}  "
        f"{'ok' if row['met'] else 'MISS'}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer cases, one repeat (not committed)")
    parser.add_argument("--only", help="sources whose name contains this")
    parser.add_argument("--mode", choices=("fast", "best"), default="fast", help="quality_mode of ours")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    MODE[0] = Limits(quality_mode=args.mode)
    repeats = 1 if args.quick else args.repeats
    rows: list[dict[str, Any]] = []
    wp: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(HEADER)
        for path in sources(folder, args.quick):
            if args.only and args.only not in path.name:
                continue
            ref = Reference(path.read_bytes())
            for query, fmt in cases(path, args.quick):
                rows.append(measure(path, query, fmt, ref, folder=folder, repeats=repeats))  # type: ignore[arg-type]
                print_row(rows[-1])
            if path.name == "camera-24mp.jpg":
                wp = wordpress(path, ref, folder, repeats)
                print(f"WordPress set: ours {wp['ours_cpu_ms']} ms, sharp's sum {wp['sharp_sum_cpu_ms']} ms, "
                      f"ratio {wp['cpu_ratio']}, bytes {wp['bytes_ratio']}")  # fmt: skip
    missed = [f"{r['source']} {r['query']} {r['format']}" for r in rows if not r["met"]]
    print(f"\n{len(rows) - len(missed)}/{len(rows)} cases at the bar; missed: {missed}")
    meta = {"pillow": Image.__version__, "mode": args.mode, "repeats": repeats, "quality": QUALITY,
            "note": "CPU ms: median process time of one render, single-threaded, ours and sharp interleaved "
                    "per case on a machine shared with other work (see load_average)."}  # fmt: skip
    name = "speed" if args.mode == "fast" and not args.only else f"speed-{args.mode}"
    record.write(name, {"meta": meta, "missed": missed, "wordpress": wp, "rows": rows}, quick=args.quick)


if __name__ == "__main__":
    main()
