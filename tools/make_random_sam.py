"""Save a SAM checkpoint with random weights (official real weights cannot be downloaded here).

The model is built from ``segment_anything``'s own modules by
:func:`samvideo.segmenters.sam.build_sam`, seeded, and saved as a bare state dict with
``torch.save(model.state_dict())`` -- the format of Meta's checkpoints -- so it loads
through the very path real checkpoints take. A random vit_b costs what the real one
costs, so it serves benchmarks; ``tiny`` keeps SAM's 1024-pixel input, 64x64 embedding,
prompt encoder and mask decoder (the real pipeline) with a 2-block, 96-wide encoder.

SAM zero-initialises the encoder's absolute and relative position tables; here they are
random too, so that tests of the attention code exercise the relative-position term.

Usage::

    python tools/make_random_sam.py --arch tiny -o /tmp/sam_tiny.pth [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

try:
    from samvideo.segmenters.sam import OFFICIAL_ARCHS, SamArch, build_sam
except ImportError:  # run from a checkout without ``pip install -e .``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from samvideo.segmenters.sam import OFFICIAL_ARCHS, SamArch, build_sam

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(ARCHS), default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, required=True, help="checkpoint to write")
    args = parser.parse_args(argv)
    path = save_random_sam(args.output, args.arch, seed=args.seed)
    size_mb = path.stat().st_size / 1e6
    print(f"wrote {path} ({args.arch}, seed {args.seed}, {size_mb:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
