"""A recorded stream drawn as a receiver in a call shows it: the call's ``ReceiveSession``
replays it into a ``RenderStage``, whose outputs get the drawn frames. One set-up for
``facecodec decode``, the benchmark's receiver and the training's validation renders."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from facecodec.receiver.receiver import Receiver

from .receive_session import ReceiveSession
from .render import RenderConfig, RenderOutput, RenderStage


@contextmanager
def replaying(
    receiver: Receiver, outputs: Sequence[RenderOutput], config: RenderConfig | None = None
) -> Iterator[ReceiveSession]:
    """A receiving session with no link whose frames ``receiver`` draws into ``outputs``;
    ``session.replay(records, fps)`` inside the block, everything drawn once it ends."""
    stage = RenderStage(config or RenderConfig(), receiver, list(outputs))
    try:
        yield ReceiveSession(None, stage, face_model=receiver.face_model)
    finally:
        stage.close()
