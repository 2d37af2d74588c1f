"""facecodec's receiver in the benchmark: the call's ``ReceiveSession`` replays the bitstream
(decoding, concealment) and its ``RenderStage`` draws with the shipped weights, as
``facecodec decode`` does; each image is put back where the sender's view (the keyframe's
crop) sits. Imports what ``facecodec decode`` imports and no more (the GPU stage of a staged
run)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import cv2
import numpy as np
import torch

from facecodec.call.render import RenderedFrame
from facecodec.call.replay import replaying
from facecodec.receiver.receiver import Receiver
from facecodec.sender.crop import CropBox

from .methods import Bitstream, Rendering

NO_KEYFRAME_GRAY = 128
"""What the receiver shows before its first frame (no face at the sender yet)."""


class FacecodecRenderer:
    def __init__(self, device: str = "cpu", model: str = "large") -> None:
        self.device = device
        self.model = model
        """The receiver's network: 'large' (the GPU model) or 'small' (the CPU model)."""
        self._receiver: Receiver | None = None

    def receiver(self) -> Receiver:
        """Loaded once, on first use."""
        if self._receiver is None:
            self._receiver = Receiver(device=self.device, model=self.model)
        return self._receiver

    def render(self, bitstream: Bitstream) -> Rendering:
        """The frames shown for seqs 1..``bitstream.frames``, each on the benchmark frame."""
        start = time.perf_counter()
        receiver = self.receiver()
        count, size = bitstream.frames, bitstream.size
        out = np.full((count, size, size, 3), NO_KEYFRAME_GRAY, np.uint8)

        def place(frame: RenderedFrame) -> None:
            if 1 <= frame.seq <= count:
                box = bitstream.boxes.get(frame.seq)
                out[frame.seq - 1] = place_crop(frame.image, box and CropBox(*box), size)

        with replaying(receiver, [place]) as session:
            session.replay(_records(bitstream.messages), bitstream.fps)
        receiver_ms = 1000 * (time.perf_counter() - start)
        return Rendering(out, receiver_ms, device_label(receiver.device))


def device_label(device: torch.device) -> str:
    """'cpu', or 'cuda:0 (NVIDIA H200)': where a receiver ran, for the tables."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def _records(messages: list[bytes]) -> Iterator[tuple[int, bytes]]:
    """(byte offset, message) as a stream file's records after its header, for errors that
    say where."""
    offset = 0
    for message in messages:
        yield offset, message
        offset += 4 + len(message)


def place_crop(image: np.ndarray, box: CropBox | None, size: int) -> np.ndarray:
    """The receiver's crop image put back where the sender's view sits in the (size x size)
    benchmark frame, so that it is scored against the pixels it shows."""
    if box is None or (box.x, box.y, box.side) == (0, 0, size):
        if image.shape[0] == size:
            return image
        return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    scale = box.side / image.shape[0]
    affine = np.array([[scale, 0, box.x], [0, scale, box.y]], np.float64)
    return cv2.warpAffine(
        image, affine, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
