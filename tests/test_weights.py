"""Tests of samvideo.weights: registry, cache folder, download (mirror, resume, corruption),
verification and best_cached, against a local HTTP server serving a small fake checkpoint."""

from __future__ import annotations

import hashlib
import http.server
import random
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs
import pytest

from samvideo import weights
from samvideo.weights import CHECKPOINTS, Checkpoint

PAYLOAD_BYTES = 300_000


@dataclass
class ServerState:
    """What the test server does and what it saw."""

    root: Path
    cut_after: int | None = None  # close the connection after this many body bytes
    corrupt: bool = False  # flip one byte of what is served
    honour_range: bool = True
    requests: list[dict[str, str | None]] = field(default_factory=list)
    bytes_sent: int = 0
    url: str = ""


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files of ``state.root`` with single ``bytes=N-`` / ``bytes=N-M`` ranges, and
    can cut the connection short or corrupt the data."""

    state: ServerState  # set on the subclass made per server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # keep the test output clean

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        state = self.state
        state.requests.append({"path": self.path, "range": self.headers.get("Range")})
        path = state.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        if state.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start, end = 0, len(data) - 1
        header = self.headers.get("Range")
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", header or "")
        if state.honour_range and match:
            start = int(match.group(1))
            end = min(int(match.group(2)), end) if match.group(2) else end
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start : end + 1]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes" if state.honour_range else "none")
        self.end_headers()
        if state.cut_after is not None and state.cut_after < len(body):
            body = body[: state.cut_after]
            self.close_connection = True
        # counted before writing: the client may finish reading (and the test go on to its
        # asserts) before this thread runs another line after the write
        state.bytes_sent += len(body)
        self.wfile.write(body)
        self.wfile.flush()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerState]:
    root = tmp_path / "served"
    root.mkdir()
    state = ServerState(root=root)
    handler = type("Handler", (RangeHandler,), {"state": state})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def fake(server: ServerState) -> tuple[Checkpoint, dict[str, Checkpoint], bytes]:
    """A fake checkpoint of random bytes, served at ``<server>/<filename>``."""
    payload = random.Random(1234).randbytes(PAYLOAD_BYTES)
    md5 = hashlib.md5(payload).hexdigest()
    ckpt = Checkpoint(
        name="fake",
        filename=f"sam_fake_{md5[:6]}.pth",
        url="http://official.invalid/segment_anything/" + f"sam_fake_{md5[:6]}.pth",
        md5=md5,
        size_bytes=len(payload),
        params_m=1,
    )
    (server.root / ckpt.filename).write_bytes(payload)
    return ckpt, {"fake": ckpt}, payload


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home" / "cache"
    monkeypatch.setenv(weights.ENV_HOME, str(folder))
    monkeypatch.delenv(weights.ENV_MIRROR, raising=False)
    return folder


# --- registry -------------------------------------------------------------------------


def test_registry_has_every_family_with_its_sources() -> None:
    assert list(CHECKPOINTS) == ["vit_h", "vit_l", "vit_b", "sam2.1_hiera_large",
                                 "sam2.1_hiera_base_plus", "sam2.1_hiera_small",
                                 "sam2.1_hiera_tiny", "mobile_sam"]
    sam = [c for c in CHECKPOINTS.values() if c.family == "sam"]
    sizes = [c.size_bytes for c in sam]
    assert sizes == sorted(sizes, reverse=True)
    for ckpt in sam:
        assert re.fullmatch(r"[0-9a-f]{32}", ckpt.md5)
        assert ckpt.filename == f"sam_{ckpt.name}_{ckpt.md5[:6]}.pth"
        assert ckpt.url == "https://dl.fbaipublicfiles.com/segment_anything/" + ckpt.filename
        assert ckpt.checksum == f"md5:{ckpt.md5}"
    assert CHECKPOINTS["vit_h"].md5 == "4b8939a88964f0f4ff5f5b2642c598a6"
    assert CHECKPOINTS["vit_l"].md5 == "0b3195507c641ddb6910d2bb5adee89c"
    assert CHECKPOINTS["vit_b"].md5 == "01ec64d29a2fca3f0661936605ae66f8"
    assert CHECKPOINTS["vit_h"].size_bytes == 2564550879
    assert CHECKPOINTS["vit_l"].size_bytes == 1249524607
    assert CHECKPOINTS["vit_b"].size_bytes == 375042383
    for size, params in (("tiny", 39), ("small", 46), ("base_plus", 81), ("large", 224)):
        ckpt = CHECKPOINTS[f"sam2.1_hiera_{size}"]
        assert ckpt.family == "sam2.1" and ckpt.params_m == params
        assert ckpt.url == ("https://dl.fbaipublicfiles.com/segment_anything_2/092824/"
                            f"sam2.1_hiera_{size}.pt")
        assert ckpt.checksum is None and "no checksum" in ckpt.source  # Meta publishes none
        assert ckpt.megabytes == pytest.approx(4 * ckpt.params_m, rel=0.02)
    mobile = CHECKPOINTS["mobile_sam"]
    assert mobile.url == "https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt"
    assert mobile.checksum == "git-sha1:7ef2d090979fd9853adf17b7a99c8b94a1c5a6a7"
    assert mobile.megabytes == 38.8 and mobile.family == "mobile_sam"
    assert all(c.source for c in CHECKPOINTS.values())


def test_get_known_and_unknown_names() -> None:
    assert weights.get("vit_b") is CHECKPOINTS["vit_b"]
    assert weights.get(" VIT_L ") is CHECKPOINTS["vit_l"]
    with pytest.raises(ValueError, match="vit_x") as info:
        weights.get("vit_x")
    for name in CHECKPOINTS:
        assert name in str(info.value)


def test_checkpoint_is_frozen() -> None:
    with pytest.raises(AttributeError):
        CHECKPOINTS["vit_b"].md5 = "0" * 32  # type: ignore[misc]


# --- cache folder and mirror ----------------------------------------------------------


def test_cache_dir_from_env_created_on_demand(home: Path) -> None:
    assert weights.cache_dir() == home
    assert not home.exists()
    assert weights.cache_dir(create=True) == home
    assert home.is_dir()


def test_cache_dir_default_is_platform_user_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(weights.ENV_HOME, raising=False)
    assert weights.cache_dir() == Path(platformdirs.user_cache_dir("samvideo"))
    monkeypatch.setenv(weights.ENV_HOME, "")
    assert weights.cache_dir() == Path(platformdirs.user_cache_dir("samvideo"))


def test_mirror_url_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(weights.ENV_MIRROR, raising=False)
    assert weights.mirror_url() is None
    monkeypatch.setenv(weights.ENV_MIRROR, "https://mirror.example/sam/")
    assert weights.mirror_url() == "https://mirror.example/sam/"


def test_mirror_must_be_http(home: Path, fake) -> None:
    _, registry, _ = fake
    with pytest.raises(ValueError, match="ftp://nowhere"):
        weights.download("fake", mirror="ftp://nowhere", registry=registry, progress=False)


# --- download -------------------------------------------------------------------------


def test_download_from_mirror_env_then_cached_without_network(
    home: Path, server: ServerState, fake, monkeypatch: pytest.MonkeyPatch, capfd
) -> None:
    ckpt, registry, payload = fake
    monkeypatch.setenv(weights.ENV_MIRROR, server.url + "/")
    path = weights.download("fake", registry=registry, progress=False)
    assert path == home / ckpt.filename
    assert path.read_bytes() == payload
    assert sorted(p.name for p in home.iterdir()) == [ckpt.filename]  # no .part, no tmp
    assert [r["path"] for r in server.requests] == ["/" + ckpt.filename]
    assert server.requests[0]["range"] is None
    result = weights.verify(path, registry=registry)
    assert result.ok and result.matches == ckpt and result.md5 == ckpt.md5

    again = weights.download("fake", registry=registry, progress=False)
    assert again == path
    assert len(server.requests) == 1  # served from the cache
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # progress=False: silent


def test_download_mirror_argument_and_cache_argument(
    tmp_path: Path, home: Path, server: ServerState, fake, capfd
) -> None:
    ckpt, registry, payload = fake
    elsewhere = tmp_path / "elsewhere"
    path = weights.download("fake", mirror=server.url, cache=elsewhere, registry=registry)
    assert path == elsewhere / ckpt.filename
    assert path.read_bytes() == payload
    assert not home.exists()
    assert weights.cached_path("fake", cache=elsewhere, registry=registry) == path
    assert weights.cached_path("fake", registry=registry) is None
    out, err = capfd.readouterr()
    assert out == ""  # progress goes to stderr, never stdout
    assert ckpt.filename in err  # the bar (and pooch's line) did show


def test_corrupt_download_raises_and_leaves_nothing(home: Path, server: ServerState, fake) -> None:
    ckpt, registry, payload = fake
    server.corrupt = True
    bad_md5 = hashlib.md5(bytes([payload[0] ^ 0xFF]) + payload[1:]).hexdigest()
    with pytest.raises(RuntimeError) as info:
        weights.download("fake", mirror=server.url, registry=registry, progress=False)
    message = str(info.value)
    assert ckpt.md5 in message and bad_md5 in message
    assert f"{server.url}/{ckpt.filename}" in message
    assert not (home / ckpt.filename).exists()
    assert list(home.iterdir()) == []  # neither final name, nor .part, nor tmp


def test_corrupt_file_under_final_name_is_replaced(home: Path, server: ServerState, fake) -> None:
    ckpt, registry, payload = fake
    home.mkdir(parents=True)
    (home / ckpt.filename).write_bytes(b"\0" * len(payload))  # right size, wrong content
    path = weights.download("fake", mirror=server.url, registry=registry, progress=False)
    assert path.read_bytes() == payload
    assert len(server.requests) == 1


def test_interrupted_download_resumes_with_range(home: Path, server: ServerState, fake) -> None:
    ckpt, registry, payload = fake
    cut = 100_000
    server.cut_after = cut
    with pytest.raises(RuntimeError, match="resume") as info:
        weights.download("fake", mirror=server.url, registry=registry, progress=False)
    assert server.url in str(info.value)
    part = home / (ckpt.filename + ".part")
    assert sorted(p.name for p in home.iterdir()) == [part.name]  # never the final name
    kept = part.read_bytes()
    # urllib3 drops the piece it was reading when the connection broke (at most one chunk)
    assert cut - weights.HTTP_CHUNK_BYTES <= len(kept) <= cut
    assert kept and payload.startswith(kept)
    assert weights.cached_path("fake", registry=registry) is None
    assert weights.best_cached(registry=registry) is None

    server.cut_after = None
    server.bytes_sent = 0
    path = weights.download("fake", mirror=server.url, registry=registry, progress=False)
    assert server.requests[-1]["range"] == f"bytes={len(kept)}-"
    assert server.bytes_sent == len(payload) - len(kept)  # only the rest was transferred
    assert path.read_bytes() == payload
    assert weights.verify(path, registry=registry).ok
    assert sorted(p.name for p in home.iterdir()) == [ckpt.filename]


def test_resume_when_server_ignores_range(home: Path, server: ServerState, fake) -> None:
    ckpt, registry, payload = fake
    home.mkdir(parents=True)
    (home / (ckpt.filename + ".part")).write_bytes(b"garbage that is not a prefix")
    server.honour_range = False
    path = weights.download("fake", mirror=server.url, registry=registry, progress=False)
    assert server.requests[-1]["range"] == "bytes=28-"
    assert server.bytes_sent == len(payload)  # whole file, part rewritten from the start
    assert path.read_bytes() == payload
    assert sorted(p.name for p in home.iterdir()) == [ckpt.filename]


def test_bad_part_is_not_kept_after_md5_mismatch(home: Path, server: ServerState, fake) -> None:
    ckpt, registry, payload = fake
    home.mkdir(parents=True)
    part = home / (ckpt.filename + ".part")
    part.write_bytes(b"X" * 1000)  # not a prefix of the file, but the server honours ranges
    with pytest.raises(RuntimeError, match="MD5 mismatch"):
        weights.download("fake", mirror=server.url, registry=registry, progress=False)
    assert list(home.iterdir()) == []  # the bad data is gone: the next call starts over
    path = weights.download("fake", mirror=server.url, registry=registry, progress=False)
    assert server.requests[-1]["range"] is None
    assert path.read_bytes() == payload


def test_complete_part_needs_no_request(home: Path, server: ServerState, fake) -> None:
    ckpt, registry, payload = fake
    home.mkdir(parents=True)
    (home / (ckpt.filename + ".part")).write_bytes(payload)
    path = weights.download("fake", mirror=server.url, registry=registry, progress=False)
    assert server.requests == []
    assert path.read_bytes() == payload


def test_oversized_part_is_discarded(home: Path, server: ServerState, fake) -> None:
    ckpt, registry, payload = fake
    home.mkdir(parents=True)
    (home / (ckpt.filename + ".part")).write_bytes(payload + b"extra")
    path = weights.download("fake", mirror=server.url, registry=registry, progress=False)
    assert server.requests[-1]["range"] is None
    assert path.read_bytes() == payload


def test_missing_file_on_server(home: Path, server: ServerState, fake) -> None:
    ckpt, registry, _ = fake
    (server.root / ckpt.filename).unlink()
    with pytest.raises(RuntimeError, match="404") as info:
        weights.download("fake", mirror=server.url, registry=registry, progress=False)
    assert f"{server.url}/{ckpt.filename}" in str(info.value)
    assert list(home.iterdir()) == []


def test_download_unknown_name(home: Path) -> None:
    with pytest.raises(ValueError, match="vit_q"):
        weights.download("vit_q", progress=False)


# --- verify ---------------------------------------------------------------------------


def test_verify_good_truncated_unknown_and_renamed(tmp_path: Path, fake) -> None:
    ckpt, registry, payload = fake
    good = tmp_path / ckpt.filename
    good.write_bytes(payload)
    result = weights.verify(good, registry=registry)
    assert result.ok and result.matches == ckpt
    assert result.size == len(payload) and result.md5 == ckpt.md5 and result.path == good
    assert weights.verify(good, name="fake", registry=registry).ok

    truncated_dir = tmp_path / "t"
    truncated_dir.mkdir()
    truncated = truncated_dir / ckpt.filename  # claims to be the checkpoint by its name
    truncated.write_bytes(payload[:1000])
    result = weights.verify(truncated, registry=registry)
    assert not result.ok and result.matches is None
    assert "truncated" in result.message and str(ckpt.size_bytes) in result.message

    unknown = tmp_path / "finetuned.pth"
    unknown.write_bytes(b"something else entirely")
    result = weights.verify(unknown, registry=registry)
    assert result.ok and result.matches is None
    assert "no official checkpoint" in result.message
    result = weights.verify(unknown, name="fake", registry=registry)
    assert not result.ok and "fake" in result.message

    renamed = tmp_path / "my_copy.pth"
    renamed.write_bytes(payload)
    result = weights.verify(renamed, registry=registry)
    assert result.ok and result.matches == ckpt

    same_size = tmp_path / "s" / ckpt.filename
    same_size.parent.mkdir()
    same_size.write_bytes(bytes(len(payload)))
    result = weights.verify(same_size, registry=registry)
    assert not result.ok and "corrupt" in result.message and ckpt.md5 in result.message


def test_verify_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pth"
    with pytest.raises(ValueError, match="nope.pth"):
        weights.verify(missing)
    existing = tmp_path / "x.pth"
    existing.write_bytes(b"x")
    with pytest.raises(ValueError, match="vit_z"):
        weights.verify(existing, name="vit_z")


def test_verify_against_official_registry_by_filename(tmp_path: Path) -> None:
    path = tmp_path / "sam_vit_b_01ec64.pth"
    path.write_bytes(b"not the real weights")
    result = weights.verify(path)
    assert not result.ok and "vit_b" in result.message and "truncated" in result.message


def test_file_md5_streams_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weights, "HASH_CHUNK_BYTES", 7)
    data = bytes(range(256)) * 3
    path = tmp_path / "f"
    path.write_bytes(data)
    assert weights.file_md5(path) == hashlib.md5(data).hexdigest()


# --- cached_path / best_cached --------------------------------------------------------


def _sized_registry() -> dict[str, Checkpoint]:
    def ck(name: str, size: int) -> Checkpoint:
        return Checkpoint(
            name, f"sam_{name}_000000.pth", f"http://x.invalid/{name}", "0" * 32, size, size
        )

    return {"big": ck("big", 300), "mid": ck("mid", 200), "small": ck("small", 100)}


def test_best_cached_picks_largest_present(home: Path) -> None:
    registry = _sized_registry()
    assert weights.best_cached(registry=registry) is None  # folder does not even exist
    home.mkdir(parents=True)
    assert weights.best_cached(registry=registry) is None
    (home / "sam_small_000000.pth").write_bytes(bytes(100))
    assert weights.best_cached(registry=registry) == registry["small"]
    (home / "sam_mid_000000.pth").write_bytes(bytes(200))
    (home / "sam_big_000000.pth").write_bytes(bytes(299))  # wrong size: not counted
    (home / "sam_big_000000.pth.part").write_bytes(bytes(300))  # partial: not counted
    assert weights.best_cached(registry=registry) == registry["mid"]
    assert weights.cached_path("big", registry=registry) is None
    assert weights.cached_path("mid", registry=registry) == home / "sam_mid_000000.pth"
    (home / "sam_big_000000.pth").write_bytes(bytes(300))
    assert weights.best_cached(registry=registry) == registry["big"]


def test_best_cached_official_registry_empty_cache(home: Path) -> None:
    assert weights.best_cached() is None
    assert all(weights.cached_path(name) is None for name in CHECKPOINTS)
    assert not home.exists()  # looking does not create the folder


# --- checkpoints without an MD5: MobileSAM's git blob id, SAM 2.1's none ----------------


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_git_blob_id_is_what_git_computes(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"hello\n")
    # `printf 'hello\n' | git hash-object --stdin`
    assert weights.git_blob_sha1(path) == "ce013625030ba8dba906f756967f9e9ca394464a"


@pytest.mark.parametrize("corrupt", [False, True])
def test_download_checks_a_git_blob_id(home: Path, server: ServerState, corrupt: bool) -> None:
    payload = random.Random(7).randbytes(PAYLOAD_BYTES)
    ckpt = Checkpoint("blob", "blob.pt", "http://official.invalid/blob.pt", None, None, 1,
                      "mobile_sam", 0.3, git_sha1=_git_sha1(payload), source="test")
    (server.root / ckpt.filename).write_bytes(payload)
    server.corrupt = corrupt
    registry = {"blob": ckpt}
    if corrupt:
        with pytest.raises(RuntimeError, match="checksum mismatch for blob.pt") as info:
            weights.download("blob", mirror=server.url, registry=registry, progress=False)
        assert ckpt.git_sha1 in str(info.value)
        assert list(home.iterdir()) == []  # nothing under the final name, no part left
        return
    path = weights.download("blob", mirror=server.url, registry=registry, progress=False)
    assert path == home / "blob.pt" and path.read_bytes() == payload
    assert weights.cached_path("blob", registry=registry) == path  # no size to compare
    result = weights.verify(path, registry=registry)
    assert result.ok and result.matches == ckpt and "git blob id" in result.message
    path.write_bytes(payload[:-1])  # damaged in the cache: verify says so, download refetches
    result = weights.verify(path, registry=registry)
    assert not result.ok and "corrupt or another file" in result.message
    again = weights.download("blob", mirror=server.url, registry=registry, progress=False)
    assert again.read_bytes() == payload


def test_a_checkpoint_without_published_checksum(home: Path, server: ServerState) -> None:
    payload = b"sam 2.1 weights" * 1000
    ckpt = Checkpoint("s2", "s2.pt", "http://official.invalid/s2.pt", None, None, 1,
                      "sam2.1", 0.015, source="test")
    (server.root / "s2.pt").write_bytes(payload)
    path = weights.download("s2", mirror=server.url, registry={"s2": ckpt}, progress=False)
    assert path.read_bytes() == payload
    result = weights.verify(path, registry={"s2": ckpt})
    assert result.ok and result.matches is None and "no published checksum" in result.message


def test_best_cached_follows_the_order_it_is_given(home: Path) -> None:
    registry = _sized_registry()
    home.mkdir(parents=True)
    for name, size in (("small", 100), ("big", 300)):
        (home / f"sam_{name}_000000.pth").write_bytes(bytes(size))
    assert weights.best_cached(registry=registry) == registry["big"]
    assert weights.best_cached(registry=registry, order=("mid", "small", "big")) == \
        registry["small"]
    assert weights.best_cached(registry=registry, order=("mid",)) is None
