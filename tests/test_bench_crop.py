"""The benchmark crops inputs of any size the way the sender does."""

from __future__ import annotations

import cv2
import numpy as np
from shared_data import DATA_DIR

from facecodec.benchmark.clips import read_video
from facecodec.benchmark.face_crop import SenderFaceCrop
from facecodec.benchmark.metrics.pixels import psnr

CLIP = DATA_DIR / "train" / "obama__000.mp4"


def test_training_style_crops_pass_unchanged_and_wide_frames_are_cut_around_the_face():
    frames = read_video(CLIP, max_frames=3)[0]
    crop = SenderFaceCrop()
    assert np.array_equal(crop(frames), frames)
    wide = np.full((3, 360, 640, 3), 40, np.uint8)  # the face at a quarter of its size
    for i, frame in enumerate(frames):
        wide[i, 100:228, 300:428] = cv2.resize(frame, (128, 128), interpolation=cv2.INTER_AREA)
    box = crop.first_box(wide)
    assert abs(box.x - 300) <= 6 and abs(box.y - 100) <= 6 and abs(box.side - 128) <= 8
    assert crop(wide).shape == frames.shape
    assert psnr(frames, crop(wide)).mean() > 22  # the same face back, at half the detail
