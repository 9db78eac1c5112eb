"""``samvideo weights``, ``samvideo eval`` and ``samvideo ui``."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from samvideo.cli.track import load_segmenter

EXIT_OK, EXIT_USAGE = 0, 2


def weights(args) -> int:
    from samvideo import weights as registry

    if args.weights_command == "list":
        print(f"cache: {registry.cache_dir()}")
        for ck in registry.CHECKPOINTS.values():
            cached = registry.cached_path(ck.name)
            mark = "cached" if cached else "not cached"
            about = "" if ck.size_bytes else "~"
            check = (ck.checksum or "no published checksum").split(":")[0]
            print(f"{ck.name:22} {ck.filename:25} {about:>1}{ck.megabytes:7.1f} MB  "
                  f"{check:21} {mark}")
        return EXIT_OK
    if args.weights_command == "download":
        ck = registry.get(args.name)
        path = registry.cached_path(ck.name)
        if path is None:
            path = registry.download(ck.name, mirror=args.mirror, progress=not args.quiet)
        print(path)
        return EXIT_OK
    result = registry.verify(args.path)
    print(result.message)
    return EXIT_OK if result.ok else EXIT_USAGE


def evaluate(args) -> int:
    from samvideo.metrics import evaluate as score

    report = score(args.pred_dir, args.gt_dir)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.format_table())
    return EXIT_OK


def ui(args) -> int:
    from samvideo.ui import UiConfig, UiState, bind_socket, create_app, is_loopback, serve, url_of
    from samvideo.ui.server import LOOPBACK_HOSTS

    host = args.host or "127.0.0.1"
    root = Path(args.root).resolve()
    if not root.is_dir():
        raise ValueError(f"--root {args.root!r} is not a folder")
    sock = bind_socket(host, args.port, allow_remote=args.host is not None)
    segmenter, tracker = load_segmenter(args)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="samvideo-ui-")).resolve()
    config = UiConfig(root=root, workdir=workdir,
                      max_upload_bytes=args.max_upload_mb * 1024 * 1024, tracker=tracker,
                      batch=4 if str(getattr(segmenter, "device", "")).startswith("cuda")
                      else 1)
    state = UiState(config, segmenter)
    local = is_loopback(host)
    if not local:
        print(f"samvideo: warning: listening on {host}, not loopback: whoever reaches it can "
              f"open the videos under {root}", file=sys.stderr)
    kept = "" if args.workdir else ", removed on exit"
    print(f"samvideo ui: {url_of(sock)}  (root {root}; outputs in {workdir}{kept}; "
          "Ctrl-C stops)", flush=True)
    try:
        serve(create_app(state, allowed_hosts=LOOPBACK_HOSTS if local else None), sock)
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its clean shutdown
        pass
    finally:
        if not args.workdir:
            state.remove_workdir()
    return EXIT_OK
