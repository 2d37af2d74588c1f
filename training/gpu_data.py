"""The training data's trip to a bare GPU machine, in pieces that fit beside the repository.

A device call carries the working tree (the repository, with the training state) and at most
64 MiB in all, so the data (clips, per-frame prior parameters, VGG16, validation streams) is
packed here into one tar split into pieces that each fit beside the tree; each call carries
one piece, which waits outside the tree on the machine (``stash``) until the last one has come
(``unpack``, called by training/run_chunk.sh). docs/training.md gives the device calls.

    python -m facecodec.training.gpu_data pack [--validation .gpu-validation]   # here
    python3 -m facecodec.training.gpu_data stash                                # there
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import tarfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PACK = Path(".gpu-pack")
"""Where the pieces are written here and carried from (ignored by git)."""
DATA = Path(".gpu")
"""Where the data is unpacked on the GPU machine (ignored by git)."""
WAITING = Path("/tmp/facecodec-pack")
"""Where carried pieces wait on the GPU machine, outside the tree that each call replaces."""
CALL_BYTES = 64 * 2**20
MARGIN_BYTES = 2 * 2**20
"""Left free in each call for files the tree gains before the call (logs, records)."""
PIECE_NAME = "part-{:02d}-of-{:02d}"
HALF_PRECISION = frozenset({"rotation", "translation", "scale", "expression", "fit_error"})
"""Per-frame arrays stored as float16 (the training casts them to float32): 1e-4 rad of head
rotation and 5e-4 of an expression coefficient, far below the fits' own noise."""


def tree_bytes(repo: Path = REPO) -> int:
    """Bytes of what a device call sends of the tree: tracked and untracked-unignored files."""
    names = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=repo,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    paths = (repo / n.decode() for n in names if n)
    return sum(p.stat().st_size for p in paths if p.is_file())


def compact_params(path: Path) -> bytes:
    """The prior-params file with its per-frame floats in float16, as npz bytes."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k].astype(np.float16) if k in HALF_PRECISION else z[k] for k in z.files}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def write_tar(data: Path, params: Path, vgg: Path, validation: Path | None) -> bytes:
    """The data as one uncompressed tar (the clips are H.264 already) of the .gpu/ layout."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(data / "train", "train")
        tar.add(data / "train.tsv", "train.tsv")
        tar.add(vgg, "vgg16.safetensors")
        if validation is not None:
            tar.add(validation, "validation")
        packed = compact_params(params)
        info = tarfile.TarInfo("prior_params.npz")
        info.size = len(packed)
        tar.addfile(info, io.BytesIO(packed))
    return buffer.getvalue()


def pack(data: Path, params: Path, vgg: Path, validation: Path | None, piece_bytes: int) -> list:
    """Write the pieces into PACK (replacing earlier ones); returns their paths."""
    blob = write_tar(data, params, vgg, validation)
    count = -(-len(blob) // piece_bytes)
    PACK.mkdir(exist_ok=True)
    for old in PACK.glob("part-*"):
        old.unlink()
    pieces = []
    for i in range(count):
        pieces.append(PACK / PIECE_NAME.format(i, count))
        pieces[-1].write_bytes(blob[i * piece_bytes : (i + 1) * piece_bytes])
    return pieces


def stash() -> None:
    """On the GPU machine: move the pieces this call carried out of the tree."""
    WAITING.mkdir(parents=True, exist_ok=True)
    for piece in PACK.glob("part-*"):
        piece.rename(WAITING / piece.name)


def unpack() -> None:
    """On the GPU machine: once every piece has come, extract them into DATA."""
    stash()
    if (DATA / "prior_params.npz").exists():
        return
    pieces = sorted(WAITING.glob("part-*"))
    totals = {int(re.fullmatch(r"part-\d+-of-(\d+)", p.name).group(1)) for p in pieces}
    if len(totals) != 1 or len(pieces) != totals.pop():
        raise SystemExit(f"{len(pieces)} data pieces in {WAITING}: not a whole pack")
    blob = b"".join(p.read_bytes() for p in pieces)
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(DATA, filter="data")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=["pack", "stash", "unpack"])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--params", type=Path, default=REPO / ".cache" / "prior_params.npz")
    parser.add_argument(
        "--vgg",
        type=Path,
        default=REPO.parent / "shared" / "models" / "vgg16_imagenet_blocks1-4.fp16.safetensors",
    )
    parser.add_argument("--validation", type=Path, help="streams from validation_encode")
    args = parser.parse_args()
    if args.action != "pack":
        (stash if args.action == "stash" else unpack)()
        return
    piece_bytes = CALL_BYTES - tree_bytes() - MARGIN_BYTES
    pieces = pack(args.data, args.params, args.vgg, args.validation, piece_bytes)
    sizes = ", ".join(f"{p.name} {p.stat().st_size / 2**20:.1f} MiB" for p in pieces)
    print(f"{len(pieces)} pieces of at most {piece_bytes / 2**20:.1f} MiB: {sizes}")


if __name__ == "__main__":
    main()
