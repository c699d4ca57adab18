"""The local web page, driven by a real browser: ``autalk app`` on a free loopback port, Debian's chromium
headless through Playwright (no browser download). Upload a face and a wav, wait for a playable video and the AU
plot; a photo without a face shows our message and the server keeps serving. Screenshots before and after are
kept in ``tests/artifacts/app/`` (ignored by git)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile

from photo_fixtures import SR, photo, tone, write_photo, write_untrained_checkpoint

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "app"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium, installed with apt-get when missing; the test is skipped, saying why, if it cannot be."""
    pytest.importorskip("gradio", reason="the web page's extra is not installed: pip install -e '.[app]'")
    pytest.importorskip("playwright", reason="playwright is not installed: pip install -e '.[dev]'")
    if not Path(CHROMIUM).exists():
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            pytest.skip("chromium is missing and cannot be installed here (needs apt-get as root)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        steps = [["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]]
        for step in steps:
            proc = subprocess.run(step, capture_output=True, text=True, env=env, timeout=900)
            if proc.returncode != 0:
                pytest.skip(f"chromium could not be installed ({' '.join(step)}): {proc.stderr.strip()[-300:]}")
    return CHROMIUM


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_page(url: str, server: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"autalk app exited with {server.returncode}: {server.stdout.read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"autalk app did not answer on {url} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory, chromium):
    checkpoint = write_untrained_checkpoint(tmp_path_factory.mktemp("ckpt") / "generator.pt")
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-m", "autalk.cli", "app", "--checkpoint", str(checkpoint),
                             "--port", str(port), "--device", "cpu"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_page(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def upload(page, image: Path, audio: Path) -> None:
    from playwright.sync_api import expect

    page.locator("#photo input[type=file]").set_input_files(str(image))
    page.locator("#speech input[type=file]").set_input_files(str(audio))
    expect(page.locator("#photo img")).to_be_visible(timeout=30_000)
    expect(page.locator("#speech audio").first).to_be_attached(timeout=30_000)


def test_page_animates_an_uploaded_photo_and_explains_a_bad_one(server, chromium, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    face = write_photo(photo("astronaut"), tmp_path / "astronaut.png")
    wall = write_photo(np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))[..., None].repeat(3, 2),
                       tmp_path / "wall.png")
    speech = tmp_path / "speech.wav"
    soundfile.write(str(speech), tone(1.2), SR)

    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900})
        try:
            page = browser.new_page()
            page.goto(server, wait_until="networkidle", timeout=60_000)
            expect(page.locator("#animate")).to_be_visible(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "before.png"), full_page=True)

            upload(page, face, speech)
            page.locator("#animate").click()
            video = page.locator("#result video")
            expect(video).to_be_attached(timeout=120_000)
            page.wait_for_function(
                "() => { const v = document.querySelector('#result video');"
                " return v && v.readyState >= 2 && v.duration > 1.0 && v.videoWidth === 512; }", timeout=60_000)
            expect(page.locator("#au-curves img, #au-curves svg, #au-curves canvas").first).to_be_visible(
                timeout=30_000)
            expect(page.locator("#status")).to_contain_text("Done: 30 frames (1.2 s) at 512x512")
            page.screenshot(path=str(ARTIFACTS / "after.png"), full_page=True)

            page.reload(wait_until="networkidle", timeout=60_000)
            upload(page, wall, speech)
            page.locator("#animate").click()
            expect(page.locator("#status")).to_contain_text("no face found in image", timeout=60_000)
            expect(page.locator("#result video")).to_have_count(0)
            page.screenshot(path=str(ARTIFACTS / "bad_upload.png"), full_page=True)
        finally:
            browser.close()
    with urllib.request.urlopen(server, timeout=10) as response:      # the server survived the bad upload
        assert response.status == 200
