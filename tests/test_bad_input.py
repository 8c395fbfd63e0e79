"""Bad input at every door: argument values of any length, broken images, stable reasons.

A refusal reason is logged, recorded for failed jobs and compared across runs,
so it must name what is wrong in a few words and be the same every time: no
memory address, nothing that changes between processes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.args import parse_query
from core.errors import InvalidArgument
from core.settings import Settings
from tests.helpers import LIMITS
from tests.local import cloudfront, exact, run

#: Every argument whose value is, or holds, a number.
NUMERIC = ("w", "h", "quality", "zoom", "rotate", "resize", "fit", "lb", "crop")
ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}|object at ")
SHORT = 200  # characters: a reason fits on one line of a log


def numeric_query(name: str, number: str) -> str:
    """``name`` given ``number`` where it takes one (both sides of a pair, a region's width)."""
    if name in ("resize", "fit", "lb"):
        return f"{name}={number},{number}"
    if name == "crop":
        return f"crop=0,0,{number},10"
    return f"{name}={number}"


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize("digits", [20, 400, 5000])
def test_a_number_of_any_length_is_an_invalid_argument_naming_it(name: str, digits: int) -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse_query(numeric_query(name, "9" * digits), LIMITS)
    assert raised.value.name == name
    assert len(raised.value.reason) < SHORT, raised.value.reason
    shown_whole = "9" * digits in raised.value.reason
    assert shown_whole or f"({digits:,} characters)" in raised.value.reason, raised.value.reason


@given(
    name=st.sampled_from(NUMERIC),
    number=st.from_regex(r"\A[0-9]{1,600}(\.[0-9]{1,300})?(px)?\Z"),
)
def test_any_numeric_value_parses_or_is_refused_in_a_short_reason(name: str, number: str) -> None:
    try:
        parse_query(numeric_query(name, number), LIMITS)
    except InvalidArgument as invalid:
        assert invalid.name == name
        assert len(invalid.reason) < SHORT, invalid.reason


def test_digits_other_than_ascii_are_not_numbers() -> None:
    with pytest.raises(InvalidArgument) as raised:  # Arabic-Indic 300
        parse_query("w=\u0663\u0660\u0660", LIMITS)
    assert raised.value.name == "w"


def test_the_edge_answers_a_huge_number_with_a_short_400(
    s3_endpoint: str, s3_client: Any, bucket: str, redis_url: str, fixtures: Path
) -> None:
    s3_client.put_object(Bucket=bucket, Key="hdr.jpg", Body=(fixtures / "hdr.jpg").read_bytes())
    settings = Settings(bucket=bucket, s3_endpoint=s3_endpoint, broker_url=redis_url, lock_url=redis_url)

    async def test() -> None:
        async with cloudfront(settings) as distribution:
            client = distribution.client
            response = await client.session.get(exact(client, "/hdr.jpg?w=" + "9" * 400))
            body = await response.text()
            assert response.status == 400, body[:300]
            assert response.headers["x-tachyon"] == "invalid"
            assert body.startswith("Invalid w:")
            assert len(body) < SHORT

    run(test)


def test_the_cli_refuses_a_huge_number_in_one_line(fixtures: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from cli import main; main()", "render", str(fixtures / "hdr.jpg"),
         "--args", "quality=" + "9" * 5000],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Invalid quality:" in lines[0] and len(lines[0]) < SHORT + 40


def test_refusal_reasons_of_broken_images_are_the_same_in_every_process() -> None:
    """Two processes (different hash seeds, different heap layouts) give identical reasons."""
    root = Path(__file__).parent.parent

    def start(seed: str) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        command = [sys.executable, "-m", "tests.bad_inputs"]
        return subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, text=True)

    first, second = start("1"), start("2")
    outputs = [process.communicate(timeout=240)[0] for process in (first, second)]
    assert first.returncode == 0 and second.returncode == 0
    a, b = (json.loads(output) for output in outputs)
    assert len(a) > 100
    assert sum(reason != "ok" for reason in a.values()) > 50, "the corpus must mostly be refused"
    assert a == b
    for name, reason in a.items():
        assert not ADDRESS.search(reason), f"{name}: {reason}"
        assert len(reason) < SHORT, f"{name}: {reason}"
