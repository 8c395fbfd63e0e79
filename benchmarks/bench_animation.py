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
import resource
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
        frame = Image.new("RGB", size, (235, 235, 230))
        x = (i * 37) % max(1, w - side)
        ImageDraw.Draw(frame).rectangle((x, h // 3, x + side, h // 3 + side), fill=(200, 30, 40))
        out.append(frame.convert(mode) if mode != "P" else frame.quantize(4))
    return out


def save(frames: list[Image.Image], fmt: str, **extra: Any) -> bytes:
    out = io.BytesIO()
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:], duration=80, loop=0, **extra)
    return out.getvalue()


def crafted(folder: Path, quick: bool) -> list[tuple[str, Path]]:
    """(name, path) of each crafted animation, written once into ``folder``."""
    specs: list[tuple[str, str, tuple[int, int], int, dict[str, Any]]] = [
        ("gif-1000x1000x200", "GIF", (1000, 1000), 200, {}),
        ("gif-7000x7000x4", "GIF", (7000, 7000), 4, {}),
        ("webp-2000x2000x50", "WEBP", (2000, 2000), 50, {"quality": 80, "method": 0}),
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
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.only in (None, "memory"):
            results["memory"] = memory_table(crafted(folder, args.quick), args.before)
        if args.only in (None, "sharp"):
            results["sharp"] = sharp_table(folder, args.quick)
    record.write("animation", results, quick=args.quick)


def sharp_table(folder: Path, quick: bool) -> list[dict[str, Any]]:
    return []


if __name__ == "__main__":
    main()
