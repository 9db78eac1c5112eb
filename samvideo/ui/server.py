"""The browser UI's HTTP server: a Starlette app, served by uvicorn on loopback.

Routes (JSON unless said otherwise; errors are ``{"error": "..."}`` with 400 bad
input, 403 outside the root, 404 missing, 409 busy, 413 upload too large):

=========================================  ======  ======================================
``/``                                      GET     the page (``static/index.html``)
``/api/status``                            GET     root, model, limits, the open video,
                                                   the page's state and runs of it, job
``/api/files?dir=REL``                     GET     sub-folders and videos under the root
``/api/open``                              POST    ``{"path": REL}``: open a video
``/api/upload?name=NAME``                  POST    raw body: upload a video and open it
``/api/video/{id}/frame/{i}.jpg``          GET     source frame ``i`` (JPEG)
``/api/video/{id}/page``                   POST    keep the page's prompts, ids, names
``/api/prompts/read``                      POST    ``{"text": ...}``: a prompts file, checked
``/api/preview``                           POST    ``{"frame": i, "objects": [...]}``
``/api/track``                             POST    ``{"objects": [...], "direction",
                                                   "first", "last"}`` (prompts file)
``/api/job``                               GET     progress of the current run
``/api/job/stop``                          POST    stop it after the current frame
``/api/job/latest.jpg``                    GET     overlay of the last tracked frame
``/api/run/{id}/tracks``                   GET     every tracked frame's objects
``/api/run/{id}/labels/{i}.png``           GET     a finished run's label map (grey = id)
``/api/run/{id}/frame/{i}.jpg``            GET     a finished run's overlay frame
``/api/run/{id}/download/{kind}``          GET     overlay, masks (zip), coco, npz, ...
=========================================  ======  ======================================

:func:`listen_on` and :class:`ServerThread` also serve ``--live --preview``'s MJPEG
stream (:mod:`samvideo.preview`), so the project has one HTTP stack.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import itertools
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from samvideo import __version__
from samvideo.ui.paths import (
    PathMissing,
    PathRefused,
    list_folder,
    resolve_under_root,
    safe_upload_name,
)
from samvideo.ui.render import colour_hex
from samvideo.ui.session import Busy, NotFound, UiState

STATIC = Path(__file__).parent / "static"
#: Host names a loopback server answers to (anything else may be DNS rebinding).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class UploadTooLarge(ValueError):
    """An upload over the size limit (HTTP 413)."""


# -- binding ---------------------------------------------------------------------------

def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) only reaches this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, *, allow_remote: bool) -> None:
    """Refuse a non-loopback ``host`` unless ``allow_remote`` (the user said ``--host``)."""
    if not is_loopback(host) and not allow_remote:
        raise ValueError(
            f"host {host!r} is not a loopback address: the UI opens files under its root "
            "folder, so it listens on 127.0.0.1 unless --host names another address"
        )


def bind_socket(host: str, port: int, *, allow_remote: bool = False) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 = any free port); ValueError when
    the address cannot be used, or is not loopback and ``allow_remote`` is False."""
    check_host(host, allow_remote=allow_remote)
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is not within 0..65535")
    try:
        return listen_on(host, port)
    except socket.gaierror as exc:
        raise ValueError(f"host {host!r} cannot be resolved: {exc.strerror}") from None
    except OSError as exc:
        raise ValueError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def listen_on(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 = any free port), without
    :func:`bind_socket`'s checks; OSError (socket.gaierror for a name that does not
    resolve) when the address cannot be had."""
    family, _, _, _, address = socket.getaddrinfo(host.strip("[]"), port,
                                                  type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(app: ASGIApp, sock: socket.socket) -> None:
    """Serve ``app`` on ``sock`` until Ctrl-C (uvicorn, quiet: the caller prints)."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])


class ServerThread:
    """Serve ``app`` on the listening ``sock`` with uvicorn in a daemon thread, for a
    server inside another program (the live preview) until :meth:`stop`.

    It prints nothing and leaves the program's logging and signal handlers alone
    (uvicorn installs signal handlers only in the main thread); a client left open
    never keeps the process alive.
    """

    def __init__(self, app: ASGIApp, sock: socket.socket, *, name: str,
                 grace_s: float = 1.0) -> None:
        import uvicorn

        config = uvicorn.Config(
            app,
            log_config=None,  # the program's logging stays as it is
            log_level="critical",  # library code prints nothing, not even a bad request
            access_log=False,  # no line per request
            lifespan="off",  # the app has nothing to start up or shut down
            timeout_graceful_shutdown=grace_s,  # a client that stopped reading cannot hold stop()
        )
        self._server = uvicorn.Server(config)
        self._sock = sock
        self._thread = threading.Thread(target=self._server.run, args=([sock],), name=name,
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 3.0) -> None:
        """Stop accepting, give open responses ``grace_s`` to end, then cancel them;
        wait up to ``timeout_s`` for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self._sock.close()


# -- request guards --------------------------------------------------------------------

class LocalGuard:
    """ASGI middleware: answer only to the allowed Host names (a page on another site
    cannot reach the server through DNS rebinding) and refuse state-changing requests
    sent by pages of another origin (CSRF)."""

    def __init__(self, app: ASGIApp, allowed_hosts: frozenset[str] | None) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts  # None = any (an explicit --host)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            host_header = headers.get("host", "")
            if self.allowed_hosts is not None and _hostname(host_header) not in self.allowed_hosts:
                await _plain(400, f"host {host_header!r} is not served here")(scope, receive, send)
                return
            origin = headers.get("origin")
            if scope["method"] not in ("GET", "HEAD") and origin is not None \
                    and urlsplit(origin).netloc.lower() != host_header.lower():
                await _plain(403, f"requests from {origin!r} are refused")(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _hostname(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _plain(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


# -- the app ---------------------------------------------------------------------------

def create_app(state: UiState, *,
               allowed_hosts: frozenset[str] | None = LOOPBACK_HOSTS) -> Starlette:
    """The Starlette app serving the page and its API on ``state``.

    ``allowed_hosts``: Host header names answered (``None`` = any, for a server bound
    to a non-loopback address on purpose).
    """
    api = _Api(state)
    routes = [
        Route("/", api.index),
        Route("/api/status", api.status),
        Route("/api/files", api.files),
        Route("/api/open", api.open, methods=["POST"]),
        Route("/api/upload", api.upload, methods=["POST"]),
        Route("/api/video/{video_id:int}/frame/{index:int}.jpg", api.frame),
        Route("/api/video/{video_id:int}/page", api.page, methods=["POST"]),
        Route("/api/prompts/read", api.read_prompts, methods=["POST"]),
        Route("/api/preview", api.preview, methods=["POST"]),
        Route("/api/track", api.track, methods=["POST"]),
        Route("/api/job", api.job),
        Route("/api/job/stop", api.stop, methods=["POST"]),
        Route("/api/job/latest.jpg", api.latest),
        Route("/api/run/{run_id:int}/tracks", api.tracks),
        Route("/api/run/{run_id:int}/labels/{index:int}.png", api.labels),
        Route("/api/run/{run_id:int}/frame/{index:int}.jpg", api.run_frame),
        Route("/api/run/{run_id:int}/download/{kind:str}", api.download),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    handlers = {
        PathRefused: _handler(403), UploadTooLarge: _handler(413), PathMissing: _handler(404),
        NotFound: _handler(404), Busy: _handler(409), ValueError: _handler(400),
    }

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(state.close)

    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)
    app.add_middleware(LocalGuard, allowed_hosts=allowed_hosts)
    app.state.ui = state
    return app


def _handler(status: int):
    async def handle(request: Request, exc: Exception) -> Response:
        return _plain(status, str(exc))

    return handle


async def _json_body(request: Request) -> dict:
    """The request's JSON object; only ``application/json`` is read, which a page of
    another site cannot send without the browser asking first."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise ValueError("send the request body as application/json")
    try:
        body = await request.json()
    except ValueError:
        raise ValueError("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ValueError(f"the request body must be a JSON object, got {type(body).__name__}")
    return body


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} = {value!r}: must be an integer")
    return value


class _Api:
    """The route handlers; heavy work runs in the thread pool."""

    def __init__(self, state: UiState) -> None:
        self.state = state
        self._uploads = itertools.count(1)

    @property
    def root(self) -> Path:
        return self.state.config.root

    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def status(self, request: Request) -> Response:
        state = self.state
        return JSONResponse({
            "version": __version__,
            "root": str(self.root),
            "model": getattr(state.segmenter, "name", type(state.segmenter).__name__),
            "max_upload_mb": round(state.config.max_upload_bytes / 1024 / 1024, 1),
            "exports": list(state.config.exports),
            "colours": [colour_hex(i) for i in range(256)],
            **state.status(),
        }, headers={"Cache-Control": "no-store"})

    async def files(self, request: Request) -> Response:
        here, entries = await run_in_threadpool(
            list_folder, self.root, request.query_params.get("dir", ""))
        parent = None if here == "" else here.rpartition("/")[0]
        return JSONResponse({"dir": here, "parent": parent,
                             "entries": [e.to_json() for e in entries]})

    async def open(self, request: Request) -> Response:
        body = await _json_body(request)
        path = body.get("path")
        if not isinstance(path, str) or not path.strip():
            raise ValueError(f"path = {path!r}: give a file or frames folder under the root")
        real = resolve_under_root(self.root, path)
        label = real.relative_to(self.root.resolve()).as_posix() or real.name
        video = await run_in_threadpool(self.state.open, real, label)
        return JSONResponse({"video": video.to_json()})

    async def upload(self, request: Request) -> Response:
        name = safe_upload_name(request.query_params.get("name", ""))
        limit = self.state.config.max_upload_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise UploadTooLarge(_too_large(int(declared), limit))
        self.state.check_idle("upload a video")
        folder = self.state.config.workdir / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{next(self._uploads):03d}-{name}"
        await _receive_file(request, target, limit, name)
        try:
            video = await run_in_threadpool(self.state.open, target, f"upload: {name}", name)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return JSONResponse({"video": video.to_json()})

    async def frame(self, request: Request) -> Response:
        data = await run_in_threadpool(self.state.frame_jpeg, request.path_params["video_id"],
                                       request.path_params["index"])
        return Response(data, media_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=3600"})

    async def page(self, request: Request) -> Response:
        body = await _json_body(request)
        page = self.state.save_page(request.path_params["video_id"], body)
        return JSONResponse(page)

    async def read_prompts(self, request: Request) -> Response:
        body = await _json_body(request)
        return JSONResponse(await run_in_threadpool(self.state.read_prompts, body.get("text")))

    async def preview(self, request: Request) -> Response:
        body = await _json_body(request)
        frame = _int(body.get("frame"), "frame")
        out = await run_in_threadpool(self.state.preview, frame, body.get("objects", []))
        for key, name in (("mask_png", "mask"), ("labels_png", "labels")):
            png = out.pop(key)
            out[name] = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        return JSONResponse(out)

    async def track(self, request: Request) -> Response:
        body = await _json_body(request)
        record = await run_in_threadpool(
            lambda: self.state.start(body.get("objects"),
                                     direction=body.get("direction", "forward"),
                                     first=body.get("first"), last=body.get("last")))
        return JSONResponse(record.to_json(), status_code=202)

    async def tracks(self, request: Request) -> Response:
        return JSONResponse(self.state.tracks(request.path_params["run_id"]))

    async def labels(self, request: Request) -> Response:
        data = await run_in_threadpool(self.state.labels, request.path_params["run_id"],
                                       request.path_params["index"])
        return Response(data, media_type="image/png",
                        headers={"Cache-Control": "private, max-age=3600"})

    async def job(self, request: Request) -> Response:
        job = self.state.job
        return JSONResponse({"state": "idle"} if job is None else job.record.to_json(),
                            headers={"Cache-Control": "no-store"})

    async def stop(self, request: Request) -> Response:
        record = self.state.stop()
        return JSONResponse({"state": "idle"} if record is None else record.to_json())

    async def latest(self, request: Request) -> Response:
        data = await run_in_threadpool(self.state.latest_jpeg)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def run_frame(self, request: Request) -> Response:
        data = await run_in_threadpool(self.state.overlay_jpeg, request.path_params["run_id"],
                                       request.path_params["index"])
        return Response(data, media_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=3600"})

    async def download(self, request: Request) -> Response:
        item, filename = await run_in_threadpool(
            self.state.download, request.path_params["run_id"], request.path_params["kind"])
        if isinstance(item, bytes):
            return Response(item, media_type="application/zip", headers={
                "Content-Disposition": f'attachment; filename="{filename}"'})
        return FileResponse(item, filename=filename)


def _too_large(size: int, limit: int) -> str:
    return (f"upload of {size / 1024 / 1024:.1f} MB is over the limit of "
            f"{limit / 1024 / 1024:.0f} MB (--max-upload-mb)")


async def _receive_file(request: Request, target: Path, limit: int, name: str) -> None:
    """Stream the request body into ``target``; UploadTooLarge past ``limit`` bytes
    (messages name the file as the user does: ``name``)."""
    part = target.with_name(f".{target.name}.part")
    size = 0
    try:
        with part.open("wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge(_too_large(size, limit))
                fh.write(chunk)
        if size == 0:
            raise ValueError(f"{name} is empty (0 bytes): choose the video file itself")
        part.replace(target)
    finally:
        part.unlink(missing_ok=True)
