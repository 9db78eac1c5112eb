"""End to end in a real headless Chromium (Playwright): open the page, load the sample
clip, draw a box and click a point, see the preview mask, track to 100 %, review,
correct on a later frame, re-run, and download masks that equal ``samvideo track``'s.

Screenshots of each screen go to ``test-artifacts/ui/``. Skipped, saying why, where
Playwright or Chromium is missing (``make test`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import io
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samvideo.masks import mask_to_box
from tests.helpers import SAMPLES
from tests.ui.conftest import MOVING, REPO, assert_same_masks, cli_masks

ARTIFACTS = REPO / "test-artifacts" / "ui"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    path = os.environ.get("SAMVIDEO_CHROMIUM") or shutil.which("chromium") \
        or shutil.which("chromium-browser")
    if not path:
        pytest.skip("Chromium not found: install Debian's 'chromium' package (make test does "
                    "where apt-get works) or set SAMVIDEO_CHROMIUM=/path/to/chromium")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``samvideo ui`` on a free loopback port, rooted at the repository (GrabCut)."""
    workdir = tmp_path_factory.mktemp("ui-work")
    proc = subprocess.Popen(
        [sys.executable, "-m", "samvideo.cli", "ui", "--port", "0", "--root", str(REPO),
         "--model", "grabcut", "--workdir", str(workdir)],
        cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    line = proc.stdout.readline() if sel.select(timeout=60) else ""
    if not line.startswith("samvideo ui: http://127.0.0.1:"):
        proc.kill()
        raise AssertionError(f"samvideo ui did not start: {line!r} {proc.stderr.read()}")
    yield line.split()[2]
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)


@pytest.fixture(scope="module")
def page(request):
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="Playwright for Python is not installed")
    executable = chromium_path()
    server = request.getfixturevalue("server")  # started only when a browser is at hand
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 860},
                                      accept_downloads=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(server)
        yield page
        browser.close()
        assert not errors, f"JavaScript errors on the page: {errors}"


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


class Canvas:
    """Video pixel coordinates → page coordinates on the frame canvas."""

    def __init__(self, page) -> None:
        self.page = page
        box = page.locator("#canvas").bounding_box()
        width, height = page.evaluate("[canvas.width, canvas.height]")
        self.x0, self.y0 = box["x"], box["y"]
        self.sx, self.sy = box["width"] / width, box["height"] / height

    def at(self, x: float, y: float) -> tuple[float, float]:
        return self.x0 + x * self.sx, self.y0 + y * self.sy

    def drag_box(self, box) -> None:
        x1, y1, x2, y2 = box
        mouse = self.page.mouse
        mouse.move(*self.at(x1, y1))
        mouse.down()
        mouse.move(*self.at((x1 + x2) / 2, (y1 + y2) / 2), steps=4)
        mouse.move(*self.at(x2, y2), steps=4)
        mouse.up()

    def click(self, x: int, y: int) -> None:
        self.page.mouse.click(*self.at(x + 0.5, y + 0.5))  # the pixel's centre


def download(page, kind: str, folder: Path) -> Path:
    with page.expect_download() as info:
        page.click(f"#downloads a[data-kind={kind}]")
    path = folder / info.value.suggested_filename
    info.value.save_as(path)
    return path


def zipped_pngs(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {Path(n).name: zf.read(n) for n in zf.namelist() if n.endswith(".png")}


def wait_shown(page, shown: str, timeout: float = 10_000) -> None:
    """Wait until the canvas shows ``view:frame`` (e.g. ``result:30``)."""
    page.wait_for_function(f"canvas.dataset.shown === {shown!r}", timeout=timeout)


def wait_tracked(page, review_frame: int) -> None:
    """Wait for the run to end and the page to show its result on ``review_frame``."""
    page.wait_for_function("document.getElementById('progress').value >= 100", timeout=60_000)
    wait_shown(page, f"result:{review_frame}", timeout=30_000)
    page.wait_for_selector("#downloads a[data-kind=masks]")


def test_prompt_track_review_correct_download(page, tmp_path):
    # 1. the open screen: the root's folders; open the sample clip by its path
    page.wait_for_selector("#files li[data-path=sample_videos]")
    shot(page, "01-open.png")
    page.fill("#path", MOVING)
    page.click("#open-btn")
    page.wait_for_function("document.getElementById('work').hidden === false")
    page.wait_for_function("document.getElementById('frame-label').textContent.startsWith('0 /')")

    # 2. a box and a foreground click, as in the clip's prompts.json; the preview appears
    prompts = json.loads((SAMPLES / "moving" / "prompts.json").read_text())["objects"]
    canvas = Canvas(page)
    canvas.drag_box(prompts[0]["box"])
    canvas.click(*prompts[0]["points"][0])
    page.wait_for_function("document.getElementById('canvas').dataset.preview === '0'",
                           timeout=5_000)
    assert "object 1: score" in page.inner_text("#preview-info")
    shot(page, "02-prompt-preview.png")

    # 3. track: progress to 100 %, frames appear as they are made
    page.click("#track")
    page.wait_for_function("canvas.dataset.shown.startsWith('live:') || "
                           "document.getElementById('progress').value >= 100")
    shot(page, "03-tracking.png")
    wait_tracked(page, 0)
    text = page.inner_text("#progress-text")
    assert "48 / 48 frames" in text and "100 %" in text and "complete" in text
    shot(page, "04-tracked.png")

    # the page's prompts are the prompts file's, and its masks are the CLI's
    saved = json.loads(download(page, "prompts", tmp_path).read_text())["objects"]
    assert saved == prompts
    masks = download(page, "masks", tmp_path)
    assert_same_masks(zipped_pngs(masks), cli_masks(REPO / MOVING, saved, tmp_path / "cli1"))

    # 4. review: step to frame 30 of the overlay
    page.locator("#frame").fill("29")
    page.click("#next")
    wait_shown(page, "result:30")
    assert page.is_checked("#show-result")
    shot(page, "05-review.png")

    # 5. correct object 1 on frame 30 with a new box, and re-run from there
    truth = np.asarray(Image.open(SAMPLES / "moving" / "masks" / "00030.png")) > 0
    box = [round(v) for v in mask_to_box(truth)]
    canvas.drag_box(box)
    page.wait_for_function("document.getElementById('canvas').dataset.preview === '30'",
                           timeout=5_000)
    assert not page.is_checked("#show-result")
    shot(page, "06-correction.png")
    page.click("#track")
    page.wait_for_function("S.run !== null && S.run.run_id === 2")
    wait_tracked(page, 30)
    shot(page, "07-rerun.png")
    (tmp_path / "b").mkdir()
    saved = json.loads(download(page, "prompts", tmp_path / "b").read_text())["objects"]
    assert saved == [*prompts, {"id": 1, "frame": 30, "box": box, "points": [],
                                "neg_points": []}]
    masks = download(page, "masks", tmp_path / "b")
    assert_same_masks(zipped_pngs(masks), cli_masks(REPO / MOVING, saved, tmp_path / "cli2"))
    with zipfile.ZipFile(masks) as zf:
        assert len(zf.namelist()) == 48
    labels = np.asarray(Image.open(io.BytesIO(zipped_pngs(masks)["00030.png"])))
    assert ((labels == 1) & truth).sum() / ((labels == 1) | truth).sum() > 0.8
