"""The registry of every model family's official checkpoints (:data:`CHECKPOINTS`): name,
official URL, size and the publisher's checksum where there is one, and where each of
these came from (:attr:`Checkpoint.source`). :mod:`samvideo.weights` downloads, caches
and verifies them; this module only lists them (no I/O, no torch).
"""

from __future__ import annotations

from dataclasses import dataclass

SAM_BASE_URL = "https://dl.fbaipublicfiles.com/segment_anything/"
"""Base URL of Meta's official SAM (1) checkpoints."""

SAM2_BASE_URL = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"
"""Base URL of Meta's official SAM 2.1 checkpoints (released 2024-09-28)."""

MOBILE_SAM_URL = "https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt"
"""MobileSAM's official checkpoint, kept in its authors' repository."""


@dataclass(frozen=True)
class Checkpoint:
    """One official checkpoint file.

    Attributes:
        name: registry key and ``--model`` name (``"vit_b"``, ``"sam2.1_hiera_tiny"``,
            ``"mobile_sam"``).
        filename: file name in the cache folder and on the server.
        url: official download URL.
        md5: full MD5 of the file (32 lowercase hex digits), or None where the publisher
            gives none.
        size_bytes: exact file size in bytes, or None where the publisher gives none.
        params_m: approximate number of model parameters, in millions.
        family: ``"sam"``, ``"sam2.1"`` or ``"mobile_sam"``.
        approx_mb: the file's size in MB (10^6 bytes), exact or as published, for people.
        git_sha1: the file's git blob id in the publisher's repository (SHA-1 of
            ``b"blob <size>\\0" + data``), or None.
        source: where the URL, the size and the checksum come from.
    """

    name: str
    filename: str
    url: str
    md5: str | None
    size_bytes: int | None
    params_m: int
    family: str = "sam"
    approx_mb: float | None = None
    git_sha1: str | None = None
    source: str = ""

    @property
    def megabytes(self) -> float:
        """The size in MB, exact where known."""
        if self.size_bytes is not None:
            return self.size_bytes / 1e6
        return float(self.approx_mb or 0.0)

    @property
    def checksum(self) -> str | None:
        """The publisher's checksum as ``"md5:<hex>"`` / ``"git-sha1:<hex>"``, or None."""
        if self.md5:
            return f"md5:{self.md5}"
        return f"git-sha1:{self.git_sha1}" if self.git_sha1 else None


_SAM_SOURCE = ("segment-anything README (URLs); MD5 and size of the files as Meta serves "
               "them (each file name carries its MD5's first six digits)")
_SAM2_SOURCE = ("facebookresearch/sam2: checkpoints/download_ckpts.sh (URL), README "
                "(parameters; the size is 4 bytes a parameter); Meta publishes no checksum")
_MOBILE_SOURCE = ("ChaoningZhang/MobileSAM README (URL, 38.8 MB); checksum: the git blob id "
                  "of weights/mobile_sam.pt in that repository")


def _sam(name: str, filename: str, md5: str, size_bytes: int, params_m: int) -> Checkpoint:
    return Checkpoint(name, filename, SAM_BASE_URL + filename, md5, size_bytes, params_m,
                      source=_SAM_SOURCE)


def _sam2(size: str, params_m: float) -> Checkpoint:
    name = f"sam2.1_hiera_{size}"
    return Checkpoint(name, f"{name}.pt", f"{SAM2_BASE_URL}{name}.pt", None, None,
                      round(params_m), "sam2.1", round(params_m * 4, 1), source=_SAM2_SOURCE)


CHECKPOINTS: dict[str, Checkpoint] = {
    c.name: c
    for c in (
        # name, filename, md5, size in bytes, millions of parameters
        _sam("vit_h", "sam_vit_h_4b8939.pth", "4b8939a88964f0f4ff5f5b2642c598a6", 2564550879, 636),
        _sam("vit_l", "sam_vit_l_0b3195.pth", "0b3195507c641ddb6910d2bb5adee89c", 1249524607, 308),
        _sam("vit_b", "sam_vit_b_01ec64.pth", "01ec64d29a2fca3f0661936605ae66f8", 375042383, 91),
        _sam2("large", 224.4),
        _sam2("base_plus", 80.8),
        _sam2("small", 46.0),
        _sam2("tiny", 38.9),
        Checkpoint("mobile_sam", "mobile_sam.pt", MOBILE_SAM_URL, None, None, 10, "mobile_sam",
                   38.8, git_sha1="7ef2d090979fd9853adf17b7a99c8b94a1c5a6a7",
                   source=_MOBILE_SOURCE),
    )
}
"""Every official checkpoint by name: SAM (largest first), SAM 2.1 (largest first),
MobileSAM."""
