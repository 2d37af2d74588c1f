"""What every method in a benchmark run implements, and what it hands back.

A method codes the driving frames of a clip (with a source frame as its keyframe where it
uses one) at one operating point and returns the frames the receiving side shows, every
message it sent, and its time. Bytes are counted from the messages (``rates.py``), never taken
from a method's own summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

import numpy as np

from facecodec.codec import MessageType, parse_message


class Mode(StrEnum):
    RECONSTRUCTION = "reconstruction"
    """Source = first frame of a clip; drive with the rest; the clip is the ground truth."""
    REENACTMENT = "reenactment"
    """Source from one identity, driver from another; no ground truth frames."""


class MessageKind(StrEnum):
    KEYFRAME = "keyframe"
    """A source image / intra frame (reliable channel in a call)."""
    FRAMES = "frames"
    """Per-frame data (the unreliable frames channel)."""


@dataclass(frozen=True)
class Message:
    kind: MessageKind
    payload_bytes: int
    """Bytes of the message as the method produced it (without transport framing)."""


@dataclass(frozen=True)
class Point:
    """One operating point of a method in a run."""

    label: str
    """Stable name in results and on resumption, e.g. 'lowest', '2kbps', 'k8-e16'."""
    target_bps: int | None
    """The payload bit rate asked for; None for a point defined otherwise (e.g. 'lowest')."""


@dataclass
class MethodInput:
    source: np.ndarray
    """(S, S, 3) uint8 RGB keyframe image."""
    driving: np.ndarray
    """(N, S, S, 3) uint8 RGB frames to code and redraw."""
    fps: float
    point: Point
    keyframe_interval: int | None
    """Refresh the keyframe from the driving frame every this many frames (as JVET AHG16's
    common software does every 32); None: the call's own mode, keyframe at the start only."""
    mode: Mode = Mode.RECONSTRUCTION
    """Reconstruction: ``source`` is the frame before ``driving`` in the same clip."""


@dataclass
class MethodResult:
    frames: np.ndarray
    """(N, S, S, 3) uint8 RGB frames shown at the receiver, one per driving frame."""
    messages: list[Message]
    """Every message sent, keyframes included, in order."""
    sender_ms: float
    """Sender time for the whole clip (capture-side analysis and encoding), in ms."""
    receiver_ms: float
    """Receiver time for the whole clip (decoding and drawing), in ms."""
    receiver_device: str
    """Where the receiver ran, e.g. 'cpu' or 'cuda:0 (NVIDIA H100)'."""


@dataclass
class Bitstream:
    """What a neural method's sender produced for one job: everything its receiver needs, so
    that the receiver can run elsewhere (``facecodec bench --stage render``)."""

    messages: list[bytes]
    """The codec's messages in the order sent (a stream file's records)."""
    frames: int
    """Driving frames to show (sequence numbers 1..frames; the source is frame 0)."""
    size: int
    """Side of the benchmark frames."""
    fps: float
    sender_ms: float
    boxes: dict[int, tuple[int, int, int]]
    """Where each frame's picture sits in the benchmark frame (x, y, side), by seq: the
    sender's view, the keyframe's crop; none for a method that draws whole frames."""


@dataclass
class Rendering:
    frames: np.ndarray
    """(N, S, S, 3) uint8 RGB frames shown at the receiver, one per driving frame."""
    receiver_ms: float
    receiver_device: str


class Renderer(Protocol):
    """A neural method's receiver, which needs only the bitstream (and torch)."""

    def render(self, bitstream: Bitstream) -> Rendering: ...


class Method(Protocol):
    """A codec under test."""

    name: str
    """Stable name in results, e.g. 'h264', 'facecodec', 'baseline'."""
    modes: frozenset[Mode]

    def unavailable(self) -> str | None:
        """Why this method cannot run here (missing weights, encoder, ...), or None."""
        ...

    def points(self, targets_bps: Sequence[int]) -> list[Point]:
        """The operating points to run for the run's target bit rates."""
        ...

    def run(self, job: MethodInput) -> MethodResult:
        """Code ``job.driving`` at ``job.point`` and draw it at the receiver."""
        ...


def counted_messages(sent: list[bytes]) -> list[Message]:
    """A codec bitstream's keyframes and frames messages as the run counts them (control
    messages are not payload)."""
    messages = []
    for data in sent:
        kind = parse_message(data)
        if kind == MessageType.KEYFRAME:
            messages.append(Message(MessageKind.KEYFRAME, len(data)))
        elif kind != MessageType.CONTROL:
            messages.append(Message(MessageKind.FRAMES, len(data)))
    return messages


def target_label(bps: int) -> str:
    """'2kbps', '500bps', '1.5kbps': a target as a person writes it."""
    if bps >= 1000:
        return f"{bps / 1000:g}kbps"
    return f"{bps}bps"


@runtime_checkable
class NeuralMethod(Method, Protocol):
    """A method whose receiver needs a GPU: its sender and receiver run apart in a staged run
    (``run`` is ``encode`` then ``renderer.render``)."""

    renderer: Renderer

    def encode(self, job: MethodInput) -> Bitstream:
        """Code ``job.driving`` at ``job.point``: the bitstream for ``renderer``."""
        ...


def run_neural(method: NeuralMethod, job: MethodInput) -> MethodResult:
    """``Method.run`` of a ``NeuralMethod``: its sender, then its receiver, in this process."""
    bitstream = method.encode(job)
    shown = method.renderer.render(bitstream)
    messages = counted_messages(bitstream.messages)
    return MethodResult(
        shown.frames, messages, bitstream.sender_ms, shown.receiver_ms, shown.receiver_device
    )
