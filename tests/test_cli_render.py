"""``tachyon-edge render`` run as a real command in a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from core.args import parse_query
from core.keys import derivative_key
from tests.helpers import LIMITS

COMMAND = Path(sys.executable).with_name("tachyon-edge")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    executable = str(COMMAND) if COMMAND.exists() else (shutil.which("tachyon-edge") or "tachyon-edge")
    return subprocess.run(
        [executable, "render", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_render_writes_the_file_and_prints_one_json_line(fixtures: Path, tmp_path: Path) -> None:
    out = tmp_path / "thumb.jpg"
    done = run(str(fixtures / "hdr.jpg"), "--args", "resize=150%2C150", "-o", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    transform = parse_query("resize=150%2C150", LIMITS)
    assert transform is not None
    assert line == {
        "format": "jpeg",
        "width": 150,
        "height": 150,
        "bytes": out.stat().st_size,
        "key": derivative_key("hdr.jpg", transform, "jpeg"),
    }
    with Image.open(out) as image:
        assert image.format == "JPEG"
        assert image.size == (150, 150)


def test_key_and_accept_choose_the_derivative(fixtures: Path, tmp_path: Path) -> None:
    done = run(
        str(fixtures / "Website.png"),
        "--args", "w=300",
        "--key", "uploads/2018/02/site.png",
        "--accept", "image/webp,*/*",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout)
    assert line["format"] == "webp"
    assert line["key"].startswith("_derivatives/uploads/2018/02/site.png/")
    assert line["key"].endswith(".webp")
    written = tmp_path / line["key"].rsplit("/", 1)[-1]  # default: the derivative's file name here
    with Image.open(written) as image:
        assert image.format == "WEBP"
        assert image.size == (300, 178)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--args", "w=abc"], "Invalid w"),
        (["--args", "rotate=45"], "Invalid rotate"),
        (["--args", "crop=5000px,0px,10px,10px"], "crop region"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    fixtures: Path, tmp_path: Path, args: list[str], reason: str
) -> None:
    done = run(str(fixtures / "hdr.jpg"), *args, cwd=tmp_path)
    assert done.returncode == 2
    assert reason in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_refused_images_exit_2(tmp_path: Path) -> None:
    fake = tmp_path / "photo.jpg"
    fake.write_text("not an image at all")
    done = run(str(fake), "--args", "w=100", cwd=tmp_path)
    assert done.returncode == 2
    assert "not a JPEG, PNG, GIF, WebP or AVIF" in done.stderr
    assert "Traceback" not in done.stderr
    missing = run(str(tmp_path / "nothing.jpg"), "--args", "w=100", cwd=tmp_path)
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr
