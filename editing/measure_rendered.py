"""Measure the emotion edits where they end up: in the frames the shipped receiver draws.

    python -m facecodec.editing.measure_rendered [--frames 25] [--strength 1.0]

The demo clip's first frame is the keyframe; every n-th frame drives the receiver (CPU) plainly
and with each of four emotion edits, both as shipped (mouth opening projected out) and with the
learned direction added as it is. MediaPipe then finds the face in every output and compares
the edited outputs with the plain ones, frame by frame: the inner-lip gap (its correlation over
the frames and the mean change, pixels of the 256 crop), and the brows' height above the eyes
and the mouth's width (mean change, pixels). Printed as a table for docs/editing.md.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import torch

from facecodec.editing.clip_fit import fit_person
from facecodec.editing.emotion import Emotion, EmotionDirections, EmotionEdit, EmotionEditor
from facecodec.editing.mouth import lip_gap
from facecodec.editing.render_strip import DEMO
from facecodec.receiver.receiver import Receiver
from facecodec.sender.face_model import FaceModel
from facecodec.sender.landmarks import FaceLandmarker
from facecodec.training.data import decode_clip
from facecodec.types import FrameParams, Keyframe

EMOTIONS = (Emotion.HAPPY, Emotion.SAD, Emotion.SURPRISED, Emotion.ANGRY)
BROWS = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)
EYES = (33, 133, 362, 263)
MOUTH_CORNERS = (61, 291)


def measures(images: np.ndarray) -> np.ndarray:
    """(B, S, S, 3) outputs -> (B, 3) lip gap, brow height above the eye corners, mouth width,
    in pixels (NaN where no face is found)."""
    out = np.full((len(images), 3), np.nan)
    with FaceLandmarker(video=False) as landmarker:
        for i, image in enumerate(images):
            pts = landmarker(image)
            if pts is not None:
                brow = pts[list(EYES), 1].mean() - pts[list(BROWS), 1].mean()
                width = np.linalg.norm(pts[MOUTH_CORNERS[1]] - pts[MOUTH_CORNERS[0]])
                out[i] = lip_gap(pts), brow, width
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--strength", type=float, default=1.0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # a shared machine

    model = FaceModel.load()
    video = decode_clip(DEMO)
    fitted = fit_person(model, [DEMO])
    frames = fitted.clips[0]
    receiver = Receiver(device="cpu", face_model=model)
    receiver.set_keyframe(Keyframe(video[0], fitted.identity, frames[0], model.version))
    drivers = frames[:: max(1, len(frames) // args.frames)][: args.frames]

    def rendered(params: list[FrameParams]) -> np.ndarray:
        return measures(
            np.concatenate([receiver.render(params[i : i + 5]) for i in range(0, len(params), 5)])
        )

    plain = rendered(drivers)
    directions = EmotionDirections.load().directions
    print(f"{len(drivers)} frames, strength {args.strength}; edited output vs plain output")
    print("emotion    edit       lip gap r  lip gap change  brow height change  mouth width change")
    for emotion in EMOTIONS:
        editor = EmotionEditor(EmotionEdit(emotion, args.strength), model)
        learned = args.strength * directions[emotion]
        for name, params in (
            ("shipped", [editor(f) for f in drivers]),
            ("as learned", [replace(f, expression=f.full_expression() + learned) for f in drivers]),
        ):
            edited = rendered(params)
            ok = ~np.isnan(edited).any(1) & ~np.isnan(plain).any(1)
            r = np.corrcoef(edited[ok, 0], plain[ok, 0])[0, 1]
            change = (edited[ok] - plain[ok]).mean(0)
            print(
                f"{emotion.value:10s} {name:10s} {r:8.3f}  {change[0]:+13.2f}  "
                f"{change[1]:+18.2f}  {change[2]:+18.2f}   ({ok.sum()} faces)"
            )


if __name__ == "__main__":
    main()
