"""End to end in a real headless Chromium (Playwright), as a person uses the page: open
the sample clip, draw a box and click a point, see the preview mask, track to 100 %,
review, correct on a later frame, re-run, and download masks that equal ``samvideo
track``'s; the page's state belongs to the open video and survives a reload; what it
says is true (frames not tracked, stale downloads, errors in the user's words); the
review draws one box per object, keeps the other objects while one is corrected and
plays at the clip's rate; the timeline, tracking both ways, names, show / hide and
opacity, a frame range, importing prompts, keyboard shortcuts, the GrabCut warning.

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
from tests.helpers import SAMPLES, make_frames, write_clip
from tests.ui.conftest import MOVING, REPO, assert_same_masks, cli_masks

ARTIFACTS = REPO / "test-artifacts" / "ui"
TWO = "sample_videos/two_objects/video.mp4"
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


def start_ui(workdir: Path, *args: str, env: dict | None = None):
    """``samvideo ui`` on a free loopback port, rooted at the repository; (process, url)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "samvideo.cli", "ui", "--port", "0", "--root", str(REPO),
         "--workdir", str(workdir), *args],
        cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})})
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    line = proc.stdout.readline() if sel.select(timeout=60) else ""
    if not line.startswith("samvideo ui: http://127.0.0.1:"):
        proc.kill()
        raise AssertionError(f"samvideo ui did not start: {line!r} {proc.stderr.read()}")
    return proc, line.split()[2]


def stop_ui(proc) -> None:
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)


@pytest.fixture
def server(browser, tmp_path):
    """A fresh ``samvideo ui`` (GrabCut) for each test: the server keeps what the page
    holds for each video, and the tests must not see each other's."""
    proc, url = start_ui(tmp_path / "ui-work", "--model", "grabcut")
    yield url
    stop_ui(proc)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="Playwright for Python is not installed")
    executable = chromium_path()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Tab:
    """A page of its own (a fresh browser context), recording JavaScript errors and
    failed requests (a 404 is a page asking for what does not exist)."""

    def __init__(self, browser, url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 860},
                                           accept_downloads=True)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("response", lambda r: self.failed.append(f"{r.status} {r.url}")
                     if r.status >= 400 else None)
        self.page.goto(url)

    def close(self) -> None:
        self.context.close()
        assert not self.errors, f"JavaScript errors on the page: {self.errors}"


@pytest.fixture
def tab(browser, server):
    t = Tab(browser, server)
    yield t
    t.close()


@pytest.fixture(scope="module")
def long_clip() -> str:
    """A 400-frame clip under the root (test-artifacts is not committed): long enough to
    stop a run half-way."""
    path = ARTIFACTS / "clips" / "long.mp4"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_clip(path, make_frames(400, velocity=(0.5, 0.25)))
    return str(path.relative_to(REPO))


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


def open_clip(page, path: str) -> None:
    page.wait_for_selector("#files li[data-path=sample_videos]", state="attached")
    page.evaluate("document.getElementById('open-panel').open = true")
    page.fill("#path", path)
    page.click("#open-btn")
    page.wait_for_function(f"canvas.dataset.video === {path!r}")


def download(page, kind: str, folder: Path) -> Path:
    with page.expect_download() as info:
        page.click(f"#downloads a[data-kind={kind}]")
    path = folder / info.value.suggested_filename
    info.value.save_as(path)
    return path


def zipped_pngs(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {Path(n).name: zf.read(n) for n in zf.namelist() if n.endswith(".png")}


def wait_shown(page, shown: str, timeout: float = 10_000, *, prefix: bool = False) -> None:
    """Wait until the canvas shows ``view:frame`` (e.g. ``result:30``)."""
    test = f"(canvas.dataset.shown || '').startsWith({shown!r})" if prefix else \
        f"canvas.dataset.shown === {shown!r}"
    page.wait_for_function(test, timeout=timeout)


def track(page, review_frame: int, *, view: str = "result") -> int:
    """Click Track (or Re-run), wait for the run to end and its review on
    ``review_frame``; returns the run's id."""
    before = page.evaluate("S.run ? S.run.run_id : 0")
    page.click("#track")
    page.wait_for_function(f"S.run !== null && S.run.run_id > {before}")
    page.wait_for_function("['complete', 'interrupted'].includes(S.run.state) && "
                           "!S.polling && S.tracks !== null", timeout=90_000)
    wait_shown(page, f"{view}:{review_frame}", timeout=30_000)
    return page.evaluate("S.run.run_id")


def truth_box(clip: str, frame: int, object_id: int = 1) -> list[int]:
    labels = np.asarray(Image.open(REPO / Path(clip).parent / "masks" / f"{frame:05d}.png"))
    return [round(v) for v in mask_to_box(labels == object_id)]


TINTED = """(id) => {  // how many pixels of object id's mask the canvas shows tinted
  const w = canvas.width, h = canvas.height;
  const plain = document.createElement('canvas');
  plain.width = w; plain.height = h;
  const p = plain.getContext('2d');
  p.drawImage(S.image, 0, 0, w, h);
  const a = p.getImageData(0, 0, w, h).data, b = ctx.getImageData(0, 0, w, h).data;
  let n = 0, tinted = 0, diff = 0;
  for (let i = 0; i < w * h; i++) {
    if (!S.result || S.result.ids[i] !== id) continue;
    const d = Math.abs(a[4*i]-b[4*i]) + Math.abs(a[4*i+1]-b[4*i+1]) + Math.abs(a[4*i+2]-b[4*i+2]);
    n++; diff += d; if (d > 30) tinted++;
  }
  return [n, tinted, n ? diff / n : 0];
}"""


def test_prompt_track_review_correct_download(tab, tmp_path):
    page = tab.page
    # 1. the open screen: the root's folders; open the sample clip by its path
    page.wait_for_selector("#files li[data-path=sample_videos]")
    shot(page, "01-open.png")
    open_clip(page, MOVING)

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
    page.wait_for_function("S.run.state === 'complete' && S.tracks !== null", timeout=60_000)
    wait_shown(page, "result:0", timeout=30_000)
    text = page.inner_text("#progress-text")
    assert "48 / 48 frames" in text and "100 %" in text and "complete" in text
    shot(page, "04-tracked.png")

    # the page's prompts are the prompts file's, and its masks are the CLI's
    saved = json.loads(download(page, "prompts", tmp_path).read_text())["objects"]
    assert saved == prompts
    masks = download(page, "masks", tmp_path)
    assert_same_masks(zipped_pngs(masks), cli_masks(REPO / MOVING, saved, tmp_path / "cli1"))

    # 4. review: step to frame 30 of the result
    page.locator("#frame").fill("29")
    page.click("#next")
    wait_shown(page, "result:30")
    assert page.is_checked("#show-result")
    assert page.inner_text("#frame-state").startswith("tracked by run")
    shot(page, "05-review.png")

    # 5. correct object 1 on frame 30 with a new box, and re-run from there; the result
    # stays on (issue 15 item 12: correcting one object does not hide the others)
    box = truth_box(MOVING, 30)
    canvas.drag_box(box)
    page.wait_for_function("document.getElementById('canvas').dataset.preview === '30'",
                           timeout=5_000)
    assert page.is_checked("#show-result")
    assert page.is_visible("#stale")  # the downloads are the last run's: said so
    shot(page, "06-correction.png")
    track(page, 30)
    assert not page.is_visible("#stale")
    shot(page, "07-rerun.png")
    (tmp_path / "b").mkdir()
    saved = json.loads(download(page, "prompts", tmp_path / "b").read_text())["objects"]
    assert saved == [*prompts, {"id": 1, "frame": 30, "box": box, "points": [],
                                "neg_points": []}]
    masks = download(page, "masks", tmp_path / "b")
    assert_same_masks(zipped_pngs(masks), cli_masks(REPO / MOVING, saved, tmp_path / "cli2"))
    with zipfile.ZipFile(masks) as zf:
        assert len(zf.namelist()) == 48
    truth = np.asarray(Image.open(SAMPLES / "moving" / "masks" / "00030.png")) > 0
    labels = np.asarray(Image.open(io.BytesIO(zipped_pngs(masks)["00030.png"])))
    assert ((labels == 1) & truth).sum() / ((labels == 1) | truth).sum() > 0.8
    assert not tab.failed, tab.failed


def test_the_page_belongs_to_the_open_video_and_survives_a_reload(tab):
    """Issue 15 item 9: open A, track, open B, reload: the Result panel showed A's run
    under B, its overlay downloaded A's file, toggling the overlay 404'd, and a reload
    lost every prompt."""
    page = tab.page
    open_clip(page, MOVING)
    Canvas(page).drag_box(truth_box(MOVING, 0))
    page.wait_for_function("canvas.dataset.preview === '0'", timeout=5_000)
    run_a = track(page, 0)
    open_clip(page, TWO)
    page.reload()
    wait_shown(page, "source:0")
    assert page.is_hidden("#review-panel") and page.inner_text("#track") == "Track"
    assert page.evaluate("document.getElementById('timeline').dataset.prompts") == ""
    shot(page, "08-reload-other-video.png")

    # B's prompts are B's: they come back with a reload, as A's come back with A
    Canvas(page).drag_box(truth_box(TWO, 0, 2))
    page.wait_for_function("canvas.dataset.preview === '0'", timeout=5_000)
    page.wait_for_timeout(500)  # the page keeps its state with the server
    page.reload()
    wait_shown(page, "source:0")
    assert page.evaluate("timeline.dataset.prompts") == "1@0:start"
    open_clip(page, MOVING)
    page.wait_for_function(f"S.run !== null && S.run.run_id === {run_a}")
    wait_shown(page, "result:0")
    assert page.inner_text("#track") == "Re-run"
    assert page.evaluate("timeline.dataset.prompts") == "1@0:start"
    page.reload()
    wait_shown(page, "result:0")
    page.click("#show-result")  # toggling the result asks for nothing missing
    wait_shown(page, "source:0")
    page.click("#show-result")
    wait_shown(page, "result:0")
    assert page.get_attribute("#downloads a[data-kind=overlay]", "href") == \
        f"/api/run/{run_a}/download/overlay"
    assert not tab.failed, tab.failed


def test_what_the_page_says_is_true(tab, long_clip):
    """Issue 15 item 10: after a Stop, or before an object's first prompt, frames looked
    tracked (a 404 behind them); the preview stats stayed at frame 0's; an error stayed
    after later successes; Re-run stayed on the button after opening another clip."""
    page = tab.page
    open_clip(page, long_clip)
    page.click("#track")  # no prompt yet: an error...
    page.wait_for_function("document.getElementById('message').className === 'error'")
    page.locator("#frame").fill("10")
    wait_shown(page, "source:10")
    Canvas(page).drag_box((14, 30, 62, 72))
    page.wait_for_function("canvas.dataset.preview === '10'", timeout=5_000)
    assert page.get_attribute("#message", "class") == ""  # ...gone after a success
    preview_info = page.inner_text("#preview-info")
    page.click("#track")
    page.wait_for_function("S.run !== null && S.run.frames_done >= 60", timeout=60_000)
    page.click("#stop")
    page.wait_for_function("S.run.state === 'interrupted' && S.tracks !== null",
                           timeout=30_000)
    last = page.evaluate("S.run.tracked[1]")
    assert 60 <= last < 399
    page.locator("#frame").fill(str(last + 5))
    wait_shown(page, f"source:{last + 5}")  # not drawn as tracked
    assert page.inner_text("#frame-state") == \
        f"not tracked: run {page.evaluate('S.run.run_id')} stopped after frame {last}"
    shot(page, "09-after-stop.png")
    page.locator("#frame").fill("5")
    wait_shown(page, "source:5")
    assert page.inner_text("#frame-state") == \
        "tracked: no object yet (the first prompt is on frame 10)"
    assert page.inner_text("#preview-info") == ""  # not frame 10's figures
    page.locator("#frame").fill("20")
    wait_shown(page, "result:20")
    stats = page.inner_text("#preview-info")
    assert stats.startswith("object 1: ") and stats != preview_info
    assert page.inner_text("#track") == "Re-run"
    open_clip(page, MOVING)
    assert page.inner_text("#track") in ("Track", "Re-run")
    assert page.inner_text("#track") == ("Re-run" if page.evaluate("S.run !== null")
                                         else "Track")
    assert not tab.failed, tab.failed


def test_errors_speak_of_the_users_file(tab, tmp_path):
    """Issue 15 item 11: 'not a readable video: [Errno 1094995529] Invalid data found …
    '…/broken.mp4' (errno, an unbalanced quote), the server's temporary paths and upload
    prefixes; a long error wrapped the header."""
    page = tab.page
    page.wait_for_selector("#files li[data-path=sample_videos]")
    header = page.locator("header").bounding_box()["height"]
    cases = {"broken.mp4": b"\x00\x00\x00\x18ftypmp42" + os.urandom(3000),
             "notes.txt": b"shopping list\n" * 40, "empty.mp4": b""}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        page.set_input_files("#upload-file", str(tmp_path / name))
        page.click("#upload-btn")
        page.wait_for_function(f"document.getElementById('message').title.startsWith("
                               f"{name!r})")
        message = page.get_attribute("#message", "title")
        assert page.get_attribute("#message", "class") == "error"
        for leak in ("Errno", "uploads", "00", "/tmp", "samvideo-ui", "Traceback"):
            assert leak not in message, message
        assert message.count("'") % 2 == 0, message
        expected = {"empty.mp4": "empty.mp4 is empty (0 bytes): choose the video file itself",
                    "notes.txt": "notes.txt is text, not a video",
                    "broken.mp4": "broken.mp4 is not a video samvideo can read (invalid data "
                                  "found when processing input)"}[name]
        assert message == expected
        assert page.locator("header").bounding_box()["height"] == header  # one line
    shot(page, "10-error.png")


def test_review_draws_one_box_keeps_the_others_and_plays_at_the_clips_rate(tab):
    """Issue 15 item 12: on a prompted frame the prompt box was drawn over the tracked
    box; while correcting, the other objects' masks disappeared; playback ran at ~7 fps
    whatever the clip's rate."""
    page = tab.page
    open_clip(page, TWO)
    canvas = Canvas(page)
    for object_id in (1, 2):
        if object_id == 2:
            page.click("#add-object")
        canvas.drag_box(truth_box(TWO, 0, object_id))
        page.wait_for_function("canvas.dataset.preview === '0' && S.preview.objects.length "
                               f"=== {object_id}", timeout=5_000)
    track(page, 0)
    drawn = page.evaluate("canvas.dataset.drawn").split(",")
    assert sorted(drawn) == ["1:prompt", "2:prompt"]  # one box each, the user's
    page.locator("#frame").fill("20")
    wait_shown(page, "result:20")
    n, tinted, _ = page.evaluate(TINTED, 2)
    assert n > 200 and tinted > 0.9 * n
    # correct object 1 on frame 20: object 2 stays drawn, its tracked box and label too
    page.click("#objects li[data-id='1']")
    canvas.drag_box(truth_box(TWO, 20, 1))
    page.wait_for_function("canvas.dataset.preview === '20'", timeout=5_000)
    wait_shown(page, "result:20")
    n, tinted, _ = page.evaluate(TINTED, 2)
    assert n > 200 and tinted > 0.9 * n
    assert "2:label" in page.evaluate("canvas.dataset.drawn").split(",")
    shot(page, "11-correcting.png")
    page.click("#undo")  # back to the run's prompts

    # space plays from frame 0 to the end, at the clip's 24 frames/s
    page.locator("#frame").fill("0")
    wait_shown(page, "result:0")
    page.locator("body").click(position={"x": 5, "y": 850})  # nothing focused
    page.keyboard.press("Space")
    page.wait_for_function("canvas.dataset.played !== undefined", timeout=30_000)
    played = json.loads(page.evaluate("canvas.dataset.played"))
    clip_s = 47 / 24
    assert played["from"] == 0 and played["to"] == 47, played
    assert 0.85 * clip_s <= played["seconds"] <= 2.0 * clip_s, played
    assert played["shown"] >= 12, played
    assert not tab.failed, tab.failed


def test_timeline_both_ways_names_visibility_opacity_range_import_keys(tab, tmp_path):
    """Issue 15 item 14 on the page."""
    page = tab.page
    open_clip(page, MOVING)
    canvas = Canvas(page)
    page.locator("#frame").fill("30")
    wait_shown(page, "source:30")
    canvas.drag_box(truth_box(MOVING, 30))
    page.wait_for_function("canvas.dataset.preview === '30'", timeout=5_000)
    page.locator("#frame").fill("40")
    wait_shown(page, "source:40")
    canvas.drag_box(truth_box(MOVING, 40))
    page.wait_for_function("canvas.dataset.preview === '40'", timeout=5_000)
    # Ctrl-Z undoes the last change; a box on frame 10 drawn and taken back
    page.locator("#frame").fill("10")
    wait_shown(page, "source:10")
    canvas.drag_box((10, 10, 60, 60))
    page.wait_for_function("timeline.dataset.prompts.includes('1@10')")
    page.keyboard.press("Control+z")
    page.wait_for_function("timeline.dataset.prompts === '1@30:start,1@40:correction'")
    page.fill("#objects li[data-id='1'] input.name", "red square")
    page.press("#objects li[data-id='1'] input.name", "Enter")
    page.select_option("#direction", "both")
    track(page, 10)
    assert page.evaluate("timeline.dataset.tracked") == "0-47"  # frames 0-29 too
    assert page.inner_text("#frame-state").startswith("tracked by run")
    shot(page, "12-timeline-both-ways.png")
    records = [json.loads(x) for x in download(page, "jsonl", tmp_path).read_text().split("\n")
               if x]
    assert [r["frame"] for r in records] == list(range(48))
    assert {r["name"] for r in records} == {"red square"}

    # show / hide and opacity act on the drawing
    page.fill("#opacity", "0.9")
    page.dispatch_event("#opacity", "input")
    strong = page.evaluate(TINTED, 1)[2]
    page.fill("#opacity", "0.2")
    page.dispatch_event("#opacity", "input")
    weak = page.evaluate(TINTED, 1)[2]
    assert strong > 2 * weak > 0
    page.uncheck("#objects li[data-id='1'] input.visible")
    n, tinted, _ = page.evaluate(TINTED, 1)
    assert n > 0 and tinted == 0
    page.check("#objects li[data-id='1'] input.visible")

    # a frame range: only frames 25-45 are tracked
    page.fill("#range-first", "25")
    page.fill("#range-last", "45")
    page.dispatch_event("#range-last", "change")
    page.select_option("#direction", "forward")
    page.locator("#frame").fill("35")
    wait_shown(page, "result:35")
    track(page, 35)
    assert page.evaluate("timeline.dataset.tracked") == "25-45"  # 25-29: no object yet
    page.locator("#frame").fill("26")
    wait_shown(page, "source:26")
    assert page.inner_text("#frame-state").startswith("tracked: no object yet")

    # importing a prompts file replaces the prompts, names included
    prompts = tmp_path / "imported.json"
    prompts.write_text(json.dumps({"objects": [
        {"id": 3, "frame": 5, "box": truth_box(MOVING, 5), "name": "imported"},
        {"id": 3, "frame": 12, "points": [[80, 150]]}]}))
    page.set_input_files("#import-file", str(prompts))
    page.wait_for_function("timeline.dataset.prompts === '3@5:start,3@12:correction'")
    assert page.input_value("#objects li[data-id='3'] input.name") == "imported"
    assert page.inner_text("#message").startswith("imported imported.json: 1 object(s)")
    assert not tab.failed, tab.failed


def test_the_grabcut_fallback_is_warned_on_the_page(browser, tmp_path):
    proc, url = start_ui(tmp_path / "work", env={"SAMVIDEO_HOME": str(tmp_path / "no-weights")})
    try:
        tab = Tab(browser, url)
        tab.page.wait_for_selector("#warning:not([hidden])")
        assert tab.page.inner_text("#warning").startswith("No SAM checkpoint was found, so "
                                                          "this page uses GrabCut")
        shot(tab.page, "13-grabcut-warning.png")
        tab.close()
    finally:
        stop_ui(proc)
