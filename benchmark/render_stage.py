"""``facecodec bench --stage render``: the neural receivers of a staged run, on the machine
with the GPU. Reads each entry's bitstream from the run folder (stage_files.py), renders it
with the method's receiver and writes the frames shown and the receiver's time back; entries
already rendered are skipped. Needs only what ``facecodec decode`` needs (torch, safetensors,
OpenCV, numpy): no MediaPipe, PyAV, aiortc or dlib, no clips and no metrics."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from .baseline_render import BaselineRenderer
from .facecodec_render import FacecodecRenderer
from .methods import Renderer
from .stage_files import STREAMS, StageFiles

RENDERERS: dict[str, Callable[[str], Renderer]] = {
    "facecodec": FacecodecRenderer,
    "facecodec-small": functools.partial(FacecodecRenderer, model="small"),
    "baseline": BaselineRenderer,
}
"""Receivers by method name (the names benchmark/registry.py gives the neural methods)."""


def render_run(
    directory: Path,
    device: str,
    log: Callable[[str], None] = lambda text: print(text, file=sys.stderr),
) -> int:
    """Render every entry of ``directory`` that has a bitstream and no frames yet; returns how
    many were rendered."""
    pending = [
        files
        for files in (StageFiles(directory, p.name) for p in _entries(directory))
        if files.sent.exists() and files.stream.exists() and not files.shown.exists()
    ]
    renderers: dict[str, Renderer] = {}
    for files in tqdm(pending, desc="render", unit="run"):
        sent = files.load_sent()
        method = sent.method
        if method not in RENDERERS:
            raise ValueError(f"{files.folder}: no receiver for method {method!r}")
        renderer = renderers.setdefault(method, RENDERERS[method](device))
        bitstream = files.load_bitstream()
        rendering = renderer.render(bitstream)
        files.save_shown(rendering, bitstream.fps, sent.frame_stride)
        per_frame = rendering.receiver_ms / max(bitstream.frames, 1)
        tqdm.write(f"{files.folder.name}: {per_frame:.1f} ms a frame", file=sys.stderr)
    log(f"bench: rendered {len(pending)} entries in {directory}")
    return len(pending)


def _entries(directory: Path) -> list[Path]:
    folder = directory / STREAMS
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no encoded entries (run --stage encode first)")
    return sorted(p for p in folder.iterdir() if p.is_dir())
