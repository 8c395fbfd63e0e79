"""The page at ``/`` of ``tachyon-edge dev``, in a real headless Chromium.

Debian's ``chromium`` and ``chromium-driver`` (``scripts/test`` installs them),
driven by Selenium: nothing is downloaded at run time. The page is loaded from
a real ``tachyon-edge dev`` process (embedded S3, worker and local CloudFront);
the test waits for every caption, then checks what a visitor sees: every image
decodes, every caption gives size, bytes, type, the edge's outcome and x-cache,
and the console stays free of errors. A screenshot of the whole page is kept at
``test-artifacts/dev-page.png`` (or under ``$TACHYON_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.local import DevProcess

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = Path(os.environ.get("TACHYON_TEST_ARTIFACTS") or Path(__file__).parent.parent / "test-artifacts")
CAPTION = re.compile(
    r"^\d+×\d+ px · \d+\.\d KiB · image/(jpeg|png|webp|gif) · "
    r"(rendered|hit|queued|passthrough|fallback) · (Hit|Miss) from cloudfront$"
)
#: Chromium as root in a container, with a closed network: no sandbox, GPU, or calls home.
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-default-apps", "--window-size=1400,3000",
)  # fmt: skip


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        message = "chromium and chromium-driver are not installed (scripts/test installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingOptions", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def dev_url(tmp_path: Path) -> Iterator[str]:
    process = DevProcess("--port", "0", cwd=tmp_path)
    try:
        yield process.url()
    finally:
        process.kill()


def test_every_image_decodes_and_every_caption_is_filled(browser: Any, dev_url: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(dev_url)
    captions = "return [...document.querySelectorAll('figcaption .meta')].map(m => m.textContent)"

    def settled(driver: Any) -> bool:
        texts: list[str] = driver.execute_script(captions)
        return bool(texts) and not any(t == "loading…" for t in texts)

    try:
        WebDriverWait(browser, 90, poll_frequency=0.5).until(settled)
    finally:
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1400, max(800, int(height)))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "dev-page.png"
        browser.save_screenshot(str(shot))
        print(f"screenshot of the dev page: {shot}")
    images: list[dict[str, Any]] = browser.execute_script(
        "return [...document.images].map(i => ({src: i.src, complete: i.complete, width: i.naturalWidth}))"
    )
    assert len(images) == 20, "4 sample images, each beside 4 derivatives"
    assert [i for i in images if not (i["complete"] and i["width"] > 0)] == []
    texts: list[str] = browser.execute_script(captions)
    assert len(texts) == len(images)
    assert [t for t in texts if not CAPTION.match(t)] == []
    outcomes = {t.split(" · ")[3] for t in texts}
    assert {"passthrough", "rendered", "queued"} <= outcomes, "originals pass, statics render, the GIF queues"
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
