"""Watching a run as it goes: an MJPEG stream over HTTP and an OpenCV window.

* :class:`MjpegServer` (``--preview HOST:PORT``): the standard library's
  ``http.server`` in a background thread. ``GET /`` is a small page, ``GET
  /stream.mjpg`` the live overlay as ``multipart/x-mixed-replace`` JPEG parts (what a
  browser's ``<img>`` plays), ``GET /frame.jpg`` the newest frame alone.
  :meth:`MjpegServer.publish` never blocks: it keeps the newest frame, and one encoder
  thread draws and JPEG-encodes it only while someone watches, at most ``max_fps``
  times a second, so a preview never slows tracking down.
* :class:`WindowPreview` (``--show``): ``cv2.imshow`` from the caller's thread, where
  a display exists; :func:`check_display` says clearly when none does.

Frames are (H, W, 3) uint8 RGB (BGR only at the OpenCV edge).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np

from samvideo.annotate import MaskAnnotator
from samvideo.results import FrameResult

DEFAULT_HOST = "127.0.0.1"  # only this machine can watch unless asked otherwise
BOUNDARY = "samvideoframe"

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>samvideo live</title>
<style>body{{margin:0;background:#111;color:#ddd;font:14px sans-serif}}
img{{display:block;max-width:100vw;max-height:95vh;margin:auto}}</style></head>
<body><img src="/stream.mjpg" alt="samvideo live overlay"><p>{title}</p></body></html>
"""


def parse_address(text: str, *, default_host: str = DEFAULT_HOST) -> tuple[str, int]:
    """``"HOST:PORT"``, ``":PORT"``, ``"PORT"`` or ``"[::1]:PORT"`` → ``(host, port)``.

    Port 0 asks for a free port. Raises ValueError naming the bad value.
    """
    host, sep, port_text = text.strip().rpartition(":")
    if not sep:
        host, port_text = "", text.strip()
    host = host.strip("[]") or default_host
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ValueError(f"preview address {text!r} is not HOST:PORT with a port 0..65535 "
                         "(e.g. 127.0.0.1:8765 or :8765)")
    return host, port


def render_result(item: Any, annotator: MaskAnnotator | None = None) -> np.ndarray:
    """An RGB image for ``item``: a :class:`FrameResult` is drawn with ``annotator``;
    an (H, W, 3) uint8 array is shown as is."""
    if isinstance(item, FrameResult):
        if item.image is None:
            raise ValueError(f"frame {item.frame_index} has no image to preview")
        return (annotator or MaskAnnotator()).annotate(item.image, item)
    rgb = np.asarray(item)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"preview frame must be (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    return rgb


def encode_jpeg(rgb: np.ndarray, quality: int = 80) -> bytes:
    """JPEG bytes of an (H, W, 3) uint8 RGB image."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 image
        raise RuntimeError(f"JPEG encoding of a {rgb.shape} frame failed")
    return buf.tobytes()


class MjpegServer:
    """Serve the newest published frame as an MJPEG stream over HTTP.

    Use as a context manager, or call :meth:`close`::

        with MjpegServer("127.0.0.1", 8765) as preview:
            for result in results:
                preview.publish(result)
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,  # loopback: the preview is not on the network unless asked
        port: int = 8765,  # 0 = any free port (read it back from .port / .url)
        *,
        render: Callable[[Any], np.ndarray] | None = None,  # item → RGB; None = render_result
        quality: int = 80,  # JPEG quality: clear masks and edges at a few tens of kB per frame
        max_fps: float = 30.0,  # encode at most this often: a browser needs no more
        title: str = "samvideo",  # shown under the picture on the page
    ) -> None:
        if not 1 <= quality <= 100:
            raise ValueError(f"quality={quality!r} must be within 1..100")
        if max_fps <= 0:
            raise ValueError(f"max_fps={max_fps!r} must be positive")
        self.render = render or render_result
        self.quality = quality
        self.min_interval = 1.0 / max_fps
        self.title = title
        self._cond = threading.Condition()
        self._item: Any = None
        self._item_seq = 0
        self._jpeg: bytes | None = None
        self._jpeg_seq = 0
        self._watchers = 0
        self._closed = False
        #: the last error of the encoder thread (a frame that could not be drawn)
        self.error: BaseException | None = None
        try:
            self._httpd = _Server((host, port), _handler_for(self))
        except OSError as exc:
            raise ValueError(f"preview address {host}:{port} cannot be served: "
                             f"{exc.strerror or exc}") from None
        self.host, self.port = host, self._httpd.server_address[1]
        self._threads = [
            threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                             name="samvideo-preview-http", daemon=True),
            threading.Thread(target=self._encode_loop, name="samvideo-preview-jpeg",
                             daemon=True),
        ]
        for t in self._threads:
            t.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def __enter__(self) -> MjpegServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def publish(self, item: Any) -> None:
        """Offer a new frame (a :class:`FrameResult` or an RGB array); never blocks."""
        with self._cond:
            self._item = item
            self._item_seq += 1
            self._cond.notify_all()

    def close(self) -> None:
        """Stop serving; open streams end."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()
        for t in self._threads:
            t.join(timeout=2.0)

    # -- encoder thread ----------------------------------------------------------------

    def _encode_loop(self) -> None:
        last = 0.0
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or (
                    self._watchers > 0 and self._item_seq != self._jpeg_seq))
                if self._closed:
                    return
                item, seq = self._item, self._item_seq
            wait = last + self.min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            last = time.monotonic()
            try:
                jpeg = encode_jpeg(self.render(item), self.quality)
            except Exception as exc:  # a preview must never end the run
                self.error = exc
                jpeg = None
            with self._cond:
                if jpeg is not None:
                    self._jpeg = jpeg
                self._jpeg_seq = seq
                self._cond.notify_all()

    # -- what the handlers use ---------------------------------------------------------

    @contextlib.contextmanager
    def _watching(self):
        with self._cond:
            self._watchers += 1
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._watchers -= 1

    def _next_jpeg(self, after: int, timeout: float) -> tuple[bytes | None, int]:
        """The newest JPEG once it is newer than sequence ``after`` (or None on timeout /
        close), with its sequence number."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or (
                self._jpeg is not None and self._jpeg_seq != after), timeout)
            if self._closed or self._jpeg is None or self._jpeg_seq == after:
                return None, after
            return self._jpeg, self._jpeg_seq

    def _latest_jpeg(self, timeout: float) -> bytes | None:
        """The JPEG of the newest published frame, waiting up to ``timeout`` for the
        encoder to catch up (an older one after that; None before any)."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or (
                self._jpeg is not None and self._jpeg_seq == self._item_seq), timeout)
            return None if self._closed else self._jpeg

    @property
    def closed(self) -> bool:
        return self._closed


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a watcher left open never keeps the process alive
    allow_reuse_address = True


def _handler_for(preview: MjpegServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # a watcher that stops reading is dropped after this many seconds
        server_version = "samvideo-preview"

        def log_message(self, format: str, *args: Any) -> None:  # the library never prints
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, "text/html; charset=utf-8",
                           _PAGE.format(title=preview.title).encode())
            elif path == "/frame.jpg":
                self._frame()
            elif path == "/stream.mjpg":
                self._stream()
            else:
                self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")

        def _send(self, status: HTTPStatus, ctype: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _frame(self) -> None:
            with preview._watching():
                jpeg = preview._latest_jpeg(timeout=5.0)
            if jpeg is None:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", b"no frame yet\n")
            else:
                self._send(HTTPStatus.OK, "image/jpeg", jpeg)

        def _stream(self) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            seq = -1
            with preview._watching(), contextlib.suppress(OSError):
                while not preview.closed:
                    jpeg, seq = preview._next_jpeg(seq, timeout=1.0)
                    if jpeg is None:
                        continue
                    self.wfile.write(
                        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
                    self.wfile.flush()
            self.close_connection = True

    return Handler


# --------------------------------------------------------------------------- window


def check_display() -> None:
    """Raise ValueError with a clear message when no window can be opened here."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise ValueError("--show needs a display, and none is set here (no $DISPLAY or "
                         "$WAYLAND_DISPLAY): use --preview HOST:PORT and watch it in a browser")
    info = cv2.getBuildInformation()
    gui = next((line for line in info.splitlines() if line.strip().startswith("GUI:")), "")
    if "NONE" in gui.upper():
        raise ValueError("--show needs OpenCV with a GUI backend; this OpenCV has none "
                         "(opencv-python-headless?): use --preview HOST:PORT instead")


class WindowPreview:
    """Show each frame in an OpenCV window; call :meth:`show` from one thread.

    Pressing ``q`` or Esc, or closing the window, sets :attr:`stop_requested`.
    """

    def __init__(
        self,
        title: str = "samvideo",  # the window's name
        *,
        annotator: MaskAnnotator | None = None,  # how results are drawn; None = defaults
    ) -> None:
        check_display()
        self.title = title
        self.annotator = annotator
        self.stop_requested = False
        self._opened = False

    def show(self, item: Any) -> None:
        bgr = cv2.cvtColor(render_result(item, self.annotator), cv2.COLOR_RGB2BGR)
        try:
            if not self._opened:
                cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
                self._opened = True
            cv2.imshow(self.title, bgr)
            key = cv2.waitKey(1) & 0xFF
            visible = cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE)
        except cv2.error as exc:
            raise RuntimeError(f"--show: OpenCV cannot open a window: {exc}") from None
        if key in (ord("q"), 27) or visible < 1:
            self.stop_requested = True

    def close(self) -> None:
        if self._opened:
            with contextlib.suppress(cv2.error):
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)
            self._opened = False
