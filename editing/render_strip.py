"""Render the figure of docs/editing.md: real frames of the bundled demo clip redrawn by the
shipped receiver weights on CPU, with and without edits.

    python -m facecodec.editing.render_strip [--out docs/figures/editing_strip.png]

Source: the clip's first frame (the keyframe). Rows: three driving frames of the same clip (the
largest head turn from the source, the widest and the most closed mouth). Columns: source,
driver, plain output, then the output with one edit each (head locked to the source's pose,
frontal, yaw +20 degrees, +happy, +sad, +surprised at full strength). Only the demo clip may be
shown in the repository (facecodec/samples/README.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from facecodec.editing.clip_fit import fit_person
from facecodec.editing.editor import EditConfig, Editor
from facecodec.editing.emotion import Emotion, EmotionEdit
from facecodec.editing.motion import HeadPose
from facecodec.editing.mouth import lip_gap
from facecodec.editing.pose import PoseEdit, PoseMode
from facecodec.receiver.receiver import Receiver
from facecodec.sender.face_model import FaceModel
from facecodec.training.data import decode_clip
from facecodec.types import FrameParams, Keyframe

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "facecodec" / "samples" / "menendez_8s_256.mp4"
DEFAULT_OUT = REPO / "docs" / "figures" / "editing_strip.png"
TILE_PX = 160
HEADER_PX = 22


def edits(source: FrameParams) -> dict[str, EditConfig]:
    """Column title -> the edit it shows."""
    full = 1.0
    return {
        "head locked": EditConfig(PoseEdit(PoseMode.LOCK, reference=HeadPose.of(source))),
        "frontal": EditConfig(PoseEdit(PoseMode.FRONTAL)),
        "yaw +20": EditConfig(PoseEdit(offset_deg=(0.0, 20.0, 0.0))),
        "+happy": EditConfig(emotion=EmotionEdit(Emotion.HAPPY, full)),
        "+sad": EditConfig(emotion=EmotionEdit(Emotion.SAD, full)),
        "+surprised": EditConfig(emotion=EmotionEdit(Emotion.SURPRISED, full)),
    }


def pick_drivers(model: FaceModel, identity: np.ndarray, frames: list[FrameParams]) -> list[int]:
    """Indices into ``frames``: largest head turn from the first frame, widest mouth, most
    closed mouth."""
    turn = [np.abs(f.rotation - frames[0].rotation).sum() for f in frames]
    gap = [lip_gap(model.landmarks(identity, f)) for f in frames]
    return [int(np.argmax(turn)), int(np.argmax(gap)), int(np.argmin(gap))]


def tile(image: np.ndarray, title: str) -> np.ndarray:
    """(S, S, 3) RGB -> (HEADER_PX + TILE_PX, TILE_PX, 3) with the title above it."""
    small = cv2.resize(image, (TILE_PX, TILE_PX), interpolation=cv2.INTER_AREA)
    header = np.full((HEADER_PX, TILE_PX, 3), 255, np.uint8)
    cv2.putText(header, title, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([header, small])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # a shared machine; a handful of frames

    model = FaceModel.load()
    video = decode_clip(DEMO)
    fitted = fit_person(model, [DEMO])
    frames = fitted.clips[0]
    source = frames[0]
    receiver = Receiver(device="cpu", face_model=model)
    receiver.set_keyframe(Keyframe(video[source.seq], fitted.identity, source, model.version))
    columns = edits(source)
    rows = []
    for i in pick_drivers(model, fitted.identity, frames):
        driver = frames[i]
        params = [driver] + [Editor(c, model)(driver) for c in columns.values()]
        outputs = receiver.render(params)
        titles = ["source", f"driver {driver.seq}", "output", *columns]
        images = [video[source.seq], video[driver.seq], *outputs]
        rows.append(np.concatenate([tile(im, t) for im, t in zip(images, titles, strict=True)], 1))
        print(f"row: driver frame {driver.seq}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    strip = cv2.cvtColor(np.concatenate(rows), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(args.out), strip, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
