"""Save a checkpoint of any family with random weights (official weights cannot be
downloaded here), built by each family's own code and saved in its official format, so
that it loads through the very path real checkpoints take:

* SAM (``vit_h`` / ``vit_l`` / ``vit_b``, and ``tiny`` for tests): ``segment_anything``'s
  modules (:func:`samvideo.segmenters.sam.build_sam`), a bare state dict. ``tiny`` keeps
  SAM's 1024-pixel input, 64x64 embedding, prompt encoder and mask decoder (the real
  pipeline) with a 2-block, 96-wide encoder. SAM zero-initialises the encoder's absolute
  and relative position tables; here they are random too, so that tests of the attention
  code exercise the relative-position term.
* SAM 2.1 (``sam2.1_hiera_tiny`` / ``small`` / ``base_plus`` / ``large``):
  ``sam2.build_sam.build_sam2`` from the config ``rf-sam-2`` ships, saved as
  ``{"model": state_dict}``; Hiera's zero-initialised position embeddings are made random.
* MobileSAM (``mobile_sam``): ``mobile_sam.build_sam.build_sam_vit_t``, a bare state dict;
  the batch-norm scales TinyViT zero-initialises (the last of each MBConv block) are set
  to 1, so that every block computes something.

Random weights cost what real ones cost, so they serve benchmarks.

Usage::

    python tools/make_random_sam.py --arch tiny -o /tmp/sam_tiny.pth [--seed 0]
    python tools/make_random_sam.py --arch mobile_sam -o /tmp/mobile_sam.pt
    python tools/make_random_sam.py --arch sam2.1_hiera_tiny -o /tmp/sam2.1_hiera_tiny.pt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

try:
    import samvideo  # noqa: F401
except ImportError:  # run from a checkout without ``pip install -e .``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from samvideo.segmenters.mobile_sam import build_mobile_sam  # noqa: E402
from samvideo.segmenters.sam import OFFICIAL_ARCHS, SamArch, build_sam  # noqa: E402
from samvideo.segmenters.sam2 import SAM2_ARCHS, build_sam2_model  # noqa: E402

#: Architectures this tool makes: the official three and a tiny one for tests.
ARCHS: dict[str, SamArch] = {
    **OFFICIAL_ARCHS,
    # 2 blocks (one windowed, one global), 96 wide, 2 heads of 48: runs in ~0.1 s per
    # frame on a CPU while going through every code path of the real encoder.
    "tiny": SamArch(embed_dim=96, depth=2, num_heads=2, global_attn_indexes=(1,)),
}


def random_sam(
    arch: str | SamArch = "tiny",
    *,
    seed: int = 0,  # fixed so tests and benchmarks see the same model every run
    pos_std: float = 0.1,  # position tables large enough to matter next to q . k
):
    """Build a SAM model with seeded random weights (eval mode, CPU, float32).

    Args:
        arch: a name of :data:`ARCHS` or a :class:`SamArch`.
        seed: seed of the initialisation (the global RNG state is left as it was).
        pos_std: standard deviation of the random position tables.

    Raises:
        ValueError: an unknown architecture name.
    """
    spec = ARCHS.get(arch) if isinstance(arch, str) else arch
    if spec is None:
        raise ValueError(f"arch {arch!r} is not one of {', '.join(ARCHS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_sam(spec)
        with torch.no_grad():
            encoder = model.image_encoder
            if encoder.pos_embed is not None:
                encoder.pos_embed.normal_(0.0, pos_std)
            for block in encoder.blocks:
                block.attn.rel_pos_h.normal_(0.0, pos_std)
                block.attn.rel_pos_w.normal_(0.0, pos_std)
    return model


def random_sam2(name: str = "sam2.1_hiera_tiny", *, seed: int = 0, pos_std: float = 0.1):
    """A SAM 2.1 model of ``name`` (:data:`SAM2_ARCHS`) with seeded random weights, built by
    ``sam2``'s own builder (eval mode, CPU, float32); the global RNG is left as it was."""
    if name not in SAM2_ARCHS:
        raise ValueError(f"SAM 2.1 model {name!r} is not one of {', '.join(SAM2_ARCHS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_sam2_model(SAM2_ARCHS[name])
        with torch.no_grad():
            model.image_encoder.trunk.pos_embed.normal_(0.0, pos_std)
            model.image_encoder.trunk.pos_embed_window.normal_(0.0, pos_std)
    return model


def random_mobile_sam(*, seed: int = 0):
    """MobileSAM with seeded random weights by ``mobile_sam``'s own builder (eval mode,
    CPU, float32), every batch-norm scale 1 (TinyViT zero-initialises some, which makes
    those blocks the identity); the global RNG is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_mobile_sam()
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.weight.fill_(1.0)
    return model


def save_random_checkpoint(
    path: str | Path,
    arch: str = "tiny",
    *,
    seed: int = 0,  # see random_sam
) -> Path:
    """Save a random model of any family (:data:`ALL_ARCHS`) in its official format
    (SAM 2.1: ``{"model": state_dict}``; SAM and MobileSAM: a bare state dict) to
    ``path`` (parents created); returns the path."""
    if arch in SAM2_ARCHS:
        data = {"model": random_sam2(arch, seed=seed).state_dict()}
    elif arch == "mobile_sam":
        data = random_mobile_sam(seed=seed).state_dict()
    elif arch in ARCHS:
        data = random_sam(arch, seed=seed).state_dict()
    else:
        raise ValueError(f"arch {arch!r} is not one of {', '.join(ALL_ARCHS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
    return path


def save_random_sam(
    path: str | Path,
    arch: str | SamArch = "tiny",
    *,
    seed: int = 0,  # see random_sam
) -> Path:
    """Save a random SAM's state dict to ``path`` (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(random_sam(arch, seed=seed).state_dict(), path)
    return path


#: Everything this tool makes: SAM's archs, the four SAM 2.1 models, MobileSAM.
ALL_ARCHS = (*ARCHS, *SAM2_ARCHS, "mobile_sam")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=ALL_ARCHS, default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, required=True, help="checkpoint to write")
    args = parser.parse_args(argv)
    path = save_random_checkpoint(args.output, args.arch, seed=args.seed)
    size_mb = path.stat().st_size / 1e6
    print(f"wrote {path} ({args.arch}, seed {args.seed}, {size_mb:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
