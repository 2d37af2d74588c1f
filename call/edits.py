"""The seam where pose and emotion edits plug into a call: on the sender between the prior and
the encoder, on the receiver between concealment and rendering. ``facecodec.editing.Editor``
fits it (docs/editing.md)."""

from __future__ import annotations

from typing import Protocol

from facecodec.types import FrameParams, Keyframe


class ParamsEditor(Protocol):
    def new_keyframe(self, keyframe: Keyframe) -> None:
        """A new keyframe starts (the crop may have moved); ValueError for a foreign one."""

    def __call__(self, params: FrameParams, expression_dims: int) -> FrameParams:
        """One frame's parameters, edited; ``expression_dims`` is how many leading code dims
        the receiver will see."""
