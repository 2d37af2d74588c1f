"""The edits of a call in one object: ``EditConfig`` says what to do, ``Editor`` does it to the
FrameParams of one stream, pose first, then emotion (docs/editing.md)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from facecodec.editing.emotion import EmotionDirections, EmotionEdit, EmotionEditor
from facecodec.editing.motion import HeadPose
from facecodec.editing.pose import PoseEdit, PoseEditor
from facecodec.sender.face_model import FaceModel
from facecodec.types import MAX_EXPRESSION_DIMS, FrameParams, Keyframe


@dataclass(frozen=True)
class EditConfig:
    pose: PoseEdit = field(default_factory=PoseEdit)
    emotion: EmotionEdit | None = None
    """None: no emotion edit."""

    @property
    def active(self) -> bool:
        """Whether the edits change anything (if not, no Editor is needed)."""
        return self.pose.active or (self.emotion is not None and self.emotion.strength > 0)


class Editor:
    """Edits the frames of one stream, in order, on the sender (after the face prior, before the
    encoder) or on the receiver (after the decoder, before rendering).

    Call ``new_keyframe`` with every keyframe: it refuses a stream of another face model and
    restarts the pose state, since a new keyframe may come with a moved crop; a locked head
    then holds the keyframe's pose.
    """

    def __init__(
        self,
        config: EditConfig,
        model: FaceModel | None = None,
        directions: EmotionDirections | None = None,
    ) -> None:
        self.config = config
        self.model = model or FaceModel.load()
        self.pose = PoseEditor(config.pose, self.model)
        self.emotion = (
            None
            if config.emotion is None
            else EmotionEditor(config.emotion, self.model, directions)
        )

    def new_keyframe(self, keyframe: Keyframe) -> None:
        if keyframe.face_model != self.model.version:
            raise ValueError(
                f"edits work on codes of face model {self.model.version}, the stream's keyframe "
                f"names {keyframe.face_model}"
            )
        self.pose.reset(HeadPose.of(keyframe.params))

    def __call__(
        self, params: FrameParams, expression_dims: int = MAX_EXPRESSION_DIMS
    ) -> FrameParams:
        """One frame edited. ``expression_dims``: how many leading code dims the receiver will
        see (on the sender the operating point's; on the receiver all 50)."""
        params = self.pose(params)
        if self.emotion is not None:
            params = self.emotion(params, expression_dims)
        return params

    def apply(
        self, frames: Iterable[FrameParams], expression_dims: int = MAX_EXPRESSION_DIMS
    ) -> Iterator[FrameParams]:
        for params in frames:
            yield self(params, expression_dims)


def edit_stream(
    frames: Iterable[FrameParams], config: EditConfig, model: FaceModel | None = None
) -> list[FrameParams]:
    """The frames of one stream (one keyframe), all edited, for a receiver that sees 50 dims."""
    return list(Editor(config, model).apply(frames))
