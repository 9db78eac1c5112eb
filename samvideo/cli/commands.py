"""``samvideo weights``, ``samvideo eval`` and ``samvideo ui``."""

from __future__ import annotations

import json
import signal
import sys
import tempfile
from pathlib import Path

from samvideo.cli.track import load_segmenter

EXIT_OK, EXIT_USAGE = 0, 2

#: the page's warning when ``--model auto`` found no SAM checkpoint
GRABCUT_FALLBACK = ("No SAM checkpoint was found, so this page uses GrabCut: it needs a box "
                    "around each object (a click alone is only a guess) and follows objects "
                    "less well. 'samvideo weights download vit_b' gets SAM; then start "
                    "samvideo ui again.")


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

    report = score(args.pred_dir, args.gt_dir, all_frames=args.all_frames)
    for note in report.partial_notes():
        print(f"samvideo: note: {note}", file=sys.stderr)
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
    segmenter, tracker, model_note = load_segmenter(args)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="samvideo-ui-")).resolve()
    fallback = args.model == "auto" and getattr(segmenter, "name", "") == "grabcut"
    config = UiConfig(root=root, workdir=workdir,
                      max_upload_bytes=args.max_upload_mb * 1024 * 1024, tracker=tracker,
                      batch=4 if str(getattr(segmenter, "device", "")).startswith("cuda")
                      else 1, warning=GRABCUT_FALLBACK if fallback else None)
    state = UiState(config, segmenter)
    local = is_loopback(host)
    if not local:
        print(f"samvideo: warning: listening on {host}, not loopback: whoever reaches it can "
              f"open the videos under {root}", file=sys.stderr)
    if model_note:
        print(f"samvideo: {model_note}", file=sys.stderr)
    kept = "" if args.workdir else ", removed on exit"
    print(f"samvideo ui: {url_of(sock)}  (root {root}; outputs in {workdir}{kept}; "
          "Ctrl-C stops)", flush=True)
    # uvicorn shuts down cleanly on SIGINT and SIGTERM, then raises the signal again with
    # the handler it found: SIGTERM's default would end the process before the clean-up
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        serve(create_app(state, allowed_hosts=LOOPBACK_HOSTS if local else None), sock)
    except KeyboardInterrupt:  # the signal raised again after uvicorn's clean shutdown
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if not args.workdir:
            state.remove_workdir()
    return EXIT_OK


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
