"""Animations as a viewer sees them: frames, timing, loops, transparency, colours, bounded memory."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

from core.errors import ImageRefused
from core.limits import Limits
from core.processing import make_plan, probe, render
from core.processing.guards import animation_memory
from core.transform import Transform
from tests.helpers import LIMITS


def animation(frames: list[Image.Image], fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:], **options)
    return out.getvalue()


def played(data: bytes) -> Iterator[tuple[Image.Image, int]]:
    """Each frame as a viewer composites it (RGBA), with its duration in ms."""
    image = Image.open(io.BytesIO(data))
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        image.load()
        yield image.convert("RGBA"), int(image.info.get("duration", 0))


def rms(a: Image.Image, b: Image.Image) -> float:
    """Largest per-channel RMS difference of the colours (0–255)."""
    return max(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).rms)


def sprite_frames(count: int, size: int = 64) -> list[Image.Image]:
    """A red disc moving over a transparent background: frames must clear what they leave."""
    frames = []
    for i in range(count):
        frame = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        x = 4 + i * (size - 24) // max(1, count - 1)
        ImageDraw.Draw(frame).ellipse((x, 20, x + 20, 40), fill=(220, 30, 40, 255))
        frames.append(frame)
    return frames


# ------------------------------------------------------------ timing and loops


def test_gif_whose_frames_become_identical_after_scaling_renders() -> None:
    frames = [Image.new("RGB", (200, 200), (40, 90, 160)) for _ in range(3)]
    for i, frame in enumerate(frames):
        frame.putpixel((i, 0), (41, 90, 160))  # invisible once scaled to 10 px
    source = animation(frames, "GIF", duration=[100, 200, 300], loop=0)
    result = render(source, "w=10")
    shown = list(played(result.data))
    assert result.format == "gif"
    assert (result.width, result.height) == (10, 10)
    assert len(shown) == result.frames == 1
    assert shown[0][1] == 600  # the three frames' time, shown as one
    assert rms(shown[0][0], Image.new("RGB", (10, 10), (40, 90, 160))) < 3


@pytest.mark.parametrize("query", ["w=20", "w=20&format=webp", "w=20&format=png"])
def test_gif_that_plays_once_still_plays_once(query: str) -> None:
    frames = [Image.new("RGB", (40, 40), (i * 80, 40, 40)) for i in range(3)]
    source = animation(frames, "GIF", duration=100)  # no NETSCAPE extension: plays once
    assert b"NETSCAPE" not in source
    result = render(source, query)
    out = Image.open(io.BytesIO(result.data))
    if result.format == "gif":
        assert b"NETSCAPE" not in result.data
        assert "loop" not in out.info
    else:  # WebP and APNG count plays: 1 is once, 0 would be forever
        assert out.info["loop"] == 1


@pytest.mark.parametrize(("gif_loop", "plays"), [(0, 0), (2, 3)])
def test_gif_loop_counts_translate_between_formats(gif_loop: int, plays: int) -> None:
    frames = [Image.new("RGB", (40, 40), (i * 80, 40, 40)) for i in range(3)]
    source = animation(frames, "GIF", duration=100, loop=gif_loop)
    assert Image.open(io.BytesIO(render(source, "w=20").data)).info["loop"] == gif_loop
    assert Image.open(io.BytesIO(render(source, "w=20&format=webp").data)).info["loop"] == plays
    assert Image.open(io.BytesIO(render(source, "w=20&format=png").data)).info["loop"] == plays


@pytest.mark.parametrize("fmt", ["png", "webp", "gif"])
def test_apng_default_image_outside_the_animation_keeps_durations_aligned(fmt: str) -> None:
    default = Image.new("RGBA", (40, 40), (255, 255, 255, 255))  # shown only by non-APNG viewers
    colours = [(200, 0, 0), (0, 200, 0), (0, 0, 200)]
    frames = [Image.new("RGBA", (40, 40), (*c, 255)) for c in colours]
    # Pillow gives the durations to the animation frames, the default image takes none
    source = animation([default, *frames], "PNG", duration=[100, 200, 300, 0], default_image=True)
    assert Image.open(io.BytesIO(source)).info.get("default_image")
    result = render(source, f"w=20&format={fmt}")
    shown = list(played(result.data))
    assert [duration for _frame, duration in shown] == [100, 200, 300]
    for (frame, _duration), colour in zip(shown, colours, strict=True):
        assert rms(frame, Image.new("RGB", frame.size, colour)) < 3


# ------------------------------------------------------------ what the viewer sees


@pytest.mark.parametrize("fmt", ["gif", "png", "webp"])
def test_sprite_on_transparent_background_leaves_no_trail(fmt: str) -> None:
    frames = sprite_frames(8)
    frames[5] = Image.new("RGBA", frames[5].size)  # the sprite gone for one frame
    source = animation(frames, "PNG", duration=80, loop=0)
    result = render(source, f"format={fmt}")
    shown = list(played(result.data))
    assert len(shown) == 8
    for (frame, duration), expected in zip(shown, frames, strict=True):
        assert duration == 80
        opaque = expected.getchannel("A").point(lambda v: 255 if v >= 128 else 0)
        got = frame.getchannel("A").point(lambda v: 255 if v >= 128 else 0)
        assert ImageChops.difference(opaque, got).getbbox() is None  # no trail, nothing missing
        kept = Image.composite(frame, Image.new("RGBA", frame.size), opaque)
        assert rms(kept, Image.composite(expected, Image.new("RGBA", frame.size), opaque)) < 12


def test_gif_scene_change_keeps_each_frames_colours() -> None:
    warm = Image.linear_gradient("L").resize((64, 64)).convert("RGB")
    warm = Image.merge(
        "RGB", (warm.getchannel(0), Image.new("L", (64, 64), 30), Image.new("L", (64, 64), 10))
    )
    cold = Image.merge("RGB", (warm.getchannel(2), warm.getchannel(1), warm.getchannel(0).rotate(90)))
    source = animation([warm, warm.rotate(180), cold, cold.rotate(180)], "PNG", duration=50, loop=0)
    result = render(source, "format=gif")
    shown = [frame for frame, _duration in played(result.data)]
    for frame, expected in zip(shown, [warm, warm.rotate(180), cold, cold.rotate(180)], strict=True):
        assert rms(frame, expected) < 4


@pytest.mark.parametrize("name", ["animated.gif", "animated.webp", "animated.png"])
def test_corpus_animation_to_gif_matches_the_scaled_frames(fixtures: Path, name: str) -> None:
    source = (fixtures / name).read_bytes()
    result = render(source, "w=100&format=gif")
    original = list(played(source))
    shown = list(played(result.data))
    assert len(shown) == len(original) == result.frames
    for (frame, _d), (expected, _e) in zip(shown, original, strict=True):
        scaled = expected.resize(frame.size, Image.Resampling.LANCZOS)
        opaque = scaled.getchannel("A").point(lambda v: 255 if v >= 128 else 0)
        assert rms(Image.composite(frame, Image.new("RGBA", frame.size), opaque),
                   Image.composite(scaled, Image.new("RGBA", frame.size), opaque)) < 8  # fmt: skip


# ------------------------------------------------------------ bounded memory


def flat_gif(size: tuple[int, int], count: int) -> bytes:
    frames = []
    for i in range(count):
        frame = Image.new("P", size, 0)
        frame.putpalette([230, 230, 225, 200, 30, 40])
        ImageDraw.Draw(frame).rectangle((i * 10, 10, i * 10 + 20, 30), fill=1)
        frames.append(frame)
    return animation(frames, "GIF", duration=50, loop=0)


def test_animation_memory_does_not_grow_with_frames() -> None:
    transform = Transform()
    few, many = probe(flat_gif((300, 200), 3), LIMITS), probe(flat_gif((300, 200), 30), LIMITS)
    assert animation_memory(few, make_plan(few, transform, LIMITS)) == animation_memory(
        many, make_plan(many, transform, LIMITS)
    )


def test_animation_above_the_memory_limit_is_refused_before_decoding() -> None:
    source = flat_gif((1000, 800), 3)  # a few kB, within every other limit
    limits = Limits(max_animation_memory=8 * 1024 * 1024)
    with pytest.raises(ImageRefused, match=r"1000×800 px frames .*\(max_animation_memory\)"):
        render(source, "w=900", limits=limits)
    assert render(source, "w=100&format=jpeg", limits=limits).frames == 1  # a still of it is fine
    assert render(source, "w=900").frames == 3  # and the default limit allows it


def test_animated_output_beyond_its_memory_budget_is_refused() -> None:
    noisy = [Image.effect_noise((64, 64), 60 + i).convert("RGB") for i in range(10)]
    source = animation(noisy, "PNG", duration=50, loop=0)
    info = probe(source, LIMITS)
    needed = animation_memory(info, make_plan(info, Transform(), LIMITS))
    with pytest.raises(ImageRefused, match="would exceed 1,000 bytes"):
        render(source, "format=gif", limits=Limits(max_animation_memory=needed + 3_000))


def test_animation_memory_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import Settings

    monkeypatch.setenv("TACHYON_MAX_ANIMATION_MEMORY", "8388608")
    limits = Settings().limits()
    assert limits.max_animation_memory == 8 * 1024 * 1024
    with pytest.raises(ImageRefused, match="max_animation_memory"):
        render(flat_gif((1000, 800), 3), "w=900", limits=limits)
