"""Command-line flags of the edits, for ``facecodec send``, ``receive`` and ``call``:
``add_edit_arguments(parser)`` declares them, ``edit_config(args)`` reads them back."""

from __future__ import annotations

import argparse

from facecodec.editing.editor import EditConfig
from facecodec.editing.emotion import DEFAULT_STRENGTH, Emotion, EmotionEdit
from facecodec.editing.pose import PoseEdit, PoseMode


def _fraction(closed: bool) -> type:
    """argparse type: a float in [0, 1] (closed) or [0, 1)."""

    def parse(text: str) -> float:
        value = float(text)
        if not (0.0 <= value <= 1.0 if closed else 0.0 <= value < 1.0):
            bound = "1]" if closed else "1)"
            raise argparse.ArgumentTypeError(f"{text} is not in [0, {bound}")
        return value

    return parse


def add_edit_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare --pose, --pose-damping, --pitch/--yaw/--roll-offset, --emotion and
    --emotion-strength in their own help group."""
    group = parser.add_argument_group("editing", "pose and emotion edits (docs/editing.md)")
    group.add_argument(
        "--pose",
        choices=[m.value for m in PoseMode],
        default=PoseMode.FOLLOW.value,
        help="follow the driver's head, lock it (first frame's pose) or make it face the camera",
    )
    group.add_argument(
        "--pose-damping",
        type=_fraction(closed=False),
        default=0.0,
        metavar="F",
        help="smooth head motion: share of the previous pose kept per frame, in [0, 1)",
    )
    for axis in ("pitch", "yaw", "roll"):
        group.add_argument(
            f"--{axis}-offset",
            type=float,
            default=0.0,
            metavar="DEG",
            help=f"add a fixed {axis} to the head, in degrees",
        )
    group.add_argument(
        "--emotion",
        choices=[e.value for e in Emotion],
        default=None,
        help="move the expression towards this emotion (the lips still follow the driver)",
    )
    group.add_argument(
        "--emotion-strength",
        type=_fraction(closed=True),
        default=DEFAULT_STRENGTH,
        metavar="S",
        help=f"how far towards --emotion, in [0, 1] (default {DEFAULT_STRENGTH})",
    )


def edit_config(args: argparse.Namespace) -> EditConfig:
    """The EditConfig the flags of ``add_edit_arguments`` ask for."""
    pose = PoseEdit(
        mode=PoseMode(args.pose),
        damping=args.pose_damping,
        offset_deg=(args.pitch_offset, args.yaw_offset, args.roll_offset),
    )
    emotion = (
        None if args.emotion is None else EmotionEdit(Emotion(args.emotion), args.emotion_strength)
    )
    return EditConfig(pose, emotion)
