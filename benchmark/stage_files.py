"""What the stages of a staged ``facecodec bench`` hand each other, one folder per (mode, clip,
method, point) in the run folder (docs/benchmarks.md, "Stages")::

    DIR/streams/<key>/sent.json    the sender's side: message kinds and sizes, sender time,
                                   frames, size, fps, crop boxes      (encode stage, written last)
    DIR/streams/<key>/stream.fcs   a neural method's bitstream, as a stream file (encode stage)
    DIR/streams/<key>/frames.mkv   the frames shown that are scored (every --frame-stride-th),
                                   lossless (FFV1): a classical codec's decodes (encode stage)
                                   or a neural receiver's (render stage)
    DIR/streams/<key>/shown.json   receiver time and device (written after frames.mkv)

A file that exists is complete (each is written under another name, then renamed), so every
stage resumes where it stopped. Imports nothing the GPU stage lacks (PyAV only to read frames,
in the score stage).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from facecodec.codec import StreamReader, StreamWriter
from facecodec.receiver.output import open_video

from .methods import Bitstream, Message, MessageKind, Rendering

STREAMS = "streams"


class Stage(StrEnum):
    ENCODE = "encode"
    """CPU: crops, senders, classical codecs and their decodes."""
    RENDER = "render"
    """GPU: the neural receivers (render_stage.py)."""
    SCORE = "score"
    """CPU: metrics, tables, plots."""


@dataclass(frozen=True)
class SentRecord:
    """The sender's side of one entry, as the score stage needs it."""

    method: str
    frames: int
    size: int
    fps: float
    sender_ms: float
    messages: list[Message]
    boxes: dict[int, tuple[int, int, int]]
    frame_stride: int = 1
    """Only every n-th shown frame comes back (the frames that are scored)."""

    def to_json(self) -> dict:
        messages = [[m.kind.value, m.payload_bytes] for m in self.messages]
        return {**asdict(self), "messages": messages}

    @classmethod
    def from_json(cls, data: dict) -> SentRecord:
        messages = [Message(MessageKind(kind), size) for kind, size in data["messages"]]
        boxes = {int(seq): (x, y, side) for seq, (x, y, side) in data["boxes"].items()}
        return cls(**{**data, "messages": messages, "boxes": boxes})


class StageFiles:
    """The stage files of one entry (see the module docstring)."""

    def __init__(self, directory: Path, key: str) -> None:
        self.folder = directory / STREAMS / key
        self.sent = self.folder / "sent.json"
        self.stream = self.folder / "stream.fcs"
        self.frames = self.folder / "frames.mkv"
        self.shown = self.folder / "shown.json"

    def save_sent(self, record: SentRecord, bitstream: list[bytes] | None = None) -> None:
        """The sender's side; ``bitstream`` for a method whose receiver runs in the render
        stage."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if bitstream is not None:
            with _replacing(self.stream) as tmp, open(tmp, "wb") as file:
                writer = StreamWriter(file, record.fps)
                for message in bitstream:
                    writer.write(message)
        with _replacing(self.sent) as tmp:
            tmp.write_text(json.dumps(record.to_json()))

    def load_sent(self) -> SentRecord:
        return SentRecord.from_json(json.loads(self.sent.read_text()))

    def load_bitstream(self) -> Bitstream:
        record = self.load_sent()
        with open(self.stream, "rb") as file:
            messages = list(StreamReader(file))
        return Bitstream(
            messages, record.frames, record.size, record.fps, record.sender_ms, record.boxes
        )

    def save_shown(self, rendering: Rendering, fps: float, stride: int = 1) -> None:
        """Every ``stride``-th of the frames shown (the scored ones), and the receiver's
        time."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with _replacing(self.frames) as tmp:
            video = open_video(tmp, fps / stride)
            for i, image in enumerate(rendering.frames[::stride]):
                video.write(image, 1000 * i * stride / fps)
            video.close()
        shown = {"receiver_ms": rendering.receiver_ms, "device": rendering.receiver_device}
        with _replacing(self.shown) as tmp:
            tmp.write_text(json.dumps(shown))

    def load_shown(self) -> Rendering:
        import av  # the score stage only

        with av.open(str(self.frames)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        shown = json.loads(self.shown.read_text())
        return Rendering(np.stack(frames), shown["receiver_ms"], shown["device"])


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (the same suffix, so that writers pick the same
    format), moved onto ``path`` when the block ends without an exception."""
    tmp = path.with_name(f".partial-{path.name}")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
