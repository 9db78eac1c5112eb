"""Watching a run as it goes: an MJPEG stream over HTTP and an OpenCV window.

* :class:`MjpegServer` (``--preview HOST:PORT``): a small Starlette app served by
  uvicorn in a background thread (:class:`samvideo.ui.server.ServerThread`, the UI's
  HTTP stack). ``GET /`` is a small page, ``GET /stream.mjpg`` the live overlay as
  ``multipart/x-mixed-replace`` JPEG parts (what a browser's ``<img>`` plays), ``GET
  /frame.jpg`` the newest frame alone. :meth:`MjpegServer.publish` never blocks: it
  keeps the newest frame, and one encoder thread draws and JPEG-encodes it only while
  someone watches, at most ``max_fps`` times a second, so a preview never slows
  tracking down.
* :class:`WindowPreview` (``--show``): ``cv2.imshow`` from the caller's thread, where
  a display exists; :func:`check_display` says clearly when none does.

Frames are (H, W, 3) uint8 RGB (BGR only at the OpenCV edge).
"""

from __future__ import annotations

import contextlib
import html
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import cv2
import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from samvideo import select
from samvideo.annotate import MaskAnnotator
from samvideo.results import FrameResult
from samvideo.ui.render import jpeg
from samvideo.ui.server import ServerThread, listen_on

DEFAULT_HOST = "127.0.0.1"  # only this machine can watch unless asked otherwise
BOUNDARY = "samvideoframe"
NO_STORE = {"Cache-Control": "no-store"}  # every answer is the newest frame: never cache one
STALL_S = 10.0  # a watcher that stops reading is dropped after this many seconds
SHOW_INSTEAD = "use --preview HOST:PORT and watch it in a browser"  # --show's way out

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
        sock = _listen(host, port)
        self.host, self.port = host, sock.getsockname()[1]
        self._encoder = threading.Thread(target=self._encode_loop, name="samvideo-preview-jpeg",
                                         daemon=True)
        self._encoder.start()
        self._http = ServerThread(self._app(), sock, name="samvideo-preview-http")

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def closed(self) -> bool:
        return self._closed

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
        self._http.stop()
        self._encoder.join(timeout=2.0)

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
                data = jpeg(self.render(item), quality=self.quality)
            except Exception as exc:  # a preview must never end the run
                self.error = exc
                data = None
            with self._cond:
                if data is not None:
                    self._jpeg = data
                self._jpeg_seq = seq
                self._cond.notify_all()

    # -- what the HTTP side waits on (in the thread pool) ------------------------------

    @contextlib.contextmanager
    def _watching(self) -> Iterator[None]:
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

    # -- the HTTP app ------------------------------------------------------------------

    def _app(self) -> Starlette:
        """``GET /`` (or ``/index.html``), ``/stream.mjpg`` and ``/frame.jpg``; 404
        otherwise."""
        routes = [Route("/", self._page), Route("/index.html", self._page),
                  Route("/stream.mjpg", self._stream), Route("/frame.jpg", self._frame)]
        return Starlette(routes=routes, exception_handlers={404: _not_found})

    async def _page(self, request: Request) -> Response:
        return HTMLResponse(_PAGE.format(title=html.escape(self.title)), headers=NO_STORE)

    async def _frame(self, request: Request) -> Response:
        with self._watching():
            data = await run_in_threadpool(self._latest_jpeg, 5.0)
        if data is None:
            return PlainTextResponse("no frame yet\n", status_code=503, headers=NO_STORE)
        return Response(data, media_type="image/jpeg", headers=NO_STORE)

    async def _stream(self, request: Request) -> Response:
        return _WatchedStream(self._parts(), headers=NO_STORE,
                              media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}")

    async def _parts(self) -> AsyncIterator[bytes]:
        """Each newer JPEG as one multipart part, counted as a watcher, until close."""
        seq = -1
        with self._watching():
            while not self._closed:
                data, seq = await run_in_threadpool(self._next_jpeg, seq, 1.0)
                if data is not None:
                    yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                           f"Content-Length: {len(data)}\r\n\r\n").encode() + data + b"\r\n"


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; ValueError naming the address when it cannot
    be had."""
    if not 0 <= port <= 65535:
        raise ValueError(f"preview port {port!r} is not within 0..65535")
    try:
        return listen_on(host, port)
    except OSError as exc:
        raise ValueError(f"preview address {host}:{port} cannot be served: "
                         f"{exc.strerror or exc}") from None


class _WatchedStream(StreamingResponse):
    """A StreamingResponse over an async generator that drops a watcher who stops
    reading for :data:`STALL_S` and closes the generator however the response ends
    (Starlette leaves a cancelled one to the garbage collector), so the watcher count
    falls at once."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_or_drop(message: Message) -> None:
            with anyio.fail_after(STALL_S):
                await send(message)

        try:
            await super().__call__(scope, receive, send_or_drop)
        except TimeoutError:
            pass  # a stalled watcher: uvicorn closes the connection
        finally:
            await self.body_iterator.aclose()


async def _not_found(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("not found\n", status_code=404, headers=NO_STORE)


# --------------------------------------------------------------------------- window


def check_display() -> None:
    """Raise ValueError naming --preview when --show cannot open a window here
    (:func:`samvideo.select.check_display` for --show)."""
    select.check_display("--show", SHOW_INSTEAD)


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
