"""Benchmark of the render core against a naive Pillow path, measured in the same run.

Plain script (no pytest): prints a table and writes ``docs/benchmarks/render.json``
(``benchmarks/results/render.json`` with ``--quick``; see ``benchmarks/record.py``).

    .venv/bin/python benchmarks/bench_render.py            # full run (several minutes on 2 cores)
    .venv/bin/python benchmarks/bench_render.py --quick    # CI smoke: the three target cases, fewer repeats

For every source (a seeded 24-megapixel photo-like JPEG, a seeded 12-megapixel
graphic-like PNG, the corpus images), every width (150 as a 150×150 crop, 300,
768, 1024, 2048) and every output (the source's format, WebP, AVIF):

- ours: ``core.processing.render_transform`` (DCT-scaled decode, reduce, LANCZOS, tuned encoders);
- naive: ``Image.open``, ``load``, ``resize(LANCZOS)`` to the same box and size, ``save``.

Reported: median CPU ms (``time.process_time``, so other load on the machine
matters less), renders/s (from the median wall time), peak RSS of one render in
a fresh subprocess, output bytes, and SSIM (luma, 7×7 windows) of each output
against a float LANCZOS reference computed from the full-size decode (opaque,
still sources only). Needs numpy (only here, not in the product).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import resource
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

from PIL import Image, ImageDraw, ImageOps  # noqa: E402

from benchmarks import record  # noqa: E402
from core.args import parse_query  # noqa: E402
from core.formats import output_format  # noqa: E402
from core.limits import DEFAULT_LIMITS as LIMITS  # noqa: E402
from core.processing import make_plan, probe, render_transform  # noqa: E402
from core.transform import Transform  # noqa: E402

CORPUS = ROOT / "tests" / "fixtures"
WIDTHS = (150, 300, 768, 1024, 2048)
QUALITY = 82
TARGETS = {  # (source, query, output) → ceiling of ours/naive CPU ratio, from the issue
    ("camera-24mp.jpg", "w=300", "jpeg"): 0.13,
    ("camera-24mp.jpg", "w=2048", "jpeg"): 0.28,
    ("graphic-12mp.png", "w=300", "png"): 0.40,
}
RSS_TARGET_MB = 40.0  # 24 MP JPEG → 300 px JPEG


# ---------------------------------------------------------------- seeded sources


def photo(width: int, height: int, seed: int) -> Image.Image:
    """Photo-like pixels: broad gradients, soft blobs, mid texture and fine grain."""
    rnd = random.Random(seed)

    def noise(w: int, h: int) -> Image.Image:
        return Image.frombytes("RGB", (w, h), rnd.randbytes(w * h * 3))

    smooth = Image.Resampling.BICUBIC
    grad = Image.merge(
        "RGB", [Image.linear_gradient("L").rotate(90 * i).resize((width, height)) for i in range(3)]
    )
    blobs = noise(max(2, width // 256), max(2, height // 256)).resize((width, height), smooth)
    texture = noise(width // 8, height // 8).resize((width, height), smooth)
    image = Image.blend(Image.blend(grad, blobs, 0.5), texture, 0.25)
    return Image.blend(image, noise(width, height), 0.04)


def graphic(width: int, height: int, seed: int) -> Image.Image:
    """Screenshot/illustration-like pixels (what PNG originals usually are): flat shapes,
    gradients, thin strokes like text, and one photo panel."""
    rnd = random.Random(seed)
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(400):
        x, y = rnd.randrange(width), rnd.randrange(height)
        w, h = rnd.randrange(20, width // 4), rnd.randrange(20, height // 4)
        colour = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
        (draw.rectangle if rnd.random() < 0.6 else draw.ellipse)((x, y, x + w, y + h), fill=colour)
    for _ in range(3000):  # text-like strokes
        x, y = rnd.randrange(width), rnd.randrange(height)
        draw.line((x, y, x + rnd.randrange(5, 60), y), fill=(20, 20, 20), width=rnd.choice((2, 3)))
    image.paste(photo(width // 3, height // 3, seed), (width // 2, height // 2))
    return image


def sources(quick: bool, folder: Path) -> list[Path]:
    made = []
    camera = folder / "camera-24mp.jpg"
    photo(6000, 4000, seed=24).save(camera, "JPEG", quality=90)
    made.append(camera)
    png = folder / "graphic-12mp.png"
    graphic(4000, 3000, seed=12).save(png, "PNG")
    made.append(png)
    corpus = sorted(CORPUS.glob("*.*"))
    corpus = [p for p in corpus if p.suffix.lower() in (".jpg", ".png", ".gif", ".webp")]
    return made + (corpus[:1] if quick else corpus)


# ---------------------------------------------------------------- the two paths


def query_for(width: int) -> str:
    return "resize=150,150" if width == 150 else f"w={width}"


def ours(source: bytes, transform: Transform, fmt: str) -> tuple[bytes, tuple[int, int]]:
    result = render_transform(source, transform, fmt, LIMITS)  # type: ignore[arg-type]
    return result.data, (result.width, result.height)


def naive(source: bytes, transform: Transform, fmt: str) -> tuple[bytes, tuple[int, int]]:
    """What a simple script does: full decode, one LANCZOS resize (same box), default save."""
    image = Image.open(io.BytesIO(source))
    image.load()
    image = ImageOps.exif_transpose(image)
    plan = make_plan(probe(source, LIMITS), transform, LIMITS)
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if "transparency" in image.info or "A" in image.mode else "RGB")
    image = image.resize(plan.size, Image.Resampling.LANCZOS, box=plan.box)
    if fmt == "jpeg" and image.mode != "RGB":
        image = image.convert("RGB")
    out = io.BytesIO()
    options: dict[str, Any] = {} if fmt in ("png", "gif") else {"quality": QUALITY}
    image.save(out, fmt.upper(), **options)
    return out.getvalue(), image.size


PATHS = {"ours": ours, "naive": naive}


# ---------------------------------------------------------------- measuring


def timed(path: str, source: bytes, transform: Transform, fmt: str, repeats: int) -> dict[str, Any]:
    cpu, wall = [], []
    data, size = b"", (0, 0)
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        data, size = PATHS[path](source, transform, fmt)
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - w) * 1000)
    median_wall = statistics.median(wall)
    return {
        "cpu_ms": round(statistics.median(cpu), 2),
        "renders_per_s": round(1000 / median_wall, 2) if median_wall else None,
        "bytes": len(data),
        "size": list(size),
        "_data": data,
    }


def peak_rss_mb(path: str, file: Path, query: str, fmt: str) -> float:
    """Peak RSS of one render in a fresh interpreter (includes Python and Pillow themselves)."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", path, str(file), query, fmt],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    return round(float(done.stdout.strip().splitlines()[-1]), 1)


def child(path: str, file: str, query: str, fmt: str) -> None:
    source = Path(file).read_bytes()
    PATHS[path](source, parse_query(query, LIMITS) or Transform(), fmt)
    print(peak_of_this_process_mb())


def peak_of_this_process_mb() -> float:
    """VmHWM: the peak RSS of this process image. ``ru_maxrss`` would not do, since on
    Linux it carries the parent's high-water mark across fork and exec."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ssim_scores(source: bytes, transform: Transform, outputs: dict[str, bytes]) -> dict[str, float | None]:
    """SSIM of each output against a float LANCZOS reference of the same box and size."""
    import numpy as np

    full = Image.open(io.BytesIO(source))
    if getattr(full, "n_frames", 1) > 1 or "A" in full.mode or "transparency" in full.info:
        return dict.fromkeys(outputs)
    full = ImageOps.exif_transpose(full).convert("RGB")
    plan = make_plan(probe(source, LIMITS), transform, LIMITS)
    bands = [
        np.asarray(full.getchannel(i).convert("F").resize(plan.size, Image.Resampling.LANCZOS, box=plan.box))
        for i in range(3)
    ]
    reference = 0.299 * bands[0] + 0.587 * bands[1] + 0.114 * bands[2]
    scores: dict[str, float | None] = {}
    for name, data in outputs.items():
        rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64)
        luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
        scores[name] = round(_ssim(luma, reference.astype(np.float64)), 5) if luma.shape == reference.shape \
            else None  # fmt: skip
    return scores


def _ssim(a: Any, b: Any, window: int = 7) -> float:
    """Mean SSIM over 7×7 windows (box-weighted), computed with per-axis running sums
    on centred data so large images keep full float64 precision."""
    import numpy as np

    def box(x: Any, axis: int) -> Any:
        c = np.cumsum(x, axis=axis, dtype=np.float64)
        c = np.insert(c, 0, 0.0, axis=axis)
        hi = np.take(c, range(window, c.shape[axis]), axis=axis)
        lo = np.take(c, range(c.shape[axis] - window), axis=axis)
        return (hi - lo) / window

    def mean(x: Any) -> Any:
        return box(box(x, 0), 1)

    if min(a.shape) < window:
        return float("nan")
    a, b = a - 128.0, b - 128.0
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ma, mb = mean(a), mean(b)
    va, vb, cov = mean(a * a) - ma * ma, mean(b * b) - mb * mb, mean(a * b) - ma * mb
    value = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    return float(value.mean())


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke: target cases only, few repeats")
    parser.add_argument(
        "--child", nargs=4, metavar=("PATH", "FILE", "QUERY", "FORMAT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        files = sources(args.quick, Path(tmp))
        for file in files:
            source = file.read_bytes()
            info = probe(source, LIMITS)
            widths = (300, 2048) if args.quick and file.name == "camera-24mp.jpg" else WIDTHS
            widths = (300,) if args.quick and file.name != "camera-24mp.jpg" else widths
            for width in widths:
                query = query_for(width)
                transform = parse_query(query, LIMITS) or Transform()
                native = output_format(transform, info.format, animated=info.animated)
                outputs = [native] if args.quick else list(dict.fromkeys([native, "webp", "avif"]))
                for fmt in outputs:
                    rows.append(measure(file, source, query, transform, fmt, quick=args.quick))
                    print_row(rows[-1])
    summary = targets(rows)
    meta = {
        "python": sys.version.split()[0],
        "pillow": Image.__version__,
        "cpus": os.cpu_count(),
        "quick": args.quick,
        "note": "CPU ms are medians of process_time; RSS is one render in a fresh interpreter.",
    }
    record.write("render", {"meta": meta, "targets": summary, "rows": rows}, quick=args.quick)
    print()
    for line in summary:
        print(
            f"{'PASS' if line['met'] else 'MISS'}  {line['what']}: {line['value']} (target {line['target']})"
        )


def measure(
    file: Path, source: bytes, query: str, transform: Transform, fmt: str, *, quick: bool
) -> dict[str, Any]:
    big = len(source) > 3_000_000
    repeats = 3 if quick or big else 5
    if fmt == "avif" and big:
        repeats = 1
    result = {"source": file.name, "source_bytes": len(source), "query": query, "format": fmt}
    outputs: dict[str, bytes] = {}
    for path in ("ours", "naive"):
        timing = timed(path, source, transform, fmt, repeats)
        outputs[path] = timing.pop("_data")
        timing["peak_rss_mb"] = peak_rss_mb(path, file, query, fmt)
        result[path] = timing
    for path, score in ssim_scores(source, transform, outputs).items():
        result[path]["ssim"] = score
    result["cpu_ratio"] = round(result["ours"]["cpu_ms"] / max(result["naive"]["cpu_ms"], 0.01), 3)
    result["bytes_ratio"] = round(result["ours"]["bytes"] / max(result["naive"]["bytes"], 1), 3)
    return result


HEADER = (
    f"{'source':22} {'args':15} {'fmt':5} {'size':>10} {'ours ms':>8} {'naive ms':>9} {'ratio':>6} "
    f"{'ours/s':>7} {'RSS ours':>8} {'RSS naive':>9} {'bytes':>8} {'b-ratio':>7} "
    f"{'SSIM ours':>9} {'naive':>7}"
)


def print_row(row: dict[str, Any]) -> None:
    if not getattr(print_row, "started", False):
        print(HEADER)
        print("-" * len(HEADER))
        print_row.started = True  # type: ignore[attr-defined]
    o, n = row["ours"], row["naive"]

    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.4f}"

    size = "x".join(str(v) for v in o["size"])
    print(
        f"{row['source'][:22]:22} {row['query']:15} {row['format']:5} {size:>10} {o['cpu_ms']:8.1f} "
        f"{n['cpu_ms']:9.1f} {row['cpu_ratio']:6.3f} {o['renders_per_s']:7.1f} {o['peak_rss_mb']:8.1f} "
        f"{n['peak_rss_mb']:9.1f} {o['bytes']:8d} {row['bytes_ratio']:7.3f} {f(o.get('ssim')):>9} "
        f"{f(n.get('ssim')):>7}"
    )


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = {(r["source"], r["query"], r["format"]): r for r in rows}
    summary: list[dict[str, Any]] = []
    for (name, query, fmt), ceiling in TARGETS.items():
        row = found.get((name, query, fmt))
        if row is None:
            continue
        summary.append({"what": f"{name} {query} {fmt} CPU ours/naive", "value": row["cpu_ratio"],
                        "target": f"<= {ceiling}", "met": row["cpu_ratio"] <= ceiling})  # fmt: skip
        if fmt == "png":
            summary.append({"what": f"{name} {query} png bytes ours/naive", "value": row["bytes_ratio"],
                            "target": "<= 1.0", "met": row["bytes_ratio"] <= 1.0})  # fmt: skip
        if name == "camera-24mp.jpg" and query == "w=300":
            rss = row["ours"]["peak_rss_mb"]
            summary.append({"what": f"{name} {query} peak RSS MB", "value": rss,
                            "target": f"<= {RSS_TARGET_MB}", "met": rss <= RSS_TARGET_MB})  # fmt: skip
    # AVIF is left out of the quality check: ours encodes at speed 9 (fast enough to serve),
    # naive at Pillow's default 6, so their encoders differ, not their resampling.
    compared = [
        r
        for r in rows
        if r["format"] != "avif" and r["ours"].get("ssim") is not None and r["naive"].get("ssim") is not None
    ]
    worse = [f"{r['source']} {r['query']} {r['format']}" for r in compared
             if r["ours"]["ssim"] < r["naive"]["ssim"] - 0.005]  # fmt: skip
    summary.append({"what": "JPEG/PNG/WebP cases with SSIM more than 0.005 below naive", "value": worse,
                    "target": "none", "met": not worse})  # fmt: skip
    drops = [(round(r["naive"]["ssim"] - r["ours"]["ssim"], 5), f"{r['source']} {r['query']} {r['format']}")
             for r in compared]  # fmt: skip
    if drops:
        drop, case = max(drops)
        summary.append({"what": f"largest JPEG/PNG/WebP SSIM drop vs naive ({case})", "value": drop,
                        "target": "<= 0.005", "met": drop <= 0.005})  # fmt: skip
    avif = [(round(r["naive"]["ssim"] - r["ours"]["ssim"], 5), f"{r['source']} {r['query']}")
            for r in rows if r["format"] == "avif" and r["ours"].get("ssim") is not None
            and r["naive"].get("ssim") is not None]  # fmt: skip
    if avif:
        drop, case = max(avif)
        summary.append({"what": f"AVIF (speed 9 vs Pillow's 6): largest SSIM drop ({case})", "value": drop,
                        "target": "information", "met": True})  # fmt: skip
    return summary


if __name__ == "__main__":
    main()
