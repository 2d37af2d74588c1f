"""facecodec.editing: pose and emotion edits of FrameParams in a call (docs/editing.md)."""

from facecodec.editing.editor import EditConfig, Editor, edit_stream
from facecodec.editing.emotion import Emotion, EmotionDirections, EmotionEdit, EmotionEditor
from facecodec.editing.pose import HeadPose, PoseEdit, PoseEditor, PoseMode

__all__ = [
    "EditConfig",
    "Editor",
    "Emotion",
    "EmotionDirections",
    "EmotionEdit",
    "EmotionEditor",
    "HeadPose",
    "PoseEdit",
    "PoseEditor",
    "PoseMode",
    "edit_stream",
]
