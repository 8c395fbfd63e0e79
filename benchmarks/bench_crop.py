"""How much of the subject each ``crop_strategy`` keeps, against smartcrop.js's algorithm.

Plain script (no pytest): prints a table and writes ``docs/benchmarks/crop.json``
(``benchmarks/results/crop.json`` with ``--quick``; see ``benchmarks/record.py``).

    .venv/bin/python benchmarks/bench_crop.py            # every scene (a few minutes on 2 cores)
    .venv/bin/python benchmarks/bench_crop.py --quick    # one scene in four

Scenes are generated (seeded) with a known subject box: a face-like subject (skin,
hair, eyes, mouth), a text-like one (a sign with lines of dark text) or a product
(a saturated object with a highlight), small, medium or large, at random places,
on a busy background (foliage-like texture at several scales) or a flat one (a
soft gradient with grain), in landscape, portrait, panorama and square canvases.
Each scene is cropped to a square, a 16:9 (or 9:16) and a thin 3:1 (or 1:3)
output, whichever has slack along the long axis.

Kept = area of the subject inside the chosen window ÷ the most any window of that
size could keep (1.0 is a perfect choice; a subject larger than the window counts
as fully kept when the window is filled with it). Reported per strategy: the mean
kept, the share of cases keeping ≥ 90 %, and the share keeping nothing.

- ours: ``entropy``, ``attention``, ``smart`` exactly as a render runs them
  (``core.processing`` plan, scale step, then ``smart.choose_offset``);
- smartcrop: the ``smartcrop`` package (PyPI; the Python port of smartcrop.js,
  which Tachyon runs for ``crop_strategy=smart``) with smartcrop.js's defaults
  (``minScale`` 1: the window is the whole output aspect), as Tachyon calls it;
- center: the plain centre crop, for scale.
Needs numpy and smartcrop (``pip install -e '.[bench]'``), only here.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw, ImageFilter, ImageFont  # noqa: E402

from benchmarks import record  # noqa: E402
from core.args import parse_query  # noqa: E402
from core.limits import DEFAULT_LIMITS as LIMITS  # noqa: E402
from core.processing import make_plan  # noqa: E402
from core.processing.context import Context, Output, Source  # noqa: E402
from core.processing.model import SourceInfo  # noqa: E402
from core.processing.scale import scale  # noqa: E402
from core.processing.smart import choose_offset  # noqa: E402

Box = tuple[float, float, float, float]
CANVASES = ((1200, 800), (800, 1200), (1800, 600), (1000, 1000))
SUBJECTS = ("face", "text", "product")
SIZES = {"small": 0.18, "medium": 0.35, "large": 0.6}  # subject height ÷ the canvas's short side
BACKGROUNDS = ("busy", "flat")
PLACES = 4  # random placements per (canvas, subject, size, background)
OURS = ("entropy", "attention", "smart")


@dataclass(frozen=True)
class Scene:
    image: Image.Image
    subject: Box
    name: str


# ---------------------------------------------------------------- scenes


def busy(size: tuple[int, int], rnd: random.Random) -> Image.Image:
    """Foliage-like: noise at several scales in muted greens and browns, plus leaves."""
    w, h = size
    layers = []
    for cell in (64, 16, 4):
        noise = Image.effect_noise((max(2, w // cell), max(2, h // cell)), 60)
        layers.append(noise.resize(size, Image.Resampling.BICUBIC))
    luma = Image.blend(Image.blend(layers[0], layers[1], 0.5), layers[2], 0.35)
    tint = (rnd.randint(60, 110), rnd.randint(90, 140), rnd.randint(40, 80))
    image = Image.merge("RGB", [luma.point(lambda v, c=c: int(v * c / 128)) for c in tint])
    draw = ImageDraw.Draw(image)
    for _ in range(w * h // 1500):
        x, y, r = rnd.randint(0, w), rnd.randint(0, h), rnd.randint(3, 14)
        shade = rnd.randint(40, 150)
        draw.ellipse((x - r, y - r // 2, x + r, y + r // 2), fill=(shade // 2, shade, shade // 3))
    return image


def flat(size: tuple[int, int], rnd: random.Random) -> Image.Image:
    """A soft vertical gradient (sky, studio wall) with a little grain."""
    top = (rnd.randint(150, 220), rnd.randint(170, 230), rnd.randint(200, 250))
    bottom = (rnd.randint(90, 160), rnd.randint(100, 160), rnd.randint(110, 170))
    ramp = Image.linear_gradient("L").resize(size)
    image = Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), ramp)
    grain = Image.effect_noise(size, 6).convert("RGB")
    return Image.blend(image, grain, 0.04)


def face(height: int, rnd: random.Random) -> Image.Image:
    """A face-like subject on a transparent layer: skin, hair, eyes, mouth, a neck."""
    w, h = int(height * 0.72), height
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    skin = rnd.choice([(224, 172, 140), (198, 134, 96), (141, 85, 54), (241, 194, 160)])
    hair = rnd.choice([(40, 26, 16), (90, 60, 30), (20, 20, 20), (150, 110, 60)])
    d.rectangle((w * 0.35, h * 0.78, w * 0.65, h), fill=skin)  # neck
    d.ellipse((w * 0.05, h * 0.02, w * 0.95, h * 0.55), fill=hair)
    d.ellipse((w * 0.12, h * 0.12, w * 0.88, h * 0.88), fill=skin)
    for ex in (0.33, 0.67):
        d.ellipse((w * (ex - 0.08), h * 0.40, w * (ex + 0.08), h * 0.48), fill=(250, 250, 250))
        d.ellipse((w * (ex - 0.03), h * 0.41, w * (ex + 0.03), h * 0.47), fill=(50, 35, 25))
        d.line((w * (ex - 0.1), h * 0.36, w * (ex + 0.1), h * 0.35), fill=hair, width=max(1, h // 40))
    nose = tuple(int(c * 0.85) for c in skin)
    d.polygon([(w * 0.5, h * 0.48), (w * 0.45, h * 0.6), (w * 0.55, h * 0.6)], fill=nose)
    d.chord((w * 0.35, h * 0.62, w * 0.65, h * 0.74), 0, 180, fill=(170, 60, 60))
    return layer.filter(ImageFilter.GaussianBlur(max(0.5, height / 300)))


def text(height: int, rnd: random.Random) -> Image.Image:
    """A text-like subject: a sign with a few lines of dark lettering."""
    w = int(height * rnd.choice([1.6, 2.2]))
    paper = rnd.choice([(250, 250, 245), (255, 230, 80), (235, 240, 250)])
    layer = Image.new("RGBA", (w, height), (*paper, 255))
    d = ImageDraw.Draw(layer)
    lines = 3
    size = max(6, int(height / (lines * 1.6)))
    font = ImageFont.load_default(size)
    words = ["OPEN", "SALE", "CAFE", "NEWS", "CITY", "PARK", "HOTEL", "2024", "MENU", "EXIT", "BOOKS"]
    for i in range(lines):
        line = " ".join(rnd.choice(words) for _ in range(3))
        d.text((height * 0.08, height * 0.08 + i * size * 1.45), line, fill=(20, 20, 30), font=font)
    d.rectangle((0, 0, w - 1, height - 1), outline=(60, 60, 60), width=max(1, height // 60))
    return layer


def product(height: int, rnd: random.Random) -> Image.Image:
    """A product shot: a saturated object with a highlight and a shadow."""
    w = int(height * rnd.choice([0.6, 1.0]))
    colour = rnd.choice([(210, 30, 40), (20, 90, 200), (240, 160, 0), (30, 160, 70)])
    layer = Image.new("RGBA", (w, height), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    d.ellipse((w * 0.1, height * 0.85, w * 0.9, height), fill=(0, 0, 0, 90))
    d.rounded_rectangle((w * 0.12, height * 0.05, w * 0.88, height * 0.9), radius=max(2, w // 6), fill=colour)
    shine = tuple(min(255, c + 90) for c in colour)
    d.ellipse((w * 0.25, height * 0.12, w * 0.45, height * 0.45), fill=shine)
    d.rectangle((w * 0.3, height * 0.55, w * 0.7, height * 0.65), fill=(250, 250, 250))
    return layer


MAKERS = {"face": face, "text": text, "product": product}


def scenes(quick: bool) -> list[Scene]:
    rnd = random.Random(12)
    made = []
    count = 0
    for canvas in CANVASES:
        for background in BACKGROUNDS:
            for kind in SUBJECTS:
                for size_name, fraction in SIZES.items():
                    for place in range(PLACES):
                        count += 1
                        if quick and count % 4:
                            continue
                        image = (busy if background == "busy" else flat)(canvas, rnd)
                        layer = MAKERS[kind](int(min(canvas) * fraction), rnd)
                        lw, lh = layer.size
                        if lw > canvas[0] or lh > canvas[1]:
                            layer = layer.resize((min(lw, canvas[0]), min(lh, canvas[1])))
                            lw, lh = layer.size
                        x, y = rnd.randint(0, canvas[0] - lw), rnd.randint(0, canvas[1] - lh)
                        image.paste(layer, (x, y), layer)
                        name = f"{canvas[0]}x{canvas[1]}-{background}-{kind}-{size_name}-{place}"
                        made.append(Scene(image, (x, y, x + lw, y + lh), name))
    return made


def targets(canvas: tuple[int, int]) -> list[tuple[int, int]]:
    """Output sizes that crop this canvas along its long axis: a square, 16:9 and a thin 3:1."""
    w, h = canvas
    wide = w >= h
    sizes = [(300, 300), (400, 225) if wide else (225, 400), (600, 200) if wide else (200, 600)]
    return [(tw, th) for tw, th in sizes if (w / h) != (tw / th)]


# ---------------------------------------------------------------- strategies


def ours(scene: Scene, size: tuple[int, int], strategy: str) -> Box:
    """The window a render keeps, in original pixels (plan → scale step → choose_offset)."""
    transform = parse_query(f"resize={size[0]},{size[1]}&crop_strategy={strategy}", LIMITS)
    assert transform is not None
    info = SourceInfo("png", scene.image.width, scene.image.height, 1, 0)
    plan = make_plan(info, transform, LIMITS)
    ctx = Context(Source(info=info), Output(transform=transform, plan=plan, format="png"))
    scaled = scale(scene.image, ctx)
    assert plan.window is not None
    x, y = choose_offset(scaled, plan.window, strategy)
    sx, sy = scaled.width / scene.image.width, scaled.height / scene.image.height
    return x / sx, y / sy, (x + plan.window[0]) / sx, (y + plan.window[1]) / sy


def smartcrop_js(scene: Scene, size: tuple[int, int], cropper: Any) -> Box:
    """smartcrop.js's choice (Python port, its defaults: the window has the output's aspect)."""
    top = cropper.crop(scene.image, size[0], size[1], min_scale=1.0, num_scale_steps=1)["top_crop"]
    return top["x"], top["y"], top["x"] + top["width"], top["y"] + top["height"]


def center(scene: Scene, size: tuple[int, int]) -> Box:
    w, h = scene.image.size
    ratio = min(w / size[0], h / size[1])
    cw, ch = size[0] * ratio, size[1] * ratio
    return (w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2


def overlap(a: Box, b: Box) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def kept(scene: Scene, window: Box) -> float:
    """Subject area inside ``window`` ÷ the most a window of that size could hold."""
    sx0, sy0, sx1, sy1 = scene.subject
    ww, wh = window[2] - window[0], window[3] - window[1]
    best = min(ww, sx1 - sx0) * min(wh, sy1 - sy0)
    return min(1.0, overlap(window, scene.subject) / best) if best > 0 else 1.0


# ---------------------------------------------------------------- run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one scene in four")
    args = parser.parse_args()
    from smartcrop import SmartCrop

    cropper = SmartCrop()
    names = [*OURS, "smartcrop.js", "center"]
    scores: dict[str, list[float]] = {name: [] for name in names}
    by_group: dict[str, dict[str, list[float]]] = {}
    seconds: dict[str, float] = dict.fromkeys(names, 0.0)
    cases = 0
    for scene in scenes(args.quick):
        for size in targets(scene.image.size):
            cases += 1
            kind, background = scene.name.split("-")[2], scene.name.split("-")[1]
            thin = max(size) / min(size) >= 3
            groups = [f"{kind}", f"{background}", "thin 3:1" if thin else "square/16:9"]
            for name in names:
                start = time.process_time()
                if name in OURS:
                    window = ours(scene, size, name)
                elif name == "smartcrop.js":
                    window = smartcrop_js(scene, size, cropper)
                else:
                    window = center(scene, size)
                seconds[name] += time.process_time() - start
                share = kept(scene, window)
                scores[name].append(share)
                for group in groups:
                    by_group.setdefault(group, {n: [] for n in names})[name].append(share)
    summary = {
        name: {
            "mean_kept": round(statistics.fmean(values), 4),
            "kept_90_percent": round(sum(v >= 0.9 for v in values) / len(values), 4),
            "kept_nothing": round(sum(v == 0 for v in values) / len(values), 4),
            "ms_per_crop": round(seconds[name] / len(values) * 1000, 2),
        }
        for name, values in scores.items()
    }
    groups = {
        group: {name: round(statistics.fmean(values), 4) for name, values in found.items()}
        for group, found in sorted(by_group.items())
    }
    print(f"{cases} cases\n")
    print(f"{'strategy':<14}{'mean kept':>10}{'≥90% kept':>11}{'nothing':>9}{'ms/crop':>9}")
    for name, row in summary.items():
        print(
            f"{name:<14}{row['mean_kept']:>10.3f}{row['kept_90_percent']:>11.1%}"
            f"{row['kept_nothing']:>9.1%}{row['ms_per_crop']:>9.1f}"
        )
    print(f"\n{'mean kept by':<14}" + "".join(f"{n:>13}" for n in names))
    for group, row in groups.items():
        print(f"{group:<14}" + "".join(f"{row[n]:>13.3f}" for n in names))
    record.write("crop", {"cases": cases, "summary": summary, "groups": groups}, quick=args.quick)
    worst = min(summary[name]["mean_kept"] for name in OURS)
    if worst < summary["smartcrop.js"]["mean_kept"]:
        print("\nnote: a strategy of ours keeps less than smartcrop.js on average")


if __name__ == "__main__":
    main()
