"""Launchers shared by the tests: the local CloudFront in-process, ``tachyon-edge dev`` as a process.

- ``cloudfront(settings, ...)``: a ``LocalCloudFront`` on aiohttp's test server, with the
  answers it logged (``served``), an injectable cache clock (``clock``) and its other
  options (``origins``, ``failover_request``);
- ``Recorder``: the real ``Edge`` as triggers, keeping a copy of every event it is given;
- ``exact(client, target)``: a URL exactly as written (aiohttp would decode ``%2C``);
- ``DevProcess``: ``tachyon-edge dev`` in a subprocess, its URL read from the banner.
"""

from __future__ import annotations

import asyncio
import copy
import os
import select
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from core.settings import Settings
from edge.flow import Edge
from edge.local.cache import ResponseCache
from edge.local.cloudfront import LocalCloudFront, Served, Triggers

Client = TestClient[Any, Any]


class Clock:
    """A monotonic clock the test moves by hand (the local cache's expiry without sleeping)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Distribution:
    """A running local CloudFront: its test client and what it answered."""

    client: Client
    local: LocalCloudFront
    served: list[Served] = field(default_factory=list)


class Recorder:
    """The real ``Edge``, plus a copy of every event it was given (what CloudFront sent)."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge
        self.requests: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []

    async def origin_request(self, event: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(copy.deepcopy(event))
        return await self.edge.origin_request(event)

    async def origin_response(self, event: dict[str, Any]) -> dict[str, Any]:
        self.responses.append(copy.deepcopy(event))
        return await self.edge.origin_response(event)

    async def close(self) -> None:
        await self.edge.close()


@asynccontextmanager
async def cloudfront(
    settings: Settings, triggers: Triggers | None = None, *, clock: Clock | None = None, **options: Any
) -> AsyncIterator[Distribution]:
    """The local CloudFront in front of ``settings``' S3 (the real edge unless ``triggers``)."""
    served: list[Served] = []
    cache = ResponseCache(clock=clock) if clock is not None else None
    local = LocalCloudFront(settings, triggers, cache=cache, on_request=served.append, **options)
    async with TestClient(TestServer(local.app())) as client:
        yield Distribution(client, local, served)


def exact(client: Client, target: str) -> URL:
    """The server's URL for ``target`` exactly as written (aiohttp's client would decode ``%2C``)."""
    return URL(str(client.make_url("/")).rstrip("/") + target, encoded=True)


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


class DevProcess:
    """``tachyon-edge dev`` in a subprocess (no ``TACHYON_*`` from the test environment)."""

    def __init__(self, *args: str, cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TACHYON_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from cli import main; main()", "dev", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
        self.banner = ""

    def read_until(self, marker: str, timeout: float = 60) -> str:
        """stdout lines until one contains ``marker``; everything read so far."""
        stdout = self.proc.stdout
        assert stdout is not None
        deadline = time.monotonic() + timeout
        while marker not in self.banner:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.proc.poll() is not None:
                stderr = self.proc.stderr.read() if self.proc.stderr and self.proc.poll() is not None else ""
                pytest.fail(f"`tachyon-edge dev` did not print {marker!r}:\n{self.banner}\n{stderr}")
            if select.select([stdout], [], [], remaining)[0]:
                self.banner += stdout.readline()
        return self.banner

    def url(self, timeout: float = 60) -> str:
        """The local CloudFront's URL, once the banner names it."""
        return self.read_until("Local CloudFront:", timeout).split("Local CloudFront:")[1].split()[0]

    def stop(self, signum: int) -> tuple[int, str]:
        """Send ``signum``, wait for the exit; (exit status, stderr)."""
        self.proc.send_signal(signum)
        _, stderr = self.proc.communicate(timeout=30)
        return self.proc.returncode, stderr

    def kill(self) -> None:
        """Make sure the process is gone (after a failed assertion)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
