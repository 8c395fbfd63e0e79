"""Animations: peak memory near the limits, and GIF / animated WebP against sharp in the same run.

Plain script (no pytest): prints tables and writes ``docs/benchmarks/animation.json``
(``benchmarks/results/animation.json`` with ``--quick``; see ``benchmarks/record.py``).

    .venv/bin/python benchmarks/bench_animation.py                      # memory + sharp tables
    .venv/bin/python benchmarks/bench_animation.py --before ../main     # and another checkout's, side by side
    .venv/bin/python benchmarks/bench_animation.py --quick              # CI smoke: fewer cases and repeats

**Memory**: crafted animations inside every default limit (a GIF of a few hundred kB
with 200 frames of 1000×1000, frames of 7,000×7,000, a WebP and an APNG of 50 frames
of 2000×2000, …) are rendered once each in a fresh interpreter, which reports its
peak RSS (``ru_maxrss``, so Python and Pillow themselves are included), its CPU time
and the outcome (rendered, or refused with the reason). With ``--before`` every case
also runs against another checkout's core, side by side.

**sharp**: the corpus animations (``tests/fixtures``) and seeded generated ones,
rendered to GIF and animated WebP by ours (``core.render``) and by sharp (libvips,
as Human Made's Tachyon drives it: ``benchmarks/sharp/render.mjs``, one thread).
Reported: median CPU ms of each, output bytes, and SSIM (luma, 7×7 windows) of
every output frame against a float LANCZOS resize of the composited source frame,
averaged over frames. Needs numpy and ``npm install`` in ``benchmarks/sharp``
(a benchmark-only folder; sharp is never a product dependency).
"""

from __future__ import annotations

import argparse
import io
import json
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

from PIL import Image, ImageDraw  # noqa: E402

from benchmarks import record  # noqa: E402

CORPUS = ROOT / "tests" / "fixtures"
SHARP = ROOT / "benchmarks" / "sharp"
PEAK_TARGET_MB = 256.0


# ---------------------------------------------------------------- crafted sources


def moving_square(size: tuple[int, int], frames: int, mode: str) -> list[Image.Image]:
    """Flat frames with a small square moving across: tiny files, large canvases."""
    w, h = size
    side = max(8, min(w, h) // 10)
    out = []
    for i in range(frames):
        frame = Image.new("P", size, 0)
        frame.putpalette([235, 235, 230, 200, 30, 40])
        x = (i * 37) % max(1, w - side)
        ImageDraw.Draw(frame).rectangle((x, h // 3, x + side, h // 3 + side), fill=1)
        out.append(frame if mode == "P" else frame.convert(mode))
    return out


def save(frames: list[Image.Image], fmt: str, **extra: Any) -> bytes:
    out = io.BytesIO()
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:], duration=80, loop=0, **extra)
    return out.getvalue()


def crafted(folder: Path, quick: bool) -> list[tuple[str, Path]]:
    """(name, path) of each crafted animation, written once into ``folder``."""
    specs: list[tuple[str, str, tuple[int, int], int, dict[str, Any]]] = [
        ("gif-1000x1000x200", "GIF", (1000, 1000), 200, {}),
        ("gif-2000x2000x50", "GIF", (2000, 2000), 50, {}),
        ("gif-2400x2400x30", "GIF", (2400, 2400), 30, {}),
        ("gif-7000x7000x4", "GIF", (7000, 7000), 4, {}),
        ("webp-2000x2000x50", "WEBP", (2000, 2000), 50, {"quality": 80, "method": 0}),
        ("webp-2400x2400x30", "WEBP", (2400, 2400), 30, {"quality": 80, "method": 0}),
        ("apng-2000x2000x50", "PNG", (2000, 2000), 50, {}),
    ]
    if quick:
        specs = [("gif-1000x1000x200", "GIF", (1000, 1000), 200, {})]
    paths = []
    for name, fmt, size, count, extra in specs:
        path = folder / f"{name}.{fmt.lower().replace('jpeg', 'jpg')}"
        if not path.exists():
            mode = "P" if fmt == "GIF" else "RGB"
            path.write_bytes(save(moving_square(size, count, mode), fmt, **extra))
        paths.append((name, path))
    return paths


MEMORY_QUERIES = ("w=300", "strip=all", "w=300&format=webp", "w=600&format=png")


def child(repo: str, file: str, query: str) -> None:
    """Render once in this (fresh) process; print one JSON line."""
    sys.path.insert(0, repo)
    from core import render
    from core.errors import ImageRefused

    source = Path(file).read_bytes()
    start = time.process_time()
    try:
        result = render(source, query)
        size = f"{result.width}×{result.height}"
        outcome = f"{result.format} {size}, {result.frames} frames, {len(result.data):,} B"
    except ImageRefused as refused:
        outcome = f"refused: {refused}"
    cpu = time.process_time() - start
    peak = peak_rss_mb()
    print(json.dumps({"peak_mb": round(peak, 1), "cpu_s": round(cpu, 2), "outcome": outcome}))


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not ``ru_maxrss``: Linux carries that across
    ``exec`` from the forking parent, so a child would report the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_memory(repo: Path, file: Path, query: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(repo), str(file), query],
        capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"peak_mb": None, "cpu_s": None, "outcome": f"process died ({done.returncode})"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def memory_table(files: list[tuple[str, Path]], before: Path | None) -> list[dict[str, Any]]:
    rows = []
    print(
        f"\n{'source':22} {'query':20} {'file kB':>8} {'before MB':>10} {'after MB':>9} {'CPU s':>6}  outcome"
    )
    for name, path in files:
        for query in MEMORY_QUERIES:
            row: dict[str, Any] = {"source": name, "query": query, "file_bytes": path.stat().st_size}
            if before is not None:
                row["before"] = measure_memory(before, path, query)
            row["after"] = measure_memory(ROOT, path, query)
            rows.append(row)
            b = row.get("before", {}).get("peak_mb")
            a = row["after"]
            peak = a["peak_mb"] if a["peak_mb"] is not None else "-"
            print(
                f"{name:22} {query:20} {row['file_bytes'] / 1000:8.0f} {b if b is not None else '-':>10} "
                f"{peak:>9} {a['cpu_s'] or 0:6.2f}  {a['outcome'][:90]}"
            )
            if before is not None:
                print(f"{'':54}before: {row['before']['outcome'][:90]}")
    return rows


# ---------------------------------------------------------------- against sharp


def photo_pan(size: tuple[int, int], frames: int, seed: int) -> list[Image.Image]:
    """A photo-like picture panning across the canvas: every pixel changes, many colours."""
    rnd = random.Random(seed)
    w, h = size
    big = Image.frombytes("RGB", (w // 8 + 2, h // 8 + 2), rnd.randbytes((w // 8 + 2) * (h // 8 + 2) * 3))
    big = big.resize((w * 2, h), Image.Resampling.BICUBIC)
    grad = Image.linear_gradient("L").resize((w * 2, h)).convert("RGB")
    scene = Image.blend(big, grad, 0.4)
    return [scene.crop((i * w // frames, 0, i * w // frames + w, h)) for i in range(frames)]


def cartoon(size: tuple[int, int], frames: int) -> list[Image.Image]:
    """Flat colours with anti-aliased edges, a figure moving over a still background."""
    w, h = size
    out = []
    for i in range(frames):
        frame = Image.new("RGB", (w * 4, h * 4), (250, 246, 235))
        draw = ImageDraw.Draw(frame)
        draw.rectangle((0, h * 3, w * 4, h * 4), fill=(90, 160, 70))
        x = (i * w * 4 // frames) % (w * 3)
        draw.ellipse((x, h, x + w, h * 2), fill=(230, 80, 40), outline=(40, 30, 30), width=12)
        draw.rectangle((x + w // 3, h * 2, x + 2 * w // 3, h * 3), fill=(60, 90, 200))
        out.append(frame.resize(size, Image.Resampling.LANCZOS))
    return out


def sprite(size: tuple[int, int], frames: int) -> list[Image.Image]:
    """A shaded ball bouncing over a transparent background (alpha)."""
    w, h = size
    out = []
    for i in range(frames):
        frame = Image.new("RGBA", (w * 2, h * 2), (0, 0, 0, 0))
        y = int(abs(i / frames * 2 - 1) * h)
        draw = ImageDraw.Draw(frame)
        for r in range(w // 3, 0, -4):
            shade = 255 - int(180 * r / (w // 3))
            draw.ellipse((w - r, y + w // 3 - r, w + r, y + w // 3 + r), fill=(shade, shade // 3, 40, 255))
        out.append(frame.resize(size, Image.Resampling.LANCZOS))
    return out


def sharp_sources(folder: Path, quick: bool) -> list[tuple[str, Path, str]]:
    """(name, file, query) of every source compared with sharp."""
    cases = [
        ("animated.gif", CORPUS / "animated.gif", "w=128"),
        ("animated.webp", CORPUS / "animated.webp", "w=200"),
        ("animated.png", CORPUS / "animated.png", "w=50"),
    ]
    generated: list[tuple[str, list[Image.Image], str, str]] = [
        ("photo-pan.gif", photo_pan((480, 320), 24, 1), "GIF", "w=240"),
        ("cartoon.gif", cartoon((400, 300), 30), "GIF", "w=200"),
        ("sprite.webp", sprite((300, 300), 24), "WEBP", "w=150"),
    ]
    if quick:
        cases, generated = cases[:1], generated[:1]
    for name, frames, fmt, query in generated:
        path = folder / name
        if not path.exists():
            extra = {"quality": 90} if fmt == "WEBP" else {}
            path.write_bytes(save(frames, fmt, **extra))
        cases.append((name, path, query))
    return cases


def timeline(data: bytes) -> list[tuple[int, Image.Image]]:
    """(start ms, frame composited as RGBA) of every frame of an animation."""
    image = Image.open(io.BytesIO(data))
    out, start = [], 0
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        image.load()
        out.append((start, image.convert("RGBA")))
        start += int(image.info.get("duration", 0) or 0)
    return out


def flat_luma(image: Image.Image) -> Any:
    """Luma (float64) of an RGBA frame laid over mid grey, so alpha counts too."""
    import numpy as np

    grey = Image.new("RGBA", image.size, (128, 128, 128, 255))
    rgb = np.asarray(Image.alpha_composite(grey, image).convert("RGB"), dtype=np.float64)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def reference(source: bytes, size: tuple[int, int]) -> list[tuple[int, Any]]:
    """(start ms, luma) of each source frame resized with float LANCZOS, alpha premultiplied."""
    import numpy as np

    out = []
    for start, frame in timeline(source):
        bands = [
            np.asarray(frame.getchannel(i).convert("F").resize(size, Image.Resampling.LANCZOS))
            for i in range(4)
        ]
        alpha = np.clip(bands[3], 0, 255) / 255
        rgb = [np.clip(b * alpha + 128 * (1 - alpha), 0, 255) for b in bands[:3]]  # over mid grey
        out.append((start, 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]))
    return out


def animation_ssim(data: bytes, ref: list[tuple[int, Any]]) -> float | None:
    """Mean SSIM over the source's frames of the output frame shown at each one's start."""
    from benchmarks.bench_render import _ssim

    shown = timeline(data)
    scores = []
    for start, luma in ref:
        frame = [f for t, f in shown if t <= start][-1]
        if frame.size[::-1] != luma.shape:
            return None
        scores.append(_ssim(flat_luma(frame), luma))
    return round(statistics.fmean(scores), 5)


def sharp_renders(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run ``benchmarks/sharp/render.mjs`` on every job in one node process."""
    if not (SHARP / "node_modules" / "sharp").exists():
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund"], cwd=SHARP, check=True, capture_output=True
        )
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as spec:
        json.dump(jobs, spec)
    done = subprocess.run(
        ["node", str(SHARP / "render.mjs"), spec.name], capture_output=True, text=True, check=True
    )
    Path(spec.name).unlink()
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def ours_cpu(source: bytes, query: str, repeats: int) -> tuple[float, bytes]:
    from core import render

    render(source, query)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.process_time()
        data = render(source, query).data
        times.append((time.process_time() - start) * 1000)
    return round(statistics.median(times), 1), data


def sharp_table(folder: Path, quick: bool) -> list[dict[str, Any]]:
    repeats = 3 if quick else 7
    cases = [(n, p, q, fmt) for n, p, q in sharp_sources(folder, quick) for fmt in ("gif", "webp")]
    jobs = [
        {"input": str(p), "width": int(q.removeprefix("w=")), "format": fmt, "animated": True,
         "options": {"quality": 82} if fmt == "webp" else {}, "repeats": repeats,
         "out": str(folder / f"sharp-{n}-{fmt}.{fmt}")}
        for n, p, q, fmt in cases
    ]  # fmt: skip
    theirs = sharp_renders(jobs)
    rows = []
    print(f"\n{'source':16} {'query':7} {'out':5} {'ours ms':>8} {'sharp ms':>9} {'CPU ×':>6} "
          f"{'ours B':>9} {'sharp B':>9} {'bytes ×':>8} {'SSIM ours':>10} {'SSIM sharp':>11}")  # fmt: skip
    for (name, path, query, fmt), sharp in zip(cases, theirs, strict=True):
        source = path.read_bytes()
        cpu, data = ours_cpu(source, f"{query}&format={fmt}", repeats)
        sharp_data = Path(jobs[len(rows)]["out"]).read_bytes()
        size = Image.open(io.BytesIO(data)).size
        ref = reference(source, size)
        row = {
            "source": name, "query": query, "format": fmt,
            "ours": {"cpu_ms": cpu, "bytes": len(data), "ssim": animation_ssim(data, ref),
                     "frames": getattr(Image.open(io.BytesIO(data)), "n_frames", 1)},
            "sharp": {"cpu_ms": round(sharp["cpu_ms"], 1), "bytes": sharp["bytes"],
                      "ssim": animation_ssim(sharp_data, ref), "frames": sharp["pages"]},
        }  # fmt: skip
        row["cpu_ratio"] = round(cpu / row["sharp"]["cpu_ms"], 3)
        row["bytes_ratio"] = round(len(data) / sharp["bytes"], 3)
        rows.append(row)
        o, t = row["ours"], row["sharp"]
        ssim = f"{o['ssim']!s:>10} {t['ssim']!s:>11}"
        print(f"{name:16} {query:7} {fmt:5} {o['cpu_ms']:8.1f} {t['cpu_ms']:9.1f} {row['cpu_ratio']:6.2f} "
              f"{o['bytes']:9,} {t['bytes']:9,} {row['bytes_ratio']:8.3f} {ssim}")  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--before", type=Path, help="another checkout whose core renders the same cases")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=("memory", "sharp"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    results: dict[str, Any] = {"peak_target_mb": PEAK_TARGET_MB}
    previous = (record.SCRATCH if args.quick else record.DOCS) / "animation.json"
    if args.only and previous.exists():  # one part re-run: keep the other part's results
        kept = json.loads(previous.read_text())
        results.update({k: v for k, v in kept.items() if k in ("memory", "sharp", "measured")})
    measured: dict[str, Any] = results.setdefault("measured", {})  # each part's own run
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.only in (None, "memory"):
            results["memory"] = memory_table(crafted(folder, args.quick), args.before)
            measured["memory"] = record.provenance()
        if args.only in (None, "sharp"):
            results["sharp"] = sharp_table(folder, args.quick)
            measured["sharp"] = record.provenance()
    record.write("animation", results, quick=args.quick)


if __name__ == "__main__":
    main()
